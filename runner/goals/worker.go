package goals

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sitewarden/sitewarden/runner/agent"
	rsync "github.com/sitewarden/sitewarden/runner/sync"

	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

// Agent runs goals. *agent.Agent satisfies it.
type Agent interface {
	Run(ctx context.Context, g agent.Goal) agent.Outcome
	Resume(ctx context.Context, d agent.ApprovalDecision) (agent.Outcome, error)
}

// Inbox lists what the control plane sent. *sync.DirInbox satisfies it.
type Inbox interface {
	Since(stream string, after uint64, max int) ([]rsync.Delivered, error)
}

// Outbox keeps what goes up until the control plane has it. *sync.DirOutbox
// satisfies it.
type Outbox interface {
	Add(ctx context.Context, it rsync.Item) error
}

// Config tunes the worker.
type Config struct {
	// Dir holds the spool, the outcomes and the cursors.
	Dir string
	// Client and Site are this runner's, from its certificate: a goal for
	// another client is refused.
	Client, Site string
	// PollInterval is how often the inbox and the spool are read.
	PollInterval time.Duration
	// MaxPerPoll bounds the items handled per stream per poll.
	MaxPerPoll int
}

// DefaultConfig returns a 1 s poll and 16 items per poll.
func DefaultConfig() Config {
	return Config{PollInterval: time.Second, MaxPerPoll: 16}
}

// Validate reports a configuration the worker cannot run with.
func (c Config) Validate() error {
	switch {
	case c.Dir == "":
		return errors.New("goals: dir is empty")
	case c.Client == "":
		return errors.New("goals: client is empty")
	case c.PollInterval <= 0:
		return fmt.Errorf("goals: poll interval %s must be positive", c.PollInterval)
	case c.MaxPerPoll < 1:
		return fmt.Errorf("goals: max per poll %d must be positive", c.MaxPerPoll)
	}
	return nil
}

// Worker moves goals from the inbox and the spool through the agent to the
// outbox. One goroutine runs it.
type Worker struct {
	cfg    Config
	agent  Agent
	inbox  Inbox
	outbox Outbox
	log    *slog.Logger
	// published, when set, is called after results went to the outbox, so
	// the sync client sends them now rather than at its next resync.
	published func()
}

// OnPublish sets fn to be called after results went to the outbox. Call it
// before Run.
func (w *Worker) OnPublish(fn func()) { w.published = fn }

// New checks cfg, creates its directories and returns a worker.
func New(cfg Config, a Agent, in Inbox, out Outbox, log *slog.Logger) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for _, d := range []string{"spool", "outcomes"} {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("goals: %w", err)
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Worker{cfg: cfg, agent: a, inbox: in, outbox: out, log: log.With("component", "goals")}, nil
}

