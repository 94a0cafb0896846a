package cli

import (
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sitewarden/sitewarden/control-plane/api"
)

// listFlags are the paging flags of list commands.
type listFlags struct {
	client    string
	limit     int
	pageToken string
}

func (l *listFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&l.client, "client", "", "client to list (required unless your account reads one client)")
	cmd.Flags().IntVar(&l.limit, "limit", 50, "items per page (1-500)")
	cmd.Flags().StringVar(&l.pageToken, "page-token", "", "next_page_token of the previous page")
}

func (l *listFlags) query() string {
	q := url.Values{}
	if l.client != "" {
		q.Set("client", l.client)
	}
	q.Set("limit", fmt.Sprint(l.limit))
	if l.pageToken != "" {
		q.Set("page_token", l.pageToken)
	}
	return "?" + q.Encode()
}

func table(w io.Writer, header string, rows [][]string, next string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
	if next != "" {
		fmt.Fprintf(w, "more: --page-token %s\n", next)
	}
}

func pathID(client, id string) string { return url.PathEscape(client) + "/" + url.PathEscape(id) }

// runAPI builds a command body that calls the API and prints the answer.
func runAPI[T any](f *apiFlags, req func(cmd *cobra.Command, args []string) (method, path string, body any, err error), text func(io.Writer, *T)) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := f.client(true)
		if err != nil {
			return err
		}
		method, path, body, err := req(cmd, args)
		if err != nil {
			return err
		}
		raw, err := c.call(cmd.Context(), method, path, body)
		if err != nil {
			return err
		}
		var v T
		return show(cmd, f.output, raw, &v, func(w io.Writer, _ any) { text(w, &v) })
	}
}

func needClient(client string) error {
	if client == "" {
		return usageError{fmt.Errorf("--client is required")}
	}
	return nil
}

func newEscalationsCmd() *cobra.Command {
	f := &apiFlags{}
	cmd := &cobra.Command{Use: "escalations", Short: "List, show, claim and resolve escalations", Args: cobra.NoArgs}
	f.add(cmd)
	var l listFlags
	list := &cobra.Command{Use: "list --client C", Short: "List a client's escalations, oldest first", Args: cobra.NoArgs,
		RunE: runAPI(f, func(*cobra.Command, []string) (string, string, any, error) {
			return "GET", "/api/v1/escalations" + l.query(), nil, nil
		}, func(w io.Writer, p *api.Page[api.EscalationView]) {
			var rows [][]string
			for _, e := range p.Items {
				rows = append(rows, []string{e.ID, e.Site, e.Status, e.ClaimedBy, fmtTime(e.ReceivedAt), e.Reason})
			}
			table(w, "ID\tSITE\tSTATUS\tCLAIMED BY\tRECEIVED\tREASON", rows, p.NextPageToken)
		})}
	l.add(list)
	var client, note string
	one := func(use, short, suffix string, post bool) *cobra.Command {
		c := &cobra.Command{Use: use, Short: short, Args: cobra.ExactArgs(1),
			RunE: runAPI(f, func(_ *cobra.Command, args []string) (string, string, any, error) {
				if err := needClient(client); err != nil {
					return "", "", nil, err
				}
				p := "/api/v1/escalations/" + pathID(client, args[0]) + suffix
				switch {
				case suffix == "/resolve":
					return "POST", p, api.NoteRequest{Note: note}, nil
				case post:
					return "POST", p, nil, nil
				}
				return "GET", p, nil, nil
			}, func(w io.Writer, e *api.EscalationView) {
				fmt.Fprintf(w, "escalation %s/%s (site %s, goal %s): %s\n", e.Client, e.ID, e.Site, e.GoalID, e.Status)
				fmt.Fprintf(w, "reason: %s\n", e.Reason)
				if e.SuggestedNextStep != "" {
					fmt.Fprintf(w, "suggested next step: %s\n", e.SuggestedNextStep)
				}
				if e.ClaimedBy != "" {
					fmt.Fprintf(w, "claimed by: %s\n", e.ClaimedBy)
				}
				if e.ResolvedBy != "" {
					fmt.Fprintf(w, "resolved by %s at %s: %s\n", e.ResolvedBy, fmtTime(e.ResolvedAt), e.Note)
				}
			})}
		c.Flags().StringVar(&client, "client", "", "client of the escalation (required)")
		return c
	}
	resolve := one("resolve ID --client C [--note TEXT]", "Resolve an escalation with a note", "/resolve", true)
	resolve.Flags().StringVar(&note, "note", "", "what was done")
	cmd.AddCommand(list, one("show ID --client C", "Show one escalation", "", false),
		one("claim ID --client C", "Claim an escalation so others know you handle it", "/claim", true), resolve)
	return cmd
}

