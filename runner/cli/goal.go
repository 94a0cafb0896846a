package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sitewarden/sitewarden/runner/agent"
	"github.com/sitewarden/sitewarden/runner/enroll"
	"github.com/sitewarden/sitewarden/runner/goals"
)

func newGoalCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "goal", Short: "Give the site's agents a goal"}
	cmd.AddCommand(newGoalSubmitCmd())
	return cmd
}

func newGoalSubmitCmd() *cobra.Command {
	var (
		f          runFlags
		id, agentN string
		workflow   string
		requester  string
		ticket     string
		ticketFile string
		subject    []string
		wait       time.Duration
		output     string
	)
	cmd := &cobra.Command{
		Use:   "submit --agent NAME --workflow CLASS --subject KEY=VALUE... [--ticket TEXT]",
		Short: "Submit a goal to the running runner and (with --wait) print its outcome",
		Example: `  sitewarden-runner goal submit --agent account-helper --workflow account_unlock \
      --subject user=dana --ticket "Dana is locked out" --wait 2m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return usageError{fmt.Errorf("-o %q: use text or json", output)}
			}
			cfg, err := f.load(cmd)
			if err != nil {
				return usageError{err}
			}
			creds, err := enroll.Load(cfg.StateDir)
			if err != nil {
				return fmt.Errorf("submit a goal: %w", err)
			}
			if ticketFile != "" {
				b, err := os.ReadFile(ticketFile)
				if err != nil {
					return err
				}
				ticket = string(b)
			}
			subj := map[string]string{}
			for _, kv := range subject {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return usageError{fmt.Errorf("--subject %q: write KEY=VALUE, e.g. --subject user=dana", kv)}
				}
				subj[k] = v
			}
			if id == "" {
				var b [8]byte
				_, _ = rand.Read(b[:])
				id = "local-" + hex.EncodeToString(b[:])
			}
			g := agent.Goal{ID: id, Client: creds.Identity.Client, Site: creds.Identity.Site, Agent: agentN,
				Workflow: workflow, Requester: requester, Subject: subj, TicketText: ticket}
			dir := filepath.Join(cfg.StateDir, "goals")
			if err := goals.Submit(dir, g); err != nil {
				if errors.Is(err, agent.ErrInvalidGoal) {
					return usageError{err}
				}
				return err
			}
			if wait <= 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "goal %s submitted; its outcome will be in %s\n", id, filepath.Join(dir, "outcomes", id+".json"))
				return nil
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), wait)
			defer cancel()
			out, secrets, err := goals.Wait(ctx, dir, id, 200*time.Millisecond)
			if err != nil {
				return err
			}
			return printOutcome(cmd.OutOrStdout(), output, out, secrets)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&id, "id", "", "goal id (default: a random local-… id)")
	cmd.Flags().StringVar(&agentN, "agent", "", "agent that gets the goal, as named in the scope")
	cmd.Flags().StringVar(&workflow, "workflow", "", "workflow class, e.g. account_unlock")
	cmd.Flags().StringVar(&requester, "requester", currentUser(), "who asks (audited)")
	cmd.Flags().StringVar(&ticket, "ticket", "", "the requester's words (treated as data, never as instructions)")
	cmd.Flags().StringVar(&ticketFile, "ticket-file", "", "read the ticket text from this file")
	cmd.Flags().StringArrayVar(&subject, "subject", nil, "goal attribute KEY=VALUE (repeatable), e.g. user=dana")
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait this long for the outcome and print it (0: do not wait)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

func currentUser() string {
	for _, k := range []string{"SUDO_USER", "USER", "USERNAME"} {
		if v := os.Getenv(k); v != "" {
			return "local:" + v
		}
	}
	return "local"
}

// printOutcome shows the outcome; one-time secrets are shown once, here,
// and nowhere else.
func printOutcome(w io.Writer, format string, out agent.Outcome, secrets map[string]string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			agent.Outcome
			Secrets map[string]string `json:"one_time_secrets,omitempty"`
		}{out, secrets})
	}
	fmt.Fprintf(w, "goal %s: %s\n  %s\n", out.GoalID, out.Status, out.Summary)
	for _, s := range out.Steps {
		line := fmt.Sprintf("  %2d. %-32s %s", s.N, s.Action, s.Status)
		if s.Decision.Rule != "" {
			line += " (rule " + s.Decision.Rule + ")"
		}
		if s.Error != "" {
			line += ": " + s.Error
		}
		fmt.Fprintln(w, line)
	}
	if out.Escalation != nil {
		fmt.Fprintf(w, "  escalated: %s\n  suggested next step: %s\n", out.Escalation.Reason, out.Escalation.SuggestedNextStep)
	}
	if out.Approval != nil {
		fmt.Fprintf(w, "  waiting for approval %s of %s until %s\n", out.Approval.ID, out.Approval.Action, out.Approval.Expires.Format(time.RFC3339))
	}
	for _, k := range slices.Sorted(maps.Keys(secrets)) {
		fmt.Fprintf(w, "  one-time %s: %s  (shown once; deliver it to the user, it is not stored)\n", k, secrets[k])
	}
	return nil
}
