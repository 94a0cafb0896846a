// Command sitewarden-plugin-directory is the directory action plugin: account
// operations on OpenLDAP and Active Directory (see package ldapdir and
// docs/directory.md). The runner's plugin host starts it; run by hand it
// prints a hint and exits.
package main

import (
	"os"

	"github.com/sitewarden/sitewarden/plugins/directory/ldapdir"
	"github.com/sitewarden/sitewarden/plugins/sdk"
)

func main() { sdk.Serve(ldapdir.NewDefault(os.Stderr)) }