func newApprovalsCmd() *cobra.Command {
	f := &apiFlags{}
	cmd := &cobra.Command{Use: "approvals", Short: "List, approve and deny gated actions", Args: cobra.NoArgs}
	f.add(cmd)
	var l listFlags
	list := &cobra.Command{Use: "list --client C", Short: "List a client's approval requests, oldest first", Args: cobra.NoArgs,
		RunE: runAPI(f, func(*cobra.Command, []string) (string, string, any, error) {
			return "GET", "/api/v1/approvals" + l.query(), nil, nil
		}, func(w io.Writer, p *api.Page[api.ApprovalView]) {
			var rows [][]string
			for _, a := range p.Items {
				rows = append(rows, []string{a.ID, a.Site, a.Status, a.Workflow, a.Action, fmt.Sprint(a.Target), fmtTime(a.ExpiresAt)})
			}
			table(w, "ID\tSITE\tSTATUS\tWORKFLOW\tACTION\tTARGET\tEXPIRES", rows, p.NextPageToken)
		})}
	l.add(list)
	decide := func(verb string) *cobra.Command {
		var client, reason string
		c := &cobra.Command{Use: verb + " ID --client C [--reason TEXT]", Short: strings.ToUpper(verb[:1]) + verb[1:] + " a pending approval request", Args: cobra.ExactArgs(1),
			RunE: runAPI(f, func(_ *cobra.Command, args []string) (string, string, any, error) {
				if err := needClient(client); err != nil {
					return "", "", nil, err
				}
				return "POST", "/api/v1/approvals/" + pathID(client, args[0]) + "/" + verb, api.NoteRequest{Note: reason}, nil
			}, func(w io.Writer, a *api.ApprovalView) {
				fmt.Fprintf(w, "approval %s/%s: %s by %s; the site receives the decision on its next sync\n", a.Client, a.ID, a.Status, a.DecidedBy)
			})}
		c.Flags().StringVar(&client, "client", "", "client of the approval (required)")
		c.Flags().StringVar(&reason, "reason", "", "why (kept in the site's audit log)")
		return c
	}
	cmd.AddCommand(list, decide("approve"), decide("deny"))
	return cmd
}

