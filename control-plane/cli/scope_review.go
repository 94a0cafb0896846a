package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sitewarden/sitewarden/control-plane/api"
	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/policies"
)

// newScopeReviewCmds are the API-backed scope commands: proposals and
// history (docs/policy.md, "Changing a scope").
func newScopeReviewCmds() []*cobra.Command {
	return []*cobra.Command{newScopeApplyCmd(), newScopeShowCmd(), newScopeDecideCmd("approve"), newScopeDecideCmd("reject"), newScopeHistoryCmd()}
}

// readProposalFiles reads scope and test files: a directory gives every
// *.yaml and *.yml in it (tests included), a file itself.
func readProposalFiles(args []string) ([]store.ScopeFile, error) {
	var paths []string
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil {
			return nil, usageError{fmt.Errorf("scope apply: %w", err)}
		}
		if !fi.IsDir() {
			paths = append(paths, a)
			continue
		}
		entries, err := os.ReadDir(a)
		if err != nil {
			return nil, fmt.Errorf("scope apply: %w", err)
		}
		for _, e := range entries {
			if !e.IsDir() && (strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml")) {
				paths = append(paths, filepath.Join(a, e.Name()))
			}
		}
	}
	seen := map[string]string{}
	var out []store.ScopeFile
	for _, p := range paths {
		name := filepath.Base(p)
		if prev, ok := seen[name]; ok {
			return nil, usageError{fmt.Errorf("scope apply: %s and %s have the same name; a proposal holds files by base name", prev, p)}
		}
		seen[name] = p
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("scope apply: %w", err)
		}
		out = append(out, store.ScopeFile{Name: name, Text: string(b)})
	}
	if len(out) == 0 {
		return nil, usageError{errors.New("scope apply: no *.yaml files found")}
	}
	return out, nil
}

func printProposal(w io.Writer, p *api.ProposalView, report bool) {
	fmt.Fprintf(w, "proposal %s for client %s (against version %d): %s\n", p.ID, p.Client, p.BaseVersion, p.Status)
	fmt.Fprintf(w, "proposed by %s at %s", p.Proposer, fmtTime(p.ProposedAt))
	if p.Note != "" {
		fmt.Fprintf(w, ": %s", p.Note)
	}
	fmt.Fprintln(w)
	if p.DecidedBy != "" {
		fmt.Fprintf(w, "%s by %s at %s", p.Status, p.DecidedBy, fmtTime(p.DecidedAt))
		if p.Decision != "" {
			fmt.Fprintf(w, ": %s", p.Decision)
		}
		if p.Version != 0 {
			fmt.Fprintf(w, " (published as version %d)", p.Version)
		}
		fmt.Fprintln(w)
	}
	_ = writeDiff(w, "text", p.Changes)
	fmt.Fprintf(w, "policy tests: %d run, %d failed\n", p.TestsRun, p.TestsFailed)
	if report && p.TestReport != "" {
		fmt.Fprint(w, indent(p.TestReport))
	}
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ") + "\n"
}

