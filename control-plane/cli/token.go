package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/sitewarden/sitewarden/control-plane/enroll"
	"github.com/sitewarden/sitewarden/control-plane/store"
)

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage one-time enrollment tokens",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newTokenCreateCmd())
	return cmd
}

func newTokenCreateCmd() *cobra.Command {
	var client, site, tenant, state, address, storeURL string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "create --client C --site S [--ttl 24h]",
		Short: "Print a one-time enrollment token for one site",
		Long: `Print a one-time token that enrolls one site of one client. It carries the
control plane's address and a pin of its CA; the control plane keeps only its
hash. Give it to the installer: sitewarden-runner enroll --token <token>.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for name, v := range map[string]string{"--client": client, "--site": site, "--tenant": tenant} {
				if !enroll.ValidName(v) {
					return usageError{fmt.Errorf("%s %q: use 1-63 letters, digits, '-', '_' or '.'", name, v)}
				}
			}
			p, err := openPlaneStore(cmd.Context(), state, storeURL)
			if err != nil {
				return err
			}
			defer p.store.Close()
			tok, err := enroll.CreateToken(cmd.Context(), p.store, p.ca, address,
				store.Identity{Tenant: tenant, Client: client, Site: site}, ttl, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok.Encode())
			fmt.Fprintf(cmd.ErrOrStderr(), "token for %s/%s expires %s; it works once\n", client, site, tok.Expires.UTC().Format(time.RFC3339))
			return nil
		},
	}
	cmd.Flags().StringVar(&client, "client", "", "client the site belongs to (required)")
	cmd.Flags().StringVar(&site, "site", "", "site name (required)")
	cmd.Flags().StringVar(&tenant, "tenant", "default", "tenant (MSP) name; must match the server's --tenant")
	cmd.Flags().DurationVar(&ttl, "ttl", 24*time.Hour, "how long the token stays valid")
	cmd.Flags().StringVar(&state, "state", defaultStateDir(), "control plane state directory")
	cmd.Flags().StringVar(&address, "address", "127.0.0.1:7443", "control plane address the runner will dial")
	cmd.Flags().StringVar(&storeURL, "store", "", "the server's --store (empty: SQLite in --state; postgres://... for replicas)")
	_ = cmd.MarkFlagRequired("client")
	_ = cmd.MarkFlagRequired("site")
	return cmd
}
