package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sitewarden/sitewarden/runner/enroll"
)

func newEnrollCmd() *cobra.Command {
	var token, tokenFile, siteName string
	var f runFlags
	cmd := &cobra.Command{
		Use:   "enroll (--token T | --token-file F)",
		Short: "Enroll this site with a token from 'sitewarden token create'",
		Long: `Enroll this site: make its key pair here (the private key never leaves the
machine), send a certificate request to the control plane the token names
(checking its CA against the token's pin), and keep the certificate. A token
file is deleted once used. A fleet token (sitewarden token create --fleet)
enrolls a new site named --site-name, else the configuration's site_name,
else this machine's host name in lower case.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (token == "") == (tokenFile == "") {
				return usageError{errors.New("give exactly one of --token and --token-file")}
			}
			cfg, err := f.load(cmd)
			if err != nil {
				return usageError{err}
			}
			if siteName != "" {
				cfg.SiteName = siteName
			}
			if tokenFile != "" {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return fmt.Errorf("enroll: %w", err)
				}
				token = strings.TrimSpace(string(b))
			}
			if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
				return fmt.Errorf("enroll: state directory: %w", err)
			}
			id, err := enroll.Enroller{Dir: cfg.StateDir, Proxy: cfg.ProxyURL(), SiteName: cfg.SiteNameForEnroll}.Enroll(cmd.Context(), token)
			if err != nil {
				return err
			}
			if tokenFile != "" {
				if err := os.Remove(tokenFile); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: enrolled, but could not delete the used token file: %v\n", err)
				}
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "enrolled as %s (state in %s)\n", id, cfg.StateDir)
			return err
		},
	}
	cmd.Flags().StringVar(&token, "token", "", "enrollment token")
	cmd.Flags().StringVar(&tokenFile, "token-file", "", "file holding the enrollment token (deleted once used)")
	cmd.Flags().StringVar(&siteName, "site-name", "", "site name a fleet token enrolls (default: site_name, else the host name)")
	f.register(cmd)
	return cmd
}
