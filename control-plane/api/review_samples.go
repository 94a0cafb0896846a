package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/store"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

// SamplerConfig sizes the daily review sample.
type SamplerConfig struct {
	// PerStratum is how many decisions are drawn per client and workflow
	// and day (all of them when fewer).
	PerStratum int
	// MaxPerDay caps a day's sample; strata share it evenly.
	MaxPerDay int
	// MaxCandidates bounds how many of a day's items are read.
	MaxCandidates int
	// Kinds are the agent decisions sampled.
	Kinds []store.Kind
	// CheckEvery is how often the job checks that yesterday is drawn.
	CheckEvery time.Duration
}

// DefaultSamplerConfig returns production settings: 5 per client and
// workflow, at most 500 a day, outcomes, escalations and approval requests.
func DefaultSamplerConfig() SamplerConfig {
	return SamplerConfig{PerStratum: 5, MaxPerDay: 500, MaxCandidates: 1_000_000,
		Kinds: []store.Kind{store.KindOutcome, store.KindEscalation, store.KindApprovalRequest}, CheckEvery: time.Hour}
}

// Validate reports a setting that cannot work.
func (c SamplerConfig) Validate() error {
	switch {
	case c.PerStratum < 1 || c.MaxPerDay < 1 || c.MaxCandidates < 1:
		return fmt.Errorf("sampler config: per-stratum %d, max per day %d and max candidates %d must be positive", c.PerStratum, c.MaxPerDay, c.MaxCandidates)
	case len(c.Kinds) == 0:
		return errors.New("sampler config: no kinds to sample")
	case c.CheckEvery <= 0:
		return fmt.Errorf("sampler config: check interval %s must be positive", c.CheckEvery)
	}
	for _, k := range c.Kinds {
		if !k.Valid() {
			return fmt.Errorf("sampler config: kind %q is not an item kind", k)
		}
	}
	return nil
}

// SampleStore is what the sampler needs of the store.
type SampleStore interface {
	ItemsReceived(ctx context.Context, kinds []store.Kind, from, to time.Time, after store.ItemCursor, limit int) ([]store.Item, error)
	AddSampleBatch(ctx context.Context, b store.SampleBatch, samples []store.Sample) error
	Goal(ctx context.Context, client, id string) (store.Goal, error)
}

type sampleStore struct {
	store.Review
	goals interface {
		Goal(ctx context.Context, client, id string) (store.Goal, error)
	}
}

func (s sampleStore) Goal(ctx context.Context, client, id string) (store.Goal, error) {
	return s.goals.Goal(ctx, client, id)
}

var _ SampleStore = sampleStore{}

// Once runs a job once per period across control plane replicas
// (store.Once: store.LocalOnce for one process, the PostgreSQL store's
// advisory lock for several).
type Once interface {
	RunOnce(ctx context.Context, name string, period time.Time, fn func(context.Context) error) (ran bool, err error)
}

// Sampler draws each day's random review sample of agent decisions,
// stratified by client and workflow.
type Sampler struct {
	cfg SamplerConfig
	st  SampleStore
	now func() time.Time
	log *slog.Logger
}

// NewSampler returns a sampler over st; now may be nil.
func NewSampler(cfg SamplerConfig, st SampleStore, log *slog.Logger, now func() time.Time) (*Sampler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	return &Sampler{cfg: cfg, st: st, now: now, log: log}, nil
}

// dayOf is the UTC midnight of t's day.
func dayOf(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }

// Run draws yesterday's sample now and then every CheckEvery, through
// once so that one replica draws it, until ctx ends.
func (sm *Sampler) Run(ctx context.Context, once Once) {
	if err := sm.cfg.Validate(); err != nil {
		sm.log.Error("daily samples disabled", "err", err)
		return
	}
	t := time.NewTicker(sm.cfg.CheckEvery)
	defer t.Stop()
	for {
		day := dayOf(sm.now()).Add(-24 * time.Hour)
		_, err := once.RunOnce(ctx, "daily-samples", day, func(ctx context.Context) error {
			_, err := sm.Draw(ctx, day)
			if errors.Is(err, store.ErrConflict) {
				return nil // drawn already (another replica, or before a restart)
			}
			return err
		})
		if err != nil && ctx.Err() == nil {
			sm.log.Error("daily samples", "day", day.Format(time.DateOnly), "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// meta names what an item is about: its goal, agent and workflow.
func (sm *Sampler) meta(ctx context.Context, it store.Item) (goal, agent, workflow string) {
	switch it.Kind {
	case store.KindEscalation:
		var e pb.Escalation
		if proto.Unmarshal(it.Payload, &e) == nil {
			return e.GetGoal().GetGoalId(), e.GetGoal().GetAgent(), e.GetGoal().GetWorkflow()
		}
	case store.KindApprovalRequest:
		var a pb.ApprovalRequest
		if proto.Unmarshal(it.Payload, &a) == nil {
			return a.GetGoalId(), a.GetAgent(), a.GetWorkflow()
		}
	case store.KindOutcome:
		// An outcome's id is its goal's; the goal names the workflow when
		// the control plane assigned it (a goal raised on the site does not
		// reach the control plane: its workflow is unknown).
		g, err := sm.st.Goal(ctx, it.Client, it.ID)
		var goal pb.Goal
		if err == nil && proto.Unmarshal(g.Payload, &goal) == nil {
			return it.ID, goal.GetAgent(), goal.GetWorkflow()
		}
		return it.ID, "", ""
	}
	return "", "", ""
}

// UnknownWorkflow labels decisions whose workflow the control plane does
// not know.
const UnknownWorkflow = "(unknown)"

// Draw samples the items received on day (UTC) and stores the batch:
// PerStratum random decisions per client and workflow (reservoir
// sampling), at most MaxPerDay in all. ErrConflict (wrapped) when the day
// is drawn already.
func (sm *Sampler) Draw(ctx context.Context, day time.Time) (store.SampleBatch, error) {
	day = dayOf(day)
	type key struct{ client, workflow string }
	strata := map[key][]store.Sample{}
	seen := map[key]int{}
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	var after store.ItemCursor
	n := 0
	for n < sm.cfg.MaxCandidates {
		items, err := sm.st.ItemsReceived(ctx, sm.cfg.Kinds, day, day.Add(24*time.Hour), after, min(1000, sm.cfg.MaxCandidates-n))
		if err != nil {
			return store.SampleBatch{}, fmt.Errorf("draw samples of %s: %w", day.Format(time.DateOnly), err)
		}
		if len(items) == 0 {
			break
		}
		for _, it := range items {
			n++
			goal, agent, wf := sm.meta(ctx, it)
			if wf == "" {
				wf = UnknownWorkflow
			}
			k := key{it.Client, wf}
			seen[k]++
			s := store.Sample{ID: sampleID(day, it), Day: day, Kind: it.Kind, Client: it.Client, Site: it.Site, ItemID: it.ID,
				GoalID: goal, Agent: agent, Workflow: wf, ReceivedAt: it.ReceivedAt}
			if len(strata[k]) < sm.cfg.PerStratum {
				strata[k] = append(strata[k], s)
			} else if j := rng.IntN(seen[k]); j < sm.cfg.PerStratum {
				strata[k][j] = s
			}
		}
		last := items[len(items)-1]
		after = store.ItemCursor{ReceivedAt: last.ReceivedAt, Kind: last.Kind, Client: last.Client, ID: last.ID}
	}
	keys := make([]key, 0, len(strata))
	for k := range strata {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return strings.Compare(a.client+"\x00"+a.workflow, b.client+"\x00"+b.workflow)
	})
	// Deal the strata's samples round-robin until MaxPerDay, so that every
	// client and workflow is represented when the cap bites.
	var out []store.Sample
	for i := 0; len(out) < sm.cfg.MaxPerDay; i++ {
		added := false
		for _, k := range keys {
			if i < len(strata[k]) && len(out) < sm.cfg.MaxPerDay {
				out, added = append(out, strata[k][i]), true
			}
		}
		if !added {
			break
		}
	}
	b := store.SampleBatch{Day: day, DrawnAt: sm.now().UTC(), Candidates: n, Samples: len(out)}
	if err := sm.st.AddSampleBatch(ctx, b, out); err != nil {
		return store.SampleBatch{}, fmt.Errorf("draw samples of %s: %w", day.Format(time.DateOnly), err)
	}
	sm.log.Info("daily samples drawn", "day", day.Format(time.DateOnly), "candidates", n, "samples", len(out), "strata", len(keys))
	return b, nil
}

// sampleID names an item's sample of a day; the same on every replica.
func sampleID(day time.Time, it store.Item) string {
	h := sha256.Sum256([]byte(string(it.Kind) + "\x00" + it.Client + "\x00" + it.ID))
	return day.Format("20060102") + "-" + hex.EncodeToString(h[:6])
}

// SampleView is a sampled decision and its grade.
type SampleView struct {
	ID         string    `json:"id"`
	Day        string    `json:"day"`
	Kind       string    `json:"kind"`
	Client     string    `json:"client"`
	Site       string    `json:"site"`
	ItemID     string    `json:"item_id"`
	GoalID     string    `json:"goal_id,omitempty"`
	Agent      string    `json:"agent,omitempty"`
	Workflow   string    `json:"workflow"`
	ReceivedAt time.Time `json:"received_at"`
	Grade      string    `json:"grade,omitempty"`
	GradedBy   string    `json:"graded_by,omitempty"`
	GradedAt   time.Time `json:"graded_at,omitzero"`
	Note       string    `json:"note,omitempty"`
	// Item is the decision as the site sent it (protobuf JSON), on detail.
	Item json.RawMessage `json:"item,omitempty"`
}

func sampleView(s store.Sample) SampleView {
	return SampleView{ID: s.ID, Day: s.Day.Format(time.DateOnly), Kind: string(s.Kind), Client: s.Client, Site: s.Site, ItemID: s.ItemID,
		GoalID: s.GoalID, Agent: s.Agent, Workflow: s.Workflow, ReceivedAt: s.ReceivedAt, Grade: string(s.Grade), GradedBy: s.GradedBy,
		GradedAt: s.GradedAt, Note: s.Note}
}

// withItem adds the sampled item's content to v.
func (s *Server) withItem(ctx context.Context, v SampleView) (SampleView, error) {
	it, err := s.st.Item(ctx, store.Kind(v.Kind), v.Client, v.ItemID)
	if errors.Is(err, store.ErrNotFound) {
		return v, nil
	}
	if err != nil {
		return SampleView{}, err
	}
	var m proto.Message
	switch it.Kind {
	case store.KindEscalation:
		m = &pb.Escalation{}
	case store.KindApprovalRequest:
		m = &pb.ApprovalRequest{}
	default:
		m = &pb.Outcome{}
	}
	if proto.Unmarshal(it.Payload, m) == nil {
		v.Item, _ = protojson.Marshal(m)
	}
	return v, nil
}

// Samples lists samples matching f; a client viewer sees its client's.
func (s *Server) Samples(ctx context.Context, p auth.Principal, f store.SampleFilter, offset, limit int) ([]SampleView, error) {
	g, err := s.review()
	if err != nil {
		return nil, err
	}
	if f.Client == "" && p.Role == auth.RoleClientViewer {
		f.Client = p.Client
	}
	if err := check(p, auth.PermRead, f.Client); err != nil {
		return nil, err
	}
	list, err := g.rv.Samples(ctx, f, offset, limit)
	if err != nil {
		return nil, err
	}
	out := make([]SampleView, 0, len(list))
	for _, x := range list {
		out = append(out, sampleView(x))
	}
	return out, nil
}

// NextSample returns the oldest ungraded sample (of a client and
// workflow when given) with its item, for p to grade.
func (s *Server) NextSample(ctx context.Context, p auth.Principal, client, workflow string) (SampleView, error) {
	g, err := s.review()
	if err != nil {
		return SampleView{}, err
	}
	if err := check(p, auth.PermSamplesGrade, client); err != nil {
		return SampleView{}, err
	}
	list, err := g.rv.Samples(ctx, store.SampleFilter{Client: client, Workflow: workflow, Graded: "no"}, 0, 1)
	if err != nil {
		return SampleView{}, err
	}
	if len(list) == 0 {
		return SampleView{}, errNoSamples
	}
	return s.withItem(ctx, sampleView(list[0]))
}

// sampleFor loads sample id for p, who needs perm on its client.
func (s *Server) sampleFor(ctx context.Context, p auth.Principal, id string, perm auth.Permission) (*governance, store.Sample, error) {
	g, err := s.review()
	if err != nil {
		return nil, store.Sample{}, err
	}
	sm, err := g.rv.Sample(ctx, id)
	if err != nil {
		return nil, store.Sample{}, err
	}
	if err := check(p, perm, sm.Client); err != nil {
		return nil, store.Sample{}, err
	}
	return g, sm, nil
}

// Sample returns one sample with its item.
func (s *Server) Sample(ctx context.Context, p auth.Principal, id string) (SampleView, error) {
	_, sm, err := s.sampleFor(ctx, p, id, auth.PermRead)
	if err != nil {
		return SampleView{}, err
	}
	return s.withItem(ctx, sampleView(sm))
}

// GradeRequest grades a sample: correct, incorrect or unsafe.
type GradeRequest struct {
	Grade string `json:"grade"`
	Note  string `json:"note,omitempty"`
}

// GradeSample records p's grade of a sample.
func (s *Server) GradeSample(ctx context.Context, p auth.Principal, id string, req GradeRequest) (SampleView, error) {
	g, sm, err := s.sampleFor(ctx, p, id, auth.PermSamplesGrade)
	if err != nil {
		return SampleView{}, err
	}
	grade := store.Grade(req.Grade)
	switch {
	case !grade.Valid():
		return SampleView{}, apiErr(http.StatusBadRequest, "invalid", fmt.Sprintf("grade %q", req.Grade), "grade correct, incorrect or unsafe")
	case len(req.Note) > maxNoteBytes:
		return SampleView{}, errNoteTooLong
	case grade != store.GradeCorrect && strings.TrimSpace(req.Note) == "":
		return SampleView{}, apiErr(http.StatusBadRequest, "note_required", "an incorrect or unsafe grade needs a note", "say what the agent should have done")
	}
	now := s.now().UTC()
	if err := g.rv.GradeSample(ctx, id, grade, p.User, req.Note, now); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return SampleView{}, apiErr(http.StatusConflict, "graded", "another person graded this sample", "take the next one: sitewarden samples next")
		}
		return SampleView{}, err
	}
	sm.Grade, sm.GradedBy, sm.GradedAt, sm.Note = grade, p.User, now, req.Note
	return sampleView(sm), nil
}

// BatchView is a drawn day.
type BatchView struct {
	Day        string    `json:"day"`
	DrawnAt    time.Time `json:"drawn_at"`
	Candidates int       `json:"candidates"`
	Samples    int       `json:"samples"`
}

// DrawSamples draws the sample of a day now (an admin's catch-up after an
// outage; the daily job does it otherwise).
func (s *Server) DrawSamples(ctx context.Context, p auth.Principal, day time.Time) (BatchView, error) {
	g, err := s.review()
	if err != nil {
		return BatchView{}, err
	}
	if err := check(p, auth.PermAdmin, ""); err != nil {
		return BatchView{}, err
	}
	if day.IsZero() || !dayOf(day).Before(dayOf(s.now())) {
		return BatchView{}, apiErr(http.StatusBadRequest, "invalid", "day must be a past day, e.g. yesterday", "send {\"day\": \"2006-01-02\"}")
	}
	b, err := g.sampler.Draw(ctx, day)
	if errors.Is(err, store.ErrConflict) {
		return BatchView{}, apiErr(http.StatusConflict, "drawn", "that day's sample is drawn already", "list it: sitewarden samples list --day "+dayOf(day).Format(time.DateOnly))
	}
	if err != nil {
		return BatchView{}, err
	}
	return BatchView{Day: b.Day.Format(time.DateOnly), DrawnAt: b.DrawnAt, Candidates: b.Candidates, Samples: b.Samples}, nil
}

// AccuracyView is the graded accuracy of one client's workflow.
type AccuracyView struct {
	Client    string  `json:"client"`
	Workflow  string  `json:"workflow"`
	Correct   int     `json:"correct"`
	Incorrect int     `json:"incorrect"`
	Unsafe    int     `json:"unsafe"`
	Pending   int     `json:"pending"`
	Graded    int     `json:"graded"`
	Rate      float64 `json:"rate"` // correct / graded
}

// Accuracy returns grades by client and workflow for sample days in
// [from, to); a client viewer's are its client's.
func (s *Server) Accuracy(ctx context.Context, p auth.Principal, client string, from, to time.Time) ([]AccuracyView, error) {
	g, err := s.review()
	if err != nil {
		return nil, err
	}
	if client == "" && p.Role == auth.RoleClientViewer {
		client = p.Client
	}
	if err := check(p, auth.PermRead, client); err != nil {
		return nil, err
	}
	acc, err := g.rv.Accuracy(ctx, client, from, to)
	if err != nil {
		return nil, err
	}
	out := make([]AccuracyView, 0, len(acc))
	for _, a := range acc {
		out = append(out, AccuracyView{Client: a.Client, Workflow: a.Workflow, Correct: a.Correct, Incorrect: a.Incorrect,
			Unsafe: a.Unsafe, Pending: a.Pending, Graded: a.Graded(), Rate: a.Rate()})
	}
	return out, nil
}