// Run polls until ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	t := time.NewTicker(w.cfg.PollInterval)
	defer t.Stop()
	for {
		if err := w.Poll(ctx); err != nil && ctx.Err() == nil {
			w.log.Error("goal intake failed; will retry", "err", err.Error())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Poll handles what is waiting: approval decisions first (they unblock
// goals), then assigned goals, then local submissions.
func (w *Worker) Poll(ctx context.Context) error {
	return errors.Join(w.pollApprovals(ctx), w.pollGoals(ctx), w.pollSpool(ctx))
}

func (w *Worker) pollGoals(ctx context.Context) error {
	after, err := w.cursor(rsync.StreamGoals)
	if err != nil {
		return err
	}
	items, err := w.inbox.Since(rsync.StreamGoals, after, w.cfg.MaxPerPoll)
	if err != nil {
		return err
	}
	for _, it := range items {
		if ctx.Err() != nil {
			return nil
		}
		ga, ok := it.Message.(*pb.GoalAssignment)
		if !ok || ga.GetGoal() == nil {
			w.log.Warn("skipping a non-goal item in the goals stream", "cursor", it.Cursor)
		} else if err := w.handle(ctx, fromProtoGoal(ga.GetGoal())); err != nil {
			return err
		}
		if err := w.setCursor(rsync.StreamGoals, it.Cursor); err != nil {
			return err
		}
	}
	return nil
}

func (w *Worker) pollApprovals(ctx context.Context) error {
	after, err := w.cursor(rsync.StreamApprovals)
	if err != nil {
		return err
	}
	items, err := w.inbox.Since(rsync.StreamApprovals, after, w.cfg.MaxPerPoll)
	if err != nil {
		return err
	}
	for _, it := range items {
		if ctx.Err() != nil {
			return nil
		}
		if d, ok := it.Message.(*pb.ApprovalDecision); ok {
			out, err := w.agent.Resume(ctx, agent.ApprovalDecision{
				ApprovalID: d.GetApprovalId(), Approved: d.GetVerdict() == pb.Verdict_VERDICT_APPROVED,
				By: d.GetDecidedBy(), Reason: d.GetReason(), At: d.GetDecidedAt().AsTime(),
			})
			switch {
			case errors.Is(err, agent.ErrNoApproval):
				w.log.Warn("approval decision for no waiting goal", "approval", d.GetApprovalId())
			case err != nil:
				return err
			default:
				if err := w.publish(ctx, out, nil); err != nil {
					return err
				}
			}
		}
		if err := w.setCursor(rsync.StreamApprovals, it.Cursor); err != nil {
			return err
		}
	}
	return nil
}

var goalIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

func (w *Worker) pollSpool(ctx context.Context) error {
	ents, err := os.ReadDir(filepath.Join(w.cfg.Dir, "spool"))
	if err != nil {
		return fmt.Errorf("goals: read spool: %w", err)
	}
	n := 0
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !goalIDRE.MatchString(id) || ctx.Err() != nil {
			continue
		}
		if n++; n > w.cfg.MaxPerPoll {
			break
		}
		path := filepath.Join(w.cfg.Dir, "spool", e.Name())
		g, err := readGoal(path)
		if err == nil && g.ID != id {
			err = fmt.Errorf("file %s holds goal %q", e.Name(), g.ID)
		}
		if err != nil {
			w.log.Warn("refusing a malformed local submission", "file", e.Name(), "err", err.Error())
			w.writeOutcome(agent.Outcome{GoalID: id, Status: agent.StatusFailed, Summary: "malformed submission: " + err.Error()})
		} else if err := w.handle(ctx, g); err != nil {
			return err
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("goals: remove %s: %w", e.Name(), err)
		}
	}
	return nil
}

func readGoal(path string) (agent.Goal, error) {
	f, err := os.Open(path)
	if err != nil {
		return agent.Goal{}, err
	}
	defer f.Close()
	var g agent.Goal
	dec := json.NewDecoder(io.LimitReader(f, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&g); err != nil {
		return agent.Goal{}, err
	}
	return g, nil
}

// handle runs one goal and publishes its results.
func (w *Worker) handle(ctx context.Context, g agent.Goal) error {
	if g.Client != w.cfg.Client {
		w.log.Warn("refusing a goal for another client", "goal", g.ID, "client", g.Client)
		return w.publish(ctx, agent.Outcome{GoalID: g.ID, Status: agent.StatusDenied,
			Summary: fmt.Sprintf("this runner serves client %q, not %q", w.cfg.Client, g.Client)}, &g)
	}
	if g.Site == "" {
		g.Site = w.cfg.Site
	}
	w.log.Info("goal started", "goal", g.ID, "agent", g.Agent, "workflow", g.Workflow)
	out := w.agent.Run(ctx, g)
	w.log.Info("goal ended", "goal", g.ID, "status", string(out.Status), "steps", len(out.Steps), "out_of_scope", out.OutOfScope)
	return w.publish(ctx, out, &g)
}

// publish writes the local outcome file and puts the results in the
// outbox: an approval request while the goal waits, an escalation and the
// outcome when it ended.
func (w *Worker) publish(ctx context.Context, out agent.Outcome, g *agent.Goal) error {
	w.writeOutcome(out)
	var msgs []protoMessage
	switch out.Status {
	case agent.StatusAwaitingApproval:
		if out.Approval != nil {
			msgs = append(msgs, toProtoApproval(*out.Approval))
		}
	case agent.StatusEscalated:
		if g == nil {
			g = &agent.Goal{ID: out.GoalID}
		}
		msgs = append(msgs, toProtoEscalation(*g, out), toProtoOutcome(out))
	default:
		msgs = append(msgs, toProtoOutcome(out))
	}
	for _, m := range msgs {
		it, err := rsync.NewItem(m)
		if err != nil {
			return fmt.Errorf("goals: %w", err)
		}
		if err := w.outbox.Add(ctx, it); err != nil {
			return fmt.Errorf("goals: outbox: %w", err)
		}
	}
	if len(msgs) > 0 && w.published != nil {
		w.published()
	}
	return nil
}

// writeOutcome records the outcome for a local submitter; secrets go to a
// separate 0600 file the submitter deletes after reading.
func (w *Worker) writeOutcome(out agent.Outcome) {
	if !goalIDRE.MatchString(out.GoalID) {
		return
	}
	dir := filepath.Join(w.cfg.Dir, "outcomes")
	if len(out.Secrets) > 0 {
		raw, _ := json.Marshal(out.Secrets)
		if err := rsync.WriteDurable(filepath.Join(dir, out.GoalID+".secret"), raw); err != nil {
			w.log.Error("could not keep the one-time secret for the requester", "goal", out.GoalID, "err", err.Error())
		}
	}
	raw, _ := json.MarshalIndent(out, "", "  ")
	if err := rsync.WriteDurable(filepath.Join(dir, out.GoalID+".json"), raw); err != nil {
		w.log.Error("could not write the outcome file", "goal", out.GoalID, "err", err.Error())
	}
}

func (w *Worker) cursor(stream string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(w.cfg.Dir, "cursor-"+stream))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("goals: cursor: %w", err)
	}
	c, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("goals: cursor %s: %w", stream, err)
	}
	return c, nil
}

func (w *Worker) setCursor(stream string, c uint64) error {
	return rsync.WriteDurable(filepath.Join(w.cfg.Dir, "cursor-"+stream), []byte(strconv.FormatUint(c, 10)+"\n"))
}
