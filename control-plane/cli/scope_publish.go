package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/sitewarden/sitewarden/control-plane/api"
	"github.com/sitewarden/sitewarden/policies"
)

// PublishResult is what 'scope publish -o json' prints.
type PublishResult struct {
	Client    string    `json:"client"`
	Version   uint64    `json:"version"`
	Rules     int       `json:"rules"`
	IssuedAt  time.Time `json:"issued_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

func newScopePublishCmd() *cobra.Command {
	var state, client, output, storeURL string
	cmd := &cobra.Command{
		Use:   "publish --state DIR [--store URL] --client C FILE|DIR...",
		Short: "Bootstrap: sign scope files as a client's next version, on the control plane machine",
		Long: `Compile the scope files (a directory means every *.yaml in it but tests),
sign them with the state directory's scope signing key as the client's next
version and store it. A running 'sitewarden server' on the same state notices
the new version within its scope watch interval (2 s) and tells the client's
connected sites, which fetch and verify it.

This is the bootstrap path: it needs the state directory (run it on the
control plane machine as the server's user) and no second person. Use it for
a client's first scope; later changes go through proposals:
'sitewarden scope apply', reviewed and approved by a second person.

With replicas (docs/scaling.md), give the servers' --store: the version goes
to the shared database, signed with the scope key in --state (the key every
replica shares), and every replica tells its own sites.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{errors.New("scope publish: name at least one scope file or directory")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return usageError{fmt.Errorf("-o %q: use text or json", output)}
			}
			need, start := []string{dbFile, scopeKeyFile}, "--state "+state
			if storeURL != "" {
				// The database is the servers'; the state directory
				// still holds the shared scope signing key.
				need, start = []string{scopeKeyFile}, start+" --store URL"
			}
			for _, f := range need {
				if _, err := os.Stat(filepath.Join(state, f)); err != nil {
					return fmt.Errorf("scope publish: --state %s holds no control plane (%s: %w); start 'sitewarden server %s' once first", state, f, err, start)
				}
			}
			sc, err := policies.CompileFiles(policies.DefaultConfig(), args...)
			if err != nil {
				return fmt.Errorf("scope publish: %w", err)
			}
			if sc.Client() != client {
				return usageError{fmt.Errorf("scope publish: the scope is client %q's, not --client %q", sc.Client(), client)}
			}
			p, err := openPlaneStore(cmd.Context(), state, storeURL)
			if err != nil {
				return err
			}
			defer p.store.Close()
			v, err := api.PublishScope(cmd.Context(), p.store, p.scopeKey, sc, time.Now())
			if err != nil {
				return err
			}
			r := PublishResult{Client: v.Client, Version: v.Version, Rules: sc.Rules(), IssuedAt: v.CreatedAt,
				ExpiresAt: v.CreatedAt.Add(sc.MaxOfflineValidity())}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "published scope of client %s as version %d (%d rules, valid offline until %s); running servers tell its sites within seconds\n",
				r.Client, r.Version, r.Rules, r.ExpiresAt.Format(time.RFC3339))
			return err
		},
	}
	cmd.Flags().StringVar(&state, "state", defaultStateDir(), "control plane state directory (store and scope signing key)")
	cmd.Flags().StringVar(&client, "client", "", "client the scope belongs to; must match the scope's client (required)")
	cmd.Flags().StringVar(&storeURL, "store", "", "the servers' --store (empty: SQLite in --state; postgres://... for replicas)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	_ = cmd.MarkFlagRequired("client")
	return cmd
}