func newScopeApplyCmd() *cobra.Command {
	f := &apiFlags{}
	var req api.ProposalRequest
	cmd := &cobra.Command{
		Use:   "apply FILE|DIR... --client C [--note TEXT]",
		Short: "Propose a scope change; a second person approves it",
		Long: `Send scope files (and *_test.yaml policy tests; a directory means every
*.yaml in it) to the control plane as a proposal. It compiles them, lists
what the change WIDENS or NARROWS against the client's current version, and
runs the policy tests (the proposal's own, else the reference packs' tests
that apply). A governance lead or admin other than you approves it with
'sitewarden scope approve ID'.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{errors.New("scope apply: name at least one scope file or directory")}
			}
			return nil
		},
		RunE: runAPI(f, func(_ *cobra.Command, args []string) (string, string, any, error) {
			files, err := readProposalFiles(args)
			if err != nil {
				return "", "", nil, err
			}
			req.Files = files
			return "POST", "/api/v1/scopes/proposals", req, nil
		}, func(w io.Writer, p *api.ProposalView) {
			printProposal(w, p, p.TestsFailed > 0)
			if p.TestsFailed > 0 {
				fmt.Fprintf(w, "the tests failed: this proposal cannot be approved; fix it and apply again\n")
				return
			}
			fmt.Fprintf(w, "ask a governance lead or admin (not you) to review and approve it: sitewarden scope approve %s\n", p.ID)
		}),
	}
	f.add(cmd)
	cmd.Flags().StringVar(&req.Client, "client", "", "client whose scope changes (required)")
	cmd.Flags().StringVar(&req.Note, "note", "", "why the change is needed")
	_ = cmd.MarkFlagRequired("client")
	return cmd
}

func newScopeShowCmd() *cobra.Command {
	f := &apiFlags{}
	cmd := &cobra.Command{Use: "show ID", Short: "Show a scope proposal: diff, policy test results, decision", Args: cobra.ExactArgs(1),
		RunE: runAPI(f, func(_ *cobra.Command, args []string) (string, string, any, error) {
			return "GET", "/api/v1/scopes/proposals/" + url.PathEscape(args[0]), nil, nil
		}, func(w io.Writer, p *api.ProposalView) { printProposal(w, p, true) })}
	f.add(cmd)
	return cmd
}

func newScopeDecideCmd(verb string) *cobra.Command {
	f := &apiFlags{}
	var note string
	short := map[string]string{
		"approve": "Approve another person's scope proposal: sign it as the next version and send it to the client's sites",
		"reject":  "Reject a scope proposal",
	}[verb]
	cmd := &cobra.Command{Use: verb + " ID [--note TEXT]", Short: short, Args: cobra.ExactArgs(1),
		RunE: runAPI(f, func(_ *cobra.Command, args []string) (string, string, any, error) {
			return "POST", "/api/v1/scopes/proposals/" + url.PathEscape(args[0]) + "/" + verb, api.NoteRequest{Note: note}, nil
		}, func(w io.Writer, p *api.ProposalView) {
			if p.Status == "approved" {
				fmt.Fprintf(w, "proposal %s approved: client %s's scope is now version %d; its connected sites were told and fetch it\n", p.ID, p.Client, p.Version)
				return
			}
			fmt.Fprintf(w, "proposal %s %s\n", p.ID, p.Status)
		})}
	f.add(cmd)
	cmd.Flags().StringVar(&note, "note", "", "why (kept with the proposal)")
	return cmd
}

func newScopeHistoryCmd() *cobra.Command {
	f := &apiFlags{}
	var client string
	var limit int
	cmd := &cobra.Command{Use: "history --client C", Short: "List a client's scope versions and proposals: who proposed, who approved, when, what changed", Args: cobra.NoArgs,
		RunE: runAPI(f, func(*cobra.Command, []string) (string, string, any, error) {
			q := url.Values{"limit": {fmt.Sprint(limit)}}
			if client != "" {
				q.Set("client", client)
			}
			return "GET", "/api/v1/scopes/history?" + q.Encode(), nil, nil
		}, func(w io.Writer, h *api.HistoryView) {
			fmt.Fprintf(w, "scope versions of %s:\n", h.Client)
			var rows [][]string
			for _, v := range h.Versions {
				prop, by, ok := v.ProposalID, v.ProposedBy, v.ApprovedBy
				if prop == "" {
					prop, by, ok = "-", "(published directly)", "-"
				}
				rows = append(rows, []string{fmt.Sprint(v.Version), fmtTime(v.CreatedAt), prop, by, ok, fmt.Sprintf("%d widen, %d narrow", v.Widens, v.Narrows)})
			}
			table(w, "VERSION\tCREATED\tPROPOSAL\tPROPOSED BY\tAPPROVED BY\tCHANGES", rows, "")
			fmt.Fprintf(w, "\nproposals:\n")
			rows = nil
			for _, p := range h.Proposals {
				decided := "-"
				if p.DecidedBy != "" {
					decided = p.DecidedBy + " " + fmtTime(p.DecidedAt)
				}
				rows = append(rows, []string{p.ID, p.Status, p.Proposer + " " + fmtTime(p.ProposedAt), decided,
					fmt.Sprintf("%d widen, %d narrow", p.Widens, p.Narrows), fmt.Sprintf("%d/%d failed", p.TestsFailed, p.TestsRun)})
			}
			table(w, "ID\tSTATUS\tPROPOSED\tDECIDED\tCHANGES\tTESTS", rows, "")
		})}
	f.add(cmd)
	cmd.Flags().StringVar(&client, "client", "", "client (required unless your account reads one client)")
	cmd.Flags().IntVar(&limit, "limit", 50, "newest versions and proposals to list (1-500)")
	return cmd
}

// diffProposal prints a stored proposal's changes ('scope diff --proposal').
func diffProposal(cmd *cobra.Command, f *apiFlags, format, id string) error {
	f.output = format
	c, err := f.client(true)
	if err != nil {
		return err
	}
	raw, err := c.call(cmd.Context(), "GET", "/api/v1/scopes/proposals/"+url.PathEscape(id), nil)
	if err != nil {
		return err
	}
	var p api.ProposalView
	if err := json.Unmarshal(raw, &p); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	if p.Changes == nil {
		p.Changes = []policies.Change{}
	}
	return writeDiff(cmd.OutOrStdout(), format, p.Changes)
}

// addConn adds the API connection flags of apiFlags but -o (for commands
// that define their own).
func (f *apiFlags) addConn(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.server, "server", "https://"+defaultHTTPListen, "control plane API URL (with --proposal)")
	cmd.Flags().StringVar(&f.token, "token", "", "API token (default: $SITEWARDEN_TOKEN; with --proposal)")
	cmd.Flags().StringVar(&f.ca, "ca", "", "PEM file of the CA to trust for --server (with --proposal)")
}

// scopeTestJSON is 'scope test -o json': the summary and each output line;
// the exit status is the same as the text form's.
func scopeTestJSON(cmd *cobra.Command, args []string) error {
	var buf bytes.Buffer
	sum, err := policies.RunTests(policies.DefaultConfig(), &buf, args...)
	out := struct {
		Files  int      `json:"files"`
		Passed int      `json:"passed"`
		Failed int      `json:"failed"`
		Error  string   `json:"error,omitempty"`
		Lines  []string `json:"lines"`
	}{Files: sum.Files, Passed: sum.Passed, Failed: sum.Failed, Lines: strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")}
	if err != nil {
		out.Error = err.Error()
	}
	enc := json.NewEncoder(cmd.OutOrStdout())
	enc.SetIndent("", "  ")
	if e := enc.Encode(out); e != nil {
		return e
	}
	return err
}
