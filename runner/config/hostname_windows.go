package config

import "os"

// hostName is the computer name (NetBIOS name, COMPUTERNAME), which RMM
// tools and Active Directory show for the machine; the DNS host name when
// it is unset.
func hostName() (string, error) {
	if n := os.Getenv("COMPUTERNAME"); n != "" {
		return n, nil
	}
	return os.Hostname()
}
