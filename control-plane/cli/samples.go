package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/sitewarden/sitewarden/control-plane/api"
)

// newSamplesCmd is `sitewarden samples`: the daily review sample.
func newSamplesCmd() *cobra.Command {
	f := &apiFlags{}
	cmd := &cobra.Command{
		Use:   "samples",
		Short: "Grade the daily sample of agent decisions; show accuracy",
		Long: `Each day after midnight UTC the control plane draws a random sample of the
previous day's agent decisions (outcomes, escalations, approval requests),
stratified by client and workflow. Graders take the next one, read what the
agent decided, and mark it correct, incorrect or unsafe (with a note); the
grades make the accuracy per client and workflow.`,
		Args: cobra.NoArgs,
	}
	f.add(cmd)
	cmd.AddCommand(newSamplesNextCmd(f), newSamplesGradeCmd(f), newSamplesListCmd(f), newSamplesAccuracyCmd(f), newSamplesDrawCmd(f))
	return cmd
}

func printSample(w io.Writer, s *api.SampleView) {
	fmt.Fprintf(w, "sample %s (day %s): %s %s of client %s, site %s\n", s.ID, s.Day, s.Kind, s.ItemID, s.Client, s.Site)
	fmt.Fprintf(w, "workflow: %s", s.Workflow)
	if s.Agent != "" {
		fmt.Fprintf(w, ", agent %s", s.Agent)
	}
	if s.GoalID != "" {
		fmt.Fprintf(w, ", goal %s", s.GoalID)
	}
	fmt.Fprintf(w, "\nreceived: %s\n", fmtTime(s.ReceivedAt))
	if len(s.Item) > 0 {
		var buf bytes.Buffer
		if json.Indent(&buf, s.Item, "  ", "  ") == nil {
			fmt.Fprintf(w, "decision:\n  %s\n", buf.String())
		}
	}
	if s.Grade != "" {
		fmt.Fprintf(w, "graded %s by %s at %s", s.Grade, s.GradedBy, fmtTime(s.GradedAt))
		if s.Note != "" {
			fmt.Fprintf(w, ": %s", s.Note)
		}
		fmt.Fprintln(w)
	}
}

func newSamplesNextCmd(f *apiFlags) *cobra.Command {
	var client, workflow string
	cmd := &cobra.Command{Use: "next [--client C] [--workflow W]", Short: "Show the oldest ungraded sample to grade", Args: cobra.NoArgs,
		RunE: runAPI(f, func(*cobra.Command, []string) (string, string, any, error) {
			q := url.Values{}
			if client != "" {
				q.Set("client", client)
			}
			if workflow != "" {
				q.Set("workflow", workflow)
			}
			return "GET", "/api/v1/samples/next?" + q.Encode(), nil, nil
		}, func(w io.Writer, s *api.SampleView) {
			printSample(w, s)
			fmt.Fprintf(w, "grade it: sitewarden samples grade %s correct|incorrect|unsafe [--note TEXT]\n", s.ID)
		})}
	cmd.Flags().StringVar(&client, "client", "", "only this client's samples")
	cmd.Flags().StringVar(&workflow, "workflow", "", "only this workflow's samples")
	return cmd
}

func newSamplesGradeCmd(f *apiFlags) *cobra.Command {
	var note string
	cmd := &cobra.Command{Use: "grade ID correct|incorrect|unsafe [--note TEXT]", Short: "Grade a sample (incorrect and unsafe need a note)",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usageError{fmt.Errorf("samples grade: want ID and a grade (correct, incorrect or unsafe), got %d arguments", len(args))}
			}
			return nil
		},
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 1 {
				return []string{"correct", "incorrect", "unsafe"}, cobra.ShellCompDirectiveNoFileComp
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: runAPI(f, func(_ *cobra.Command, args []string) (string, string, any, error) {
			return "POST", "/api/v1/samples/" + url.PathEscape(args[0]) + "/grade", api.GradeRequest{Grade: args[1], Note: note}, nil
		}, func(w io.Writer, s *api.SampleView) {
			fmt.Fprintf(w, "sample %s graded %s; next: sitewarden samples next\n", s.ID, s.Grade)
		})}
	cmd.Flags().StringVar(&note, "note", "", "what the agent should have done (required for incorrect and unsafe)")
	return cmd
}

func newSamplesListCmd(f *apiFlags) *cobra.Command {
	var l listFlags
	var day, workflow, graded string
	cmd := &cobra.Command{Use: "list [--client C] [--day D] [--graded yes|no]", Short: "List samples, oldest day first", Args: cobra.NoArgs,
		RunE: runAPI(f, func(*cobra.Command, []string) (string, string, any, error) {
			q := l.query()
			for k, v := range map[string]string{"day": day, "workflow": workflow, "graded": graded} {
				if v != "" {
					q += "&" + k + "=" + url.QueryEscape(v)
				}
			}
			return "GET", "/api/v1/samples" + q, nil, nil
		}, func(w io.Writer, p *api.Page[api.SampleView]) {
			var rows [][]string
			for _, s := range p.Items {
				grade := s.Grade
				if grade == "" {
					grade = "-"
				}
				rows = append(rows, []string{s.ID, s.Day, s.Client, s.Workflow, s.Kind, s.ItemID, grade, s.GradedBy})
			}
			table(w, "ID\tDAY\tCLIENT\tWORKFLOW\tKIND\tITEM\tGRADE\tGRADED BY", rows, p.NextPageToken)
		})}
	l.add(cmd)
	cmd.Flags().Lookup("client").Usage = "only this client's samples"
	cmd.Flags().StringVar(&day, "day", "", "only this day's sample (2006-01-02)")
	cmd.Flags().StringVar(&workflow, "workflow", "", "only this workflow")
	cmd.Flags().StringVar(&graded, "graded", "", "yes: graded ones, no: ungraded ones")
	return cmd
}

