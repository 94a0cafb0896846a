package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sitewarden/sitewarden/protocol"
)

// ErrNoSiteName means a fleet token needs a site name and neither
// site_name nor the host name gives a valid one.
var ErrNoSiteName = errors.New("no usable site name")

// SiteNameForEnroll returns the site name a fleet token enrolls: site_name
// when set, else the machine's host name (Windows: the computer name)
// lowercased. The name must pass protocol.ValidName, the control plane's
// rule for site names.
func (c Config) SiteNameForEnroll() (string, error) {
	if c.SiteName != "" {
		if !protocol.ValidName(c.SiteName) {
			return "", fmt.Errorf("%w: site_name %q: %s", ErrNoSiteName, c.SiteName, protocol.NameRule)
		}
		return c.SiteName, nil
	}
	return siteNameFromHost(hostName)
}

// siteNameFromHost lowercases the name host returns and checks it.
func siteNameFromHost(host func() (string, error)) (string, error) {
	h, err := host()
	if err != nil {
		return "", fmt.Errorf("%w: site_name is empty and the host name is unknown (%v); set site_name in config.yaml (MSI property SITE_NAME)", ErrNoSiteName, err)
	}
	name := strings.ToLower(strings.TrimSpace(h))
	if !protocol.ValidName(name) {
		return "", fmt.Errorf("%w: site_name is empty and the host name %q is not a valid site name (%s); set site_name in config.yaml (MSI property SITE_NAME)", ErrNoSiteName, name, protocol.NameRule)
	}
	return name, nil
}
