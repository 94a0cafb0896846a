// Command sitewarden-runner is the site service: it runs a client's agents
// with a local model, executes their actions through sandboxed plugins, keeps
// the tamper-evident audit log, and syncs with the control plane.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/sitewarden/sitewarden/runner/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
