package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	protocolaudit "github.com/sitewarden/sitewarden/protocol/audit"
	"github.com/sitewarden/sitewarden/runner/audit"
)

// newAuditCmd is 'sitewarden-runner audit': export, verify and key.
func newAuditCmd(stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Export and verify the site's tamper-evident audit log",
	}
	cmd.AddCommand(newAuditExportCmd(stderr), newAuditVerifyCmd(), newAuditKeyCmd(stderr))
	return cmd
}

// parseWhen reads --from/--to: RFC 3339 or a date (UTC midnight; for --to,
// the end of that day).
func parseWhen(flag, v string, endOfDay bool) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, usageError{fmt.Errorf("--%s %q: want RFC 3339 (2026-11-20T10:00:00Z) or a date (2026-11-20)", flag, v)}
	}
	if endOfDay {
		t = t.Add(24*time.Hour - time.Nanosecond)
	}
	return t, nil
}

func openReadOnly(cmd *cobra.Command, dir, client string, stderr io.Writer) (*audit.Log, error) {
	cfg := audit.DefaultConfig()
	cfg.Dir, cfg.Client = dir, client
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	l, err := audit.Open(cmd.Context(), cfg, nil, log)
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	return l, nil
}

func newAuditExportCmd(stderr io.Writer) *cobra.Command {
	var client, from, to, out, dir string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "export --client C [--from T1] [--to T2] -o FILE",
		Short: "Write a client's audit records, checkpoints and proofs to one verifiable file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if client == "" || out == "" {
				return usageError{errors.New("audit export needs --client and -o FILE")}
			}
			fromT, err := parseWhen("from", from, false)
			if err != nil {
				return err
			}
			toT, err := parseWhen("to", to, true)
			if err != nil {
				return err
			}
			l, err := openReadOnly(cmd, dir, client, stderr)
			if err != nil {
				return err
			}
			defer l.Close(cmd.Context())
			res, err := exportToFile(cmd, l, out, audit.ExportOptions{Client: client, From: fromT, To: toT}, quiet, stderr)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %d records (index %d..%d), %d checkpoints, tree size %d\nverify with: sitewarden-runner audit verify %s --key '%s'\n",
				out, res.Count, res.First, res.First+res.Count-1, res.Checkpoints, res.TreeSize, out, res.Key)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&client, "client", "", "client whose records to export (required)")
	f.StringVar(&from, "from", "", "first record time (RFC 3339 or YYYY-MM-DD); default: the beginning")
	f.StringVar(&to, "to", "", "last record time (RFC 3339 or YYYY-MM-DD, inclusive); default: the end")
	f.StringVarP(&out, "output", "o", "", "export file to write (required)")
	f.StringVar(&dir, "dir", audit.DefaultConfig().Dir, "audit log directory")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress bar")
	return cmd
}

// exportToFile writes the export to a temporary file beside out and
// renames it into place, so a failed export leaves no partial file.
func exportToFile(cmd *cobra.Command, l *audit.Log, out string, opt audit.ExportOptions, quiet bool, stderr io.Writer) (audit.ExportResult, error) {
	tmp, err := os.CreateTemp(filepath.Dir(out), ".sitewarden-export-*")
	if err != nil {
		return audit.ExportResult{}, fmt.Errorf("audit export: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if !quiet {
		var bar *progressbar.ProgressBar
		opt.Progress = func(done, total uint64) {
			if bar == nil {
				bar = progressbar.NewOptions64(int64(total), progressbar.OptionSetWriter(stderr),
					progressbar.OptionSetDescription("exporting"), progressbar.OptionShowCount(),
					progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionOnCompletion(func() { fmt.Fprintln(stderr) }))
			}
			_ = bar.Set64(int64(done))
		}
	}
	w := bufio.NewWriterSize(tmp, 1<<20)
	res, err := l.Export(cmd.Context(), w, opt)
	if err != nil {
		return res, fmt.Errorf("audit export: %w", err)
	}
	if err := w.Flush(); err != nil {
		return res, fmt.Errorf("audit export: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return res, fmt.Errorf("audit export: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return res, fmt.Errorf("audit export: %w", err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return res, fmt.Errorf("audit export: %w", err)
	}
	return res, nil
}

func newAuditVerifyCmd() *cobra.Command {
	var key, format string
	cmd := &cobra.Command{
		Use:   "verify FILE --key PUBKEY [-o json]",
		Short: "Verify an audit export offline with the site's public key; exit 0 only if all of it verifies",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAuditVerify(cmd, args[0], key, format)
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "the site's verifier key (name+hash+base64), or a file holding it (required)")
	cmd.Flags().StringVarP(&format, "output", "o", "text", "output format: text or json")
	return cmd
}

// runAuditVerify is the verify command shared in shape with 'sitewarden
// audit verify': the work and the report are protocol/audit's.
func runAuditVerify(cmd *cobra.Command, file, key, format string) error {
	if key == "" {
		return usageError{errors.New("audit verify needs --key: the site's verifier key ('sitewarden-runner audit key' prints it)")}
	}
	if format != "text" && format != "json" {
		return usageError{fmt.Errorf("-o %q: want text or json", format)}
	}
	v, err := protocolaudit.LoadVerifierKey(key)
	if err != nil {
		return usageError{err}
	}
	s, verr := protocolaudit.VerifyFile(cmd.Context(), file, v)
	if err := protocolaudit.WriteReport(cmd.OutOrStdout(), s, verr, format == "json"); err != nil {
		return err
	}
	if verr != nil {
		return fmt.Errorf("audit verify: %s does not verify", file)
	}
	return nil
}

func newAuditKeyCmd(stderr io.Writer) *cobra.Command {
	var client, dir string
	cmd := &cobra.Command{
		Use:   "key --client C",
		Short: "Print the audit log's verifier key, for auditors",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if client == "" {
				return usageError{errors.New("audit key needs --client")}
			}
			l, err := openReadOnly(cmd, dir, client, stderr)
			if err != nil {
				return err
			}
			defer l.Close(cmd.Context())
			_, err = fmt.Fprintln(cmd.OutOrStdout(), l.VerifierKey())
			return err
		},
	}
	cmd.Flags().StringVar(&client, "client", "", "the runner's client (required)")
	cmd.Flags().StringVar(&dir, "dir", audit.DefaultConfig().Dir, "audit log directory")
	return cmd
}
