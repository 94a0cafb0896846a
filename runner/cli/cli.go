// Package cli is the sitewarden-runner command line: it parses arguments,
// builds the runner's parts from its configuration, and maps failures to
// exit codes. It holds no logic of its own beyond that wiring.
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

// Version is the runner's release version, set at build time with
// -ldflags "-X github.com/sitewarden/sitewarden/runner/cli.Version=...".
var Version = "dev"

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// Run executes the runner command line with args (without the program
// name) and returns the process exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, new(usageError)):
		fmt.Fprintf(stderr, "sitewarden-runner: %v\nRun 'sitewarden-runner --help' for usage.\n", err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "sitewarden-runner: %v\n", err)
		return exitError
	}
}

type usageError struct{ error }

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "sitewarden-runner",
		Short:         "Sitewarden site runner: bounded, supervised agents at a client site",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newVersionCmd(), newRunCmd(stderr), newAuditCmd(stderr), newEnrollCmd(), newGoalCmd(), newConfigureCmd(), newPurgeCmd(), newScopeCmd(), newPluginsCmd())
	root.AddCommand(newServiceCmds(stderr)...)
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the runner and protocol versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "sitewarden-runner %s (protocol %d, %s/%s)\n",
				Version, protocol.Version, runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
