//go:build !windows

package config

import (
	"fmt"
	"os"
)

// checkPrivate refuses a secrets file that others can read.
func checkPrivate(fi os.FileInfo) error {
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("mode %v lets others read it; run 'chmod 600' on it", fi.Mode().Perm())
	}
	return nil
}
