// Command sitewarden is the control plane server and the supervisors' CLI.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/sitewarden/sitewarden/control-plane/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