func newSamplesAccuracyCmd(f *apiFlags) *cobra.Command {
	var client, from, to string
	cmd := &cobra.Command{Use: "accuracy [--client C] [--from D] [--to D]", Short: "Accuracy from graded samples, per client and workflow", Args: cobra.NoArgs,
		RunE: runAPI(f, func(*cobra.Command, []string) (string, string, any, error) {
			q := url.Values{}
			for k, v := range map[string]string{"client": client, "from": from, "to": to} {
				if v != "" {
					q.Set(k, v)
				}
			}
			return "GET", "/api/v1/accuracy?" + q.Encode(), nil, nil
		}, func(w io.Writer, a *struct{ Items []api.AccuracyView }) {
			var rows [][]string
			for _, x := range a.Items {
				rate := "-"
				if x.Graded > 0 {
					rate = fmt.Sprintf("%.1f%%", 100*x.Rate)
				}
				rows = append(rows, []string{x.Client, x.Workflow, rate, fmt.Sprint(x.Correct), fmt.Sprint(x.Incorrect), fmt.Sprint(x.Unsafe), fmt.Sprint(x.Pending)})
			}
			table(w, "CLIENT\tWORKFLOW\tACCURACY\tCORRECT\tINCORRECT\tUNSAFE\tUNGRADED", rows, "")
		})}
	cmd.Flags().StringVar(&client, "client", "", "only this client")
	cmd.Flags().StringVar(&from, "from", "", "first sample day (2006-01-02, inclusive)")
	cmd.Flags().StringVar(&to, "to", "", "last sample day (2006-01-02, exclusive)")
	return cmd
}

func newSamplesDrawCmd(f *apiFlags) *cobra.Command {
	var day, from, to string
	var quiet bool
	cmd := &cobra.Command{Use: "draw --day D | --from D --to D", Short: "Admin: draw past days' samples now (the daily job does it after midnight UTC)",
		Long: `Draw the review sample of a past day (UTC) now, or of every day from --from
to --to (both included) to catch up after the control plane was down: days
drawn already are skipped. A progress bar shows on stderr for several days
(-q: none).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			days, err := drawDays(day, from, to)
			if err != nil {
				return err
			}
			c, err := f.client(true)
			if err != nil {
				return err
			}
			var bar *progressbar.ProgressBar
			if len(days) > 1 && !quiet && f.output == "text" {
				bar = progressbar.NewOptions(len(days), progressbar.OptionSetWriter(cmd.ErrOrStderr()), progressbar.OptionSetDescription("drawing"),
					progressbar.OptionShowCount(), progressbar.OptionOnCompletion(func() { fmt.Fprintln(cmd.ErrOrStderr()) }))
			}
			results := []api.BatchView{}
			var lines []string
			for _, d := range days {
				raw, err := c.call(cmd.Context(), "POST", "/api/v1/samples/draw", api.DrawRequest{Day: d})
				switch {
				case err != nil && strings.Contains(err.Error(), "(drawn)"):
					lines = append(lines, fmt.Sprintf("%s was drawn already", d))
				case err != nil:
					return fmt.Errorf("samples draw %s: %w", d, err)
				default:
					var b api.BatchView
					if err := json.Unmarshal(raw, &b); err != nil {
						return fmt.Errorf("decode answer: %w", err)
					}
					results = append(results, b)
					lines = append(lines, fmt.Sprintf("drew %d samples of %d decisions on %s", b.Samples, b.Candidates, b.Day))
				}
				if bar != nil {
					_ = bar.Add(1)
				}
			}
			if f.output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(map[string][]api.BatchView{"drawn": results})
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), strings.Join(lines, "\n"))
			return err
		}}
	cmd.Flags().StringVar(&day, "day", "", "the day (2006-01-02, UTC)")
	cmd.Flags().StringVar(&from, "from", "", "first day to draw (with --to)")
	cmd.Flags().StringVar(&to, "to", "", "last day to draw, included")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress bar")
	return cmd
}

// maxDrawDays bounds one catch-up.
const maxDrawDays = 366

// drawDays lists the days --day or --from/--to name.
func drawDays(day, from, to string) ([]string, error) {
	switch {
	case day != "" && (from != "" || to != ""):
		return nil, usageError{errors.New("samples draw: give --day, or --from and --to")}
	case day != "":
		return []string{day}, nil
	case from == "" || to == "":
		return nil, usageError{errors.New("samples draw: give --day D, or --from D and --to D")}
	}
	a, err := time.Parse(time.DateOnly, from)
	if err != nil {
		return nil, usageError{fmt.Errorf("--from %q: use 2006-01-02", from)}
	}
	b, err := time.Parse(time.DateOnly, to)
	if err != nil {
		return nil, usageError{fmt.Errorf("--to %q: use 2006-01-02", to)}
	}
	if b.Before(a) || b.Sub(a) >= maxDrawDays*24*time.Hour {
		return nil, usageError{fmt.Errorf("samples draw: --from %s --to %s: want 1-%d days, --to not before --from", from, to, maxDrawDays)}
	}
	var out []string
	for d := a; !d.After(b); d = d.Add(24 * time.Hour) {
		out = append(out, d.Format(time.DateOnly))
	}
	return out, nil
}
