package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// apiFlags are the flags of every command that talks to the API.
type apiFlags struct {
	server string
	token  string
	ca     string
	output string
}

func (f *apiFlags) add(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&f.server, "server", "https://"+defaultHTTPListen, "control plane API URL")
	cmd.PersistentFlags().StringVar(&f.token, "token", "", "API token (default: $SITEWARDEN_TOKEN); create one with 'sitewarden login'")
	cmd.PersistentFlags().StringVar(&f.ca, "ca", "", "PEM file of the CA to trust for --server (default: the control plane's CA in the default state directory, else the system roots)")
	cmd.PersistentFlags().StringVarP(&f.output, "output", "o", "text", "output format: text or json")
}

// apiClient calls the control plane's HTTP/JSON API.
type apiClient struct {
	base  string
	token string
	csrf  string
	hc    *http.Client
}

func (f *apiFlags) client(needToken bool) (*apiClient, error) {
	if f.output != "text" && f.output != "json" {
		return nil, usageError{fmt.Errorf("-o %q: use text or json", f.output)}
	}
	tok := f.token
	if tok == "" {
		tok = os.Getenv("SITEWARDEN_TOKEN")
	}
	if needToken && tok == "" {
		return nil, usageError{errors.New("no API token: pass --token or set SITEWARDEN_TOKEN; create one with 'sitewarden login'")}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	caFile, explicit := f.ca, f.ca != ""
	if !explicit {
		caFile = filepath.Join(defaultStateDir(), caDir, "ca.pem")
	}
	if pem, err := os.ReadFile(caFile); err == nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca %s: no PEM certificate in it", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	} else if explicit {
		return nil, fmt.Errorf("--ca: %w", err)
	}
	jar, _ := cookiejar.New(nil)
	return &apiClient{base: strings.TrimRight(f.server, "/"), token: tok, hc: &http.Client{Transport: tr, Jar: jar, Timeout: 30 * time.Second}}, nil
}

// call sends in (when not nil) as JSON and returns the answer's body; an
// API error becomes an error with its message and hint.
func (c *apiClient) call(ctx context.Context, method, path string, in any) ([]byte, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, usageError{fmt.Errorf("--server %q: %w", c.base, err)}
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w; is 'sitewarden server' running there, and does --ca name its CA?", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Code, Message, Hint string }
		}
		if json.Unmarshal(b, &e) != nil || e.Error.Code == "" {
			return nil, fmt.Errorf("%s %s: HTTP %d", method, path, resp.StatusCode)
		}
		msg := fmt.Sprintf("%s (%s)", e.Error.Message, e.Error.Code)
		if e.Error.Hint != "" {
			msg += "; " + e.Error.Hint
		}
		return nil, errors.New(msg)
	}
	return b, nil
}

// show prints an answer: indented JSON with -o json, else text built from
// the decoded value v.
func show(cmd *cobra.Command, output string, raw []byte, v any, text func(w io.Writer, v any)) error {
	if output == "json" {
		var buf bytes.Buffer
		if len(raw) == 0 {
			raw = []byte("{}")
		}
		if err := json.Indent(&buf, raw, "", "  "); err != nil {
			return err
		}
		buf.WriteByte('\n')
		_, err := cmd.OutOrStdout().Write(buf.Bytes())
		return err
	}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, v); err != nil {
			return fmt.Errorf("decode answer: %w", err)
		}
	}
	text(cmd.OutOrStdout(), v)
	return nil
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04Z")
}
