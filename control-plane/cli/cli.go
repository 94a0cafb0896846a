// Package cli is the sitewarden command line: the control plane server and
// the supervisors' commands. It parses arguments, wires the control plane's
// parts, and maps failures to exit codes.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/sitewarden/sitewarden/protocol"
)

// Version is the control plane's release version, set at build time with
// -ldflags "-X github.com/sitewarden/sitewarden/control-plane/cli.Version=...".
var Version = "dev"

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// Run executes the sitewarden command line with args (without the program
// name) and returns the process exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, new(usageError)):
		fmt.Fprintf(stderr, "sitewarden: %v\nRun 'sitewarden --help' for usage.\n", err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "sitewarden: %v\n", err)
		return exitError
	}
}

type usageError struct{ error }

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "sitewarden",
		Short:         "Sitewarden control plane and supervisors' CLI",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newVersionCmd(), newServerCmd(stderr), newScopeCmd(), newTokenCmd(), newAuditCmd(),
		newEscalationsCmd(), newApprovalsCmd(), newSitesCmd(), newGoalsCmd(), newSetupCmd(), newLoginCmd(), newSamplesCmd(), newReportCmd(), newNotifyCmd())
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the control plane and protocol versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "sitewarden %s (protocol %d, %s/%s)\n",
				Version, protocol.Version, runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
