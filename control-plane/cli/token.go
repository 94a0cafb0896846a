package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sitewarden/sitewarden/control-plane/api"
	"github.com/sitewarden/sitewarden/control-plane/enroll"
	"github.com/sitewarden/sitewarden/control-plane/store"
)

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage enrollment tokens (one-site and fleet)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newTokenCreateCmd(), newTokenListCmd(), newTokenRevokeCmd())
	return cmd
}

// tokenStoreFlags name the control plane's state and store, as the server's.
type tokenStoreFlags struct{ state, storeURL string }

func (f *tokenStoreFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.state, "state", defaultStateDir(), "control plane state directory")
	cmd.Flags().StringVar(&f.storeURL, "store", "", "the server's --store (empty: SQLite in --state; postgres://... for replicas)")
}

// open checks the flags token list and revoke share (-o format, --client)
// and opens the store they name.
func (f *tokenStoreFlags) open(cmd *cobra.Command, client, format string) (*plane, error) {
	if err := checkTokenFormat(format); err != nil {
		return nil, err
	}
	if !enroll.ValidName(client) {
		return nil, usageError{fmt.Errorf("--client %q: use 1-63 letters, digits, '-', '_' or '.'", client)}
	}
	return openPlaneStore(cmd.Context(), f.state, f.storeURL)
}

