package cli

import (
	"fmt"
	"io"
	"net/url"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/sitewarden/sitewarden/control-plane/web"
)

// newReportCmd is 'sitewarden report client': the monthly service review
// of one client, as the web UI's Client report page shows it.
func newReportCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "report", Short: "Reports for the supervisors' reviews"}
	var f apiFlags
	f.add(cmd)
	var client, month string
	c := &cobra.Command{
		Use:   "client --client C [--month YYYY-MM]",
		Short: "Monthly service review of one client: goals, outcomes, escalations, accuracy, top workflows, time saved",
		Args:  cobra.NoArgs,
		RunE: runAPI(&f, func(*cobra.Command, []string) (string, string, any, error) {
			if err := needClient(client); err != nil {
				return "", "", nil, err
			}
			if _, err := time.Parse("2006-01", month); err != nil {
				return "", "", nil, usageError{fmt.Errorf("--month %q: use YYYY-MM, e.g. 2026-11", month)}
			}
			q := url.Values{"client": {client}, "month": {month}, "format": {"json"}}
			return "GET", "/report?" + q.Encode(), nil, nil
		}, printReport),
	}
	c.Flags().StringVar(&client, "client", "", "client to report on (required)")
	c.Flags().StringVar(&month, "month", time.Now().UTC().Format("2006-01"), "month, YYYY-MM (default: this month, UTC)")
	cmd.AddCommand(c)
	return cmd
}

func printReport(w io.Writer, r *web.Report) {
	fmt.Fprintf(w, "Service review %s, %s (%s to %s UTC)\n\n", r.Client, r.Month, r.From.Format(time.DateOnly), r.To.Format(time.DateOnly))
	fmt.Fprintf(w, "goals            %d\n", r.Goals)
	var sts []string
	for st := range r.ByStatus {
		sts = append(sts, st)
	}
	sort.Strings(sts)
	for _, st := range sts {
		fmt.Fprintf(w, "  %-16s %d\n", st, r.ByStatus[st])
	}
	fmt.Fprintf(w, "resolved rate    %.1f%%\nescalations      %d (escalation rate %.1f%%)\n", r.ResolvedRate*100, r.Escalations, r.EscalationRate*100)
	fmt.Fprintf(w, "time saved       %.1f h (estimate)\n\n", r.HoursSaved)
	var rows [][]string
	for _, wl := range r.TopWorkflows {
		rows = append(rows, []string{wl.Workflow, fmt.Sprint(wl.Goals), fmt.Sprint(wl.ByStatus["resolved"]), fmt.Sprint(wl.ByStatus["escalated"]),
			fmt.Sprintf("%.1f%%", wl.EscalationRate*100), fmt.Sprintf("%.1f", wl.HoursSaved)})
	}
	table(w, "WORKFLOW\tGOALS\tRESOLVED\tESCALATED\tESC.RATE\tHOURS SAVED", rows, "")
	fmt.Fprintln(w)
	switch {
	case !r.AccuracyReady:
		fmt.Fprintln(w, "accuracy: no graded samples yet")
	case len(r.Accuracy) == 0:
		fmt.Fprintln(w, "accuracy: no samples graded this month")
	default:
		rows = rows[:0]
		for _, a := range r.Accuracy {
			rows = append(rows, []string{a.Workflow, fmt.Sprint(a.Correct), fmt.Sprint(a.Incorrect), fmt.Sprint(a.Unsafe), fmt.Sprintf("%.1f%%", a.Rate()*100)})
		}
		table(w, "WORKFLOW\tCORRECT\tINCORRECT\tUNSAFE\tACCURACY", rows, "")
	}
	keys := make([]string, 0, len(r.Assumptions))
	for k := range r.Assumptions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprint(w, "\nassumption: time saved = resolved goals × minutes per goal:")
	for _, k := range keys {
		name := k
		if k == "*" {
			name = "any other workflow"
		}
		fmt.Fprintf(w, " %s %g min;", name, r.Assumptions[k])
	}
	fmt.Fprintln(w)
}