func newSitesCmd() *cobra.Command {
	f := &apiFlags{}
	cmd := &cobra.Command{Use: "sites", Aliases: []string{"runners"}, Short: "List and show enrolled sites (alias: runners)",
		Long: "List and show the enrolled sites: each is one runner at a client site, so 'sitewarden runners list|show'\nis the same command.",
		Args: cobra.NoArgs}
	f.add(cmd)
	var l listFlags
	list := &cobra.Command{Use: "list --client C", Short: "List a client's sites", Args: cobra.NoArgs,
		RunE: runAPI(f, func(*cobra.Command, []string) (string, string, any, error) {
			return "GET", "/api/v1/sites" + l.query(), nil, nil
		}, func(w io.Writer, p *api.Page[api.SiteView]) {
			var rows [][]string
			for _, s := range p.Items {
				rows = append(rows, []string{s.Site, s.RunnerVersion, fmtTime(s.LastSeen), fmtTime(s.CertNotAfter)})
			}
			table(w, "SITE\tVERSION\tLAST SEEN\tCERT EXPIRES", rows, p.NextPageToken)
		})}
	l.add(list)
	var client string
	showCmd := &cobra.Command{Use: "show SITE --client C", Short: "Show one site", Args: cobra.ExactArgs(1),
		RunE: runAPI(f, func(_ *cobra.Command, args []string) (string, string, any, error) {
			if err := needClient(client); err != nil {
				return "", "", nil, err
			}
			return "GET", "/api/v1/sites/" + pathID(client, args[0]), nil, nil
		}, func(w io.Writer, s *api.SiteView) {
			fmt.Fprintf(w, "site %s/%s (tenant %s)\nrunner version: %s\nlast seen: %s\nenrolled: %s\ncertificate %s expires %s\n",
				s.Client, s.Site, s.Tenant, s.RunnerVersion, fmtTime(s.LastSeen), fmtTime(s.EnrolledAt), s.CertSerial, fmtTime(s.CertNotAfter))
			if e := s.EnrolledBy; e != nil {
				fmt.Fprintf(w, "enrolled by %s token %s at %s\n", e.Kind, e.TokenID, fmtTime(e.EnrolledAt))
			}
		})}
	showCmd.Flags().StringVar(&client, "client", "", "client of the site (required)")
	cmd.AddCommand(list, showCmd)
	return cmd
}

func newGoalsCmd() *cobra.Command {
	f := &apiFlags{}
	cmd := &cobra.Command{Use: "goals", Short: "Submit goals to sites and show them", Args: cobra.NoArgs}
	f.add(cmd)
	var req api.GoalRequest
	var subject []string
	printGoal := func(w io.Writer, g *api.GoalView) {
		fmt.Fprintf(w, "goal %s/%s for site %s: %s\n", g.Client, g.ID, g.Site, g.Status)
		if g.Summary != "" {
			fmt.Fprintf(w, "summary: %s\n", g.Summary)
		}
	}
	submit := &cobra.Command{Use: "submit --client C --site S --agent A --workflow W [--subject k=v]...", Short: "Assign a goal to a site", Args: cobra.NoArgs,
		RunE: runAPI(f, func(*cobra.Command, []string) (string, string, any, error) {
			for _, kv := range subject {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return "", "", nil, usageError{fmt.Errorf("--subject %q: use key=value", kv)}
				}
				if req.Subject == nil {
					req.Subject = map[string]string{}
				}
				req.Subject[k] = v
			}
			return "POST", "/api/v1/goals", req, nil
		}, printGoal)}
	submit.Flags().StringVar(&req.Client, "client", "", "client (required)")
	submit.Flags().StringVar(&req.Site, "site", "", "site (required)")
	submit.Flags().StringVar(&req.Agent, "agent", "", "agent (required)")
	submit.Flags().StringVar(&req.Workflow, "workflow", "", "workflow (required)")
	submit.Flags().StringVar(&req.ID, "id", "", "goal id (default: generated)")
	submit.Flags().StringVar(&req.TicketText, "ticket-text", "", "ticket text (data for the agent, never instructions)")
	submit.Flags().StringArrayVar(&subject, "subject", nil, "subject attribute key=value (repeatable)")
	for _, n := range []string{"client", "site", "agent", "workflow"} {
		_ = submit.MarkFlagRequired(n)
	}
	var client string
	showCmd := &cobra.Command{Use: "show ID --client C", Short: "Show a goal and its outcome", Args: cobra.ExactArgs(1),
		RunE: runAPI(f, func(_ *cobra.Command, args []string) (string, string, any, error) {
			if err := needClient(client); err != nil {
				return "", "", nil, err
			}
			return "GET", "/api/v1/goals/" + pathID(client, args[0]), nil, nil
		}, printGoal)}
	showCmd.Flags().StringVar(&client, "client", "", "client of the goal (required)")
	cmd.AddCommand(submit, showCmd)
	return cmd
}