func newTokenCreateCmd() *cobra.Command {
	var client, site, tenant, address string
	var sf tokenStoreFlags
	var ttl time.Duration
	var fleet bool
	var uses int
	cmd := &cobra.Command{
		Use:   "create --client C (--site S | --fleet --uses N) [--ttl 24h]",
		Short: "Print an enrollment token: one-time for one site, or a fleet token for a client",
		Long: `Print an enrollment token. It carries the control plane's address and a pin
of its CA; the control plane keeps only its hash. Give it to the installer:
sitewarden-runner enroll --token <token> (MSI property ENROLL_TOKEN).

With --site, the token enrolls that one site, once (the stricter option; it
may also re-enroll an existing site, e.g. a replaced machine).

With --fleet, the token enrolls up to --uses new sites of the client until
--ttl (at most 720h), each named by its runner: site_name in its config.yaml
(MSI property SITE_NAME), else its host name in lower case. It never
enrolls a site that exists. Anyone holding it can enroll sites for the
client until it is used up, expires or is revoked: 'sitewarden token
revoke --client C ID' stops it at once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			names := map[string]string{"--client": client, "--tenant": tenant}
			switch {
			case fleet && site != "":
				return usageError{errors.New("--fleet and --site exclude each other: a fleet token's runners name their sites")}
			case fleet && (uses < 1 || uses > store.MaxFleetUses):
				return usageError{fmt.Errorf("--uses %d: a fleet token allows 1-%d enrollments", uses, store.MaxFleetUses)}
			case !fleet && cmd.Flags().Changed("uses"):
				return usageError{errors.New("--uses needs --fleet (a one-site token works once)")}
			case !fleet && site == "":
				return usageError{errors.New("give --site S (one site, once) or --fleet --uses N (up to N new sites named by their runners)")}
			case !fleet:
				names["--site"] = site
			}
			for name, v := range names {
				if !enroll.ValidName(v) {
					return usageError{fmt.Errorf("%s %q: use 1-63 letters, digits, '-', '_' or '.'", name, v)}
				}
			}
			p, err := openPlaneStore(cmd.Context(), sf.state, sf.storeURL)
			if err != nil {
				return err
			}
			defer p.store.Close()
			var tok enroll.Token
			if fleet {
				tok, err = enroll.CreateFleetToken(cmd.Context(), p.store, p.ca, address, tenant, client, uses, ttl, time.Now())
			} else {
				tok, err = enroll.CreateToken(cmd.Context(), p.store, p.ca, address,
					store.Identity{Tenant: tenant, Client: client, Site: site}, ttl, time.Now())
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok.Encode())
			exp := tok.Expires.UTC().Format(time.RFC3339)
			if fleet {
				fmt.Fprintf(cmd.ErrOrStderr(), "fleet token %s for %s: enrolls up to %d new sites until %s; revoke it with 'sitewarden token revoke --client %s %s'\n",
					enroll.TokenID(tok), client, uses, exp, client, enroll.TokenID(tok))
			} else {
				fmt.Fprintf(cmd.ErrOrStderr(), "token %s for %s/%s expires %s; it works once\n", enroll.TokenID(tok), client, site, exp)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&client, "client", "", "client the site belongs to (required)")
	cmd.Flags().StringVar(&site, "site", "", "site name (one-site token)")
	cmd.Flags().BoolVar(&fleet, "fleet", false, "make a fleet token: several new sites of the client, named by their runners")
	cmd.Flags().IntVar(&uses, "uses", 0, "with --fleet: how many sites the token may enroll (1-10000)")
	cmd.Flags().StringVar(&tenant, "tenant", "default", "tenant (MSP) name; must match the server's --tenant")
	cmd.Flags().DurationVar(&ttl, "ttl", 24*time.Hour, "how long the token stays valid (at most 720h)")
	cmd.Flags().StringVar(&address, "address", "127.0.0.1:7443", "control plane address the runner will dial")
	sf.register(cmd)
	_ = cmd.MarkFlagRequired("client")
	return cmd
}

// tokenRow is a token as 'token list' and 'token revoke' print it, the
// API's view: never the secret or its hash, only the ID.
type tokenRow = api.EnrollTokenView

func tokenRowOf(t store.Token, now time.Time) tokenRow { return api.NewEnrollTokenView(t, now) }

func printTokens(w io.Writer, rows []tokenRow, format string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tSITE\tUSES\tEXPIRES\tSTATE")
	for _, r := range rows {
		site := r.Site
		if site == "" {
			site = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%s\n", r.ID, r.Kind, site, r.Uses, r.MaxUses, r.ExpiresAt.UTC().Format(time.RFC3339), r.State)
	}
	return tw.Flush()
}

func checkTokenFormat(format string) error {
	if format != "text" && format != "json" {
		return usageError{fmt.Errorf("-o %q: use text or json", format)}
	}
	return nil
}

func newTokenListCmd() *cobra.Command {
	var client, format string
	var sf tokenStoreFlags
	cmd := &cobra.Command{
		Use:   "list --client C [-o json]",
		Short: "List a client's enrollment tokens (newest first) with their IDs, uses and state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := sf.open(cmd, client, format)
			if err != nil {
				return err
			}
			defer p.store.Close()
			toks, err := p.store.Tokens(cmd.Context(), client, 1000)
			if err != nil {
				return err
			}
			now := time.Now()
			rows := make([]tokenRow, 0, len(toks))
			for _, t := range toks {
				rows = append(rows, tokenRowOf(t, now))
			}
			return printTokens(cmd.OutOrStdout(), rows, format)
		},
	}
	cmd.Flags().StringVar(&client, "client", "", "client whose tokens to list (required)")
	cmd.Flags().StringVarP(&format, "output", "o", "text", "text or json")
	sf.register(cmd)
	_ = cmd.MarkFlagRequired("client")
	return cmd
}

func newTokenRevokeCmd() *cobra.Command {
	var client, format string
	var sf tokenStoreFlags
	cmd := &cobra.Command{
		Use:   "revoke --client C ID",
		Short: "Revoke an enrollment token at once (fleet or one-site); sites it enrolled stay enrolled",
		Long: `Revoke an enrollment token: from now on the control plane refuses it. ID is
what 'sitewarden token create' printed on stderr and 'sitewarden token list'
shows. Sites the token already enrolled keep their certificates; look them
up with 'sitewarden sites show' (enrolled by) and remove a rogue one's
access by other means.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := sf.open(cmd, client, format)
			if err != nil {
				return err
			}
			defer p.store.Close()
			t, err := p.store.RevokeToken(cmd.Context(), client, args[0], time.Now())
			switch {
			case errors.Is(err, store.ErrInvalid):
				return usageError{fmt.Errorf("token ID %q: use the 16 hex digits 'sitewarden token list --client %s' shows", args[0], client)}
			case errors.Is(err, store.ErrNotFound):
				return fmt.Errorf("client %s has no token %s; list them with 'sitewarden token list --client %s'", client, args[0], client)
			case err != nil:
				return err
			}
			if format == "json" {
				return printTokens(cmd.OutOrStdout(), []tokenRow{tokenRowOf(t, time.Now())}, format)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "token %s of %s revoked at %s (%d of %d uses spent)\n", t.ID(), client, t.RevokedAt.UTC().Format(time.RFC3339), t.Uses, t.MaxUses)
			return err
		},
	}
	cmd.Flags().StringVar(&client, "client", "", "client the token belongs to (required)")
	cmd.Flags().StringVarP(&format, "output", "o", "text", "text or json")
	sf.register(cmd)
	_ = cmd.MarkFlagRequired("client")
	return cmd
}
