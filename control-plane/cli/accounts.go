package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sitewarden/sitewarden/control-plane/api"
)

// readPassword takes the password from $SITEWARDEN_PASSWORD or the first
// line of stdin (never from a flag, which would land in shell history).
func readPassword(cmd *cobra.Command) (string, error) {
	if p := os.Getenv("SITEWARDEN_PASSWORD"); p != "" {
		return p, nil
	}
	fmt.Fprint(cmd.ErrOrStderr(), "password: ")
	line, err := bufio.NewReader(io.LimitReader(cmd.InOrStdin(), 4096)).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("read password from stdin: %w; or set SITEWARDEN_PASSWORD", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func newSetupCmd() *cobra.Command {
	f := &apiFlags{}
	var setup string
	cmd := &cobra.Command{
		Use:   "setup --setup NAME.SECRET",
		Short: "Set an account's password from its one-time setup link",
		Long: `Set the password of a new account with the one-time value from its setup link
(the part after '#'). The password is read from $SITEWARDEN_PASSWORD or stdin.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client(false)
			if err != nil {
				return err
			}
			pw, err := readPassword(cmd)
			if err != nil {
				return err
			}
			raw, err := c.call(cmd.Context(), "POST", "/api/v1/setup", api.SetupRequest{Setup: setup, Password: pw})
			if err != nil {
				return err
			}
			var v map[string]string
			return show(cmd, f.output, raw, &v, func(w io.Writer, _ any) {
				fmt.Fprintf(w, "password set for %s; next: sitewarden login --user %s\n", v["user"], v["user"])
			})
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&setup, "setup", "", "the setup value (NAME.sws_...) (required)")
	_ = cmd.MarkFlagRequired("setup")
	return cmd
}

func newLoginCmd() *cobra.Command {
	f := &apiFlags{}
	var user, name, ttl string
	cmd := &cobra.Command{
		Use:   "login --user NAME",
		Short: "Log in and print a new API token for the CLI (shown once)",
		Long: `Log in with a password (from $SITEWARDEN_PASSWORD or stdin) and create an API
token for this CLI. The token is printed once; keep it in SITEWARDEN_TOKEN.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client(false)
			if err != nil {
				return err
			}
			c.token = ""
			pw, err := readPassword(cmd)
			if err != nil {
				return err
			}
			raw, err := c.call(cmd.Context(), "POST", "/api/v1/session", api.LoginRequest{User: user, Password: pw})
			if err != nil {
				return err
			}
			var s api.SessionView
			if err := json.Unmarshal(raw, &s); err != nil {
				return fmt.Errorf("decode login answer: %w", err)
			}
			c.csrf = s.CSRFToken
			raw, err = c.call(cmd.Context(), "POST", "/api/v1/tokens", api.TokenRequest{Name: name, TTL: ttl})
			if err != nil {
				return err
			}
			if _, err := c.call(cmd.Context(), "DELETE", "/api/v1/session", nil); err != nil {
				return err
			}
			var v struct{ Token string }
			return show(cmd, f.output, raw, &v, func(w io.Writer, _ any) {
				fmt.Fprintln(w, v.Token)
				fmt.Fprintf(cmd.ErrOrStderr(), "API token for %s (%s); shown once: export SITEWARDEN_TOKEN=<token>\n", s.User, s.Role)
			})
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&user, "user", "", "account name (required)")
	cmd.Flags().StringVar(&name, "name", "cli", "a label for the token")
	cmd.Flags().StringVar(&ttl, "ttl", "720h", "token lifetime (Go duration)")
	_ = cmd.MarkFlagRequired("user")
	return cmd
}
