// Command installer builds the site runner's packages: the MSI (wixl,
// signed with osslsigncode when SITEWARDEN_SIGN_CERT and SITEWARDEN_SIGN_KEY
// are set) and the .deb and .rpm (nfpm). 'make msi|deb|rpm VERSION=x.y.z'
// runs it; see docs/deploy.md.
package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/sitewarden/sitewarden/installer/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := cli.Run(ctx, os.Args[1:], os.Getenv, os.Stderr)
	stop()
	os.Exit(code)
}
