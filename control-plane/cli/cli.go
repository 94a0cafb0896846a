// Package cli is the sitewarden command line: the control plane server and
// the supervisors' commands. It parses arguments, wires the control plane's
// parts, and maps failures to exit codes.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"time"

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
	root.AddCommand(newVersionCmd(), newServerCmd(stderr))
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

func newServerCmd(stderr io.Writer) *cobra.Command {
	var runFor time.Duration
	var listen string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane server in the foreground until interrupted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := slog.New(slog.NewJSONHandler(stderr, nil))
			ctx := cmd.Context()
			if runFor > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, runFor)
				defer cancel()
			}
			log.Info("control plane ready", "version", Version, "protocol", protocol.Version, "sync_listen", listen)
			<-ctx.Done()
			log.Info("control plane stopped")
			return nil
		},
	}
	cmd.Flags().DurationVar(&runFor, "for", 0, "stop after this long (0: until interrupted)")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:7443", "sync listener address (QUIC, UDP)")
	return cmd
}
