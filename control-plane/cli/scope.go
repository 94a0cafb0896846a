package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/sitewarden/sitewarden/policies"
)

// newScopeCmd is `sitewarden scope`: work with scope documents.
func newScopeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scope",
		Short: "Test, compare, propose, approve and publish scopes (docs/policy.md)",
	}
	cmd.AddCommand(newScopeTestCmd(), newScopeDiffCmd(), newScopePublishCmd())
	cmd.AddCommand(newScopeReviewCmds()...)
	return cmd
}

func newScopeTestCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "test FILE|DIR...",
		Short: "Run policy tests (kind ScopeTest; a directory means every *_test.yaml under it)",
		Long: `Run policy tests: each test file names the scope files it tests and lists
requests with the effect (and optionally the rule and mode) they must get.
Prints one line per case and a summary; exits 1 when a case fails.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{fmt.Errorf("scope test: name at least one test file or directory")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if format == "json" {
				return scopeTestJSON(cmd, args)
			}
			if format != "text" {
				return usageError{fmt.Errorf("scope test: -o %q: want text or json", format)}
			}
			_, err := policies.RunTests(policies.DefaultConfig(), cmd.OutOrStdout(), args...)
			return err
		},
	}
	cmd.Flags().StringVarP(&format, "output", "o", "text", "output format: text or json")
	return cmd
}

func newScopeDiffCmd() *cobra.Command {
	var format, proposal string
	f := &apiFlags{}
	cmd := &cobra.Command{
		Use:   "diff OLD NEW | diff --proposal ID",
		Short: "List what a scope change widens or narrows",
		Long: `Compile two scopes (each a file or a directory of scope files) and list
every change, marked WIDENS (grants more: new action, condition removed, mode
raised, budget increased, ...) or NARROWS, so a second approver sees what the
change really grants. -o json prints the same as JSON. With --proposal,
list a stored proposal's changes against the version it was made for.`,
		Args: func(_ *cobra.Command, args []string) error {
			if proposal != "" && len(args) != 0 {
				return usageError{fmt.Errorf("scope diff: --proposal takes no files")}
			}
			if proposal == "" && len(args) != 2 {
				return usageError{fmt.Errorf("scope diff: want OLD and NEW, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "text" && format != "json" {
				return usageError{fmt.Errorf("scope diff: -o %q: want text or json", format)}
			}
			if proposal != "" {
				return diffProposal(cmd, f, format, proposal)
			}
			cfg := policies.DefaultConfig()
			old, err := policies.CompileFiles(cfg, args[0])
			if err != nil {
				return fmt.Errorf("scope diff: old scope: %w", err)
			}
			neu, err := policies.CompileFiles(cfg, args[1])
			if err != nil {
				return fmt.Errorf("scope diff: new scope: %w", err)
			}
			return writeDiff(cmd.OutOrStdout(), format, policies.Diff(old, neu))
		},
	}
	cmd.Flags().StringVarP(&format, "output", "o", "text", "output format: text or json")
	cmd.Flags().StringVar(&proposal, "proposal", "", "show a stored proposal's changes instead (asks the API)")
	f.addConn(cmd)
	return cmd
}

func writeDiff(w io.Writer, format string, changes []policies.Change) error {
	widens, narrows := 0, 0
	for _, c := range changes {
		if c.Mark == policies.Widens {
			widens++
		} else {
			narrows++
		}
	}
	if format == "json" {
		if changes == nil {
			changes = []policies.Change{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(struct {
			Changes []policies.Change `json:"changes"`
			Widens  int               `json:"widens"`
			Narrows int               `json:"narrows"`
		}{changes, widens, narrows})
	}
	for _, c := range changes {
		if _, err := fmt.Fprintln(w, c); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "%d changes: %d widen, %d narrow\n", len(changes), widens, narrows)
	return err
}
