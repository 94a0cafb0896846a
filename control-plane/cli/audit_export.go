package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
)

// exportTimeout bounds one audit export download.
const exportTimeout = 30 * time.Minute

// newAuditExportCmd is 'sitewarden audit export': a site's verifiable
// audit file for a period, from the control plane's witnessed mirror (GET
// /api/v1/audit/export), in the format 'sitewarden audit verify' checks.
func newAuditExportCmd() *cobra.Command {
	var f apiFlags
	var client, site, from, to, out string
	cmd := &cobra.Command{
		Use:   "export --client C --site S [--from DATE] [--to DATE] --out FILE",
		Short: "Download a site's verifiable audit file for a period from the control plane",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := needClient(client); err != nil {
				return err
			}
			if site == "" || out == "" {
				return usageError{errors.New("--site and --out are required")}
			}
			c, err := f.client(true)
			if err != nil {
				return err
			}
			q := url.Values{"client": {client}, "site": {site}}
			if from != "" {
				q.Set("from", from)
			}
			if to != "" {
				q.Set("to", to)
			}
			ctx := cmd.Context()
			req, err := http.NewRequestWithContext(ctx, "GET", c.base+"/api/v1/audit/export?"+q.Encode(), nil)
			if err != nil {
				return usageError{fmt.Errorf("--server %q: %w", c.base, err)}
			}
			req.Header.Set("Authorization", "Bearer "+c.token)
			hc := *c.hc
			hc.Timeout = exportTimeout
			resp, err := hc.Do(req)
			if err != nil {
				return fmt.Errorf("audit export: %w; is 'sitewarden server' running there, and does --ca name its CA?", err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
				return apiError("GET", "/api/v1/audit/export", resp.StatusCode, b)
			}
			tmp, err := os.CreateTemp(filepath.Dir(out), ".sitewarden-export-*")
			if err != nil {
				return fmt.Errorf("audit export: %w", err)
			}
			defer os.Remove(tmp.Name())
			var w io.Writer = tmp
			if isTerminal(cmd.ErrOrStderr()) {
				bar := progressbar.NewOptions64(-1, progressbar.OptionSetWriter(cmd.ErrOrStderr()), progressbar.OptionShowBytes(true),
					progressbar.OptionSetDescription("exporting "+client+"/"+site), progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(100*time.Millisecond))
				defer bar.Finish()
				w = io.MultiWriter(tmp, bar)
			}
			n, err := io.Copy(w, resp.Body)
			if err == nil {
				err = tmp.Sync()
			}
			if cerr := tmp.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("audit export: %w", err)
			}
			if err := os.Rename(tmp.Name(), out); err != nil {
				return fmt.Errorf("audit export: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%d bytes); check it with: sitewarden audit verify %s --key <the site's audit key>\n", out, n, out)
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&client, "client", "", "client (required)")
	cmd.Flags().StringVar(&site, "site", "", "site whose log to export (required)")
	cmd.Flags().StringVar(&from, "from", "", "start of the period, 2006-01-02 or RFC 3339 (default: the log's start)")
	cmd.Flags().StringVar(&to, "to", "", "end of the period, exclusive (default: the newest witnessed record)")
	cmd.Flags().StringVar(&out, "out", "", "file to write (required)")
	return cmd
}

// isTerminal reports whether w is a terminal (progress bars only there).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// apiError turns an API error answer into an error with its message and hint.
func apiError(method, path string, status int, body []byte) error {
	var e struct {
		Error struct{ Code, Message, Hint string }
	}
	if json.Unmarshal(body, &e) != nil || e.Error.Code == "" {
		return fmt.Errorf("%s %s: HTTP %d", method, path, status)
	}
	msg := fmt.Sprintf("%s (%s)", e.Error.Message, e.Error.Code)
	if e.Error.Hint != "" {
		msg += "; " + e.Error.Hint
	}
	return errors.New(msg)
}
