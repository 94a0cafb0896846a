package notify

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/store"
)

// Store is what the notifier needs of the control plane's store: the
// outbox (store.Outbox). Safe for concurrent use, also by several
// processes sharing one database.
type Store interface {
	store.Outbox
}

var (
	_ Store = (*store.SQLite)(nil)
	_ Store = (*store.Postgres)(nil)
)

// Budgets of one pass over the sources.
const (
	batchSize  = 500
	maxBatches = 20
	// settle is how long an item or alert must have been stored before
	// the source's mark moves past it: on PostgreSQL a row can commit
	// after one with a later seq, so the newest rows are read again next
	// pass (the outbox drops the duplicates).
	settle = 10 * time.Second
	// leaseMargin is added to a target's timeout for the claim's lease.
	leaseMargin = 30 * time.Second
	// pruneEvery is how often delivered and failed rows are pruned.
	pruneEvery = time.Hour
)

// TargetStats counts one target's deliveries: pending in the store (all
// processes), delivered and failed by this process since it started.
type TargetStats struct {
	Target            string
	Pending           int
	Delivered, Failed uint64
}

// Notifier turns new events into deliveries and delivers them. Run it
// once per process; several processes may share a store.
type Notifier struct {
	cfg    Config
	st     Store
	send   *Sender
	log    *slog.Logger
	now    func() time.Time
	byName map[string]Target
	wake   map[string]chan struct{}

	mu                sync.Mutex
	delivered, failed map[string]uint64
	lastPrune         time.Time
	// queued holds, per source, the positions above the source's mark
	// whose events this process queued: rows read again before the mark
	// settles past them are not queued again (the outbox would drop them
	// anyway). A row that commits late, below a queued one, is not in it.
	queued map[string]map[int64]bool
}

// maxQueued bounds each source's queued set; past it the set is cleared
// (which only costs queueing some events again, to be dropped).
const maxQueued = 100_000

// New returns a Notifier for a valid cfg.
func New(cfg Config, st Store, log *slog.Logger) (*Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Notifier{cfg: cfg, st: st, send: NewSender(nil), log: log, now: time.Now, byName: map[string]Target{}, wake: map[string]chan struct{}{},
		delivered: map[string]uint64{}, failed: map[string]uint64{}, queued: map[string]map[int64]bool{store.NotifySourceItems: {}, store.NotifySourceAlerts: {}}}
	for _, t := range cfg.Targets {
		n.byName[t.Name] = t
		n.wake[t.Name] = make(chan struct{}, 1)
	}
	return n, nil
}

// Run reads and delivers until ctx ends, then waits for its deliveries in
// flight to stop (each bounded by its target's timeout). It returns nil.
func (n *Notifier) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, t := range n.cfg.Targets {
		wg.Go(func() { n.deliverLoop(ctx, t) })
	}
	tick := time.NewTicker(n.cfg.Poll)
	defer tick.Stop()
	for {
		if err := n.Scan(ctx); err != nil && ctx.Err() == nil {
			n.log.Warn("notify: read new events", "err", err)
		}
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-tick.C:
		}
	}
}

// Scan makes the events of what was stored since the last pass and of
// the approvals now expiring, and queues their deliveries.
func (n *Notifier) Scan(ctx context.Context) error {
	now := n.now()
	errs := []error{n.scanItems(ctx, now), n.scanAlerts(ctx, now), n.scanDue(ctx, now)}
	n.mu.Lock()
	prune := now.Sub(n.lastPrune) >= pruneEvery
	if prune {
		n.lastPrune = now
	}
	n.mu.Unlock()
	if prune {
		if k, err := n.st.PruneNotify(ctx, now.Add(-n.cfg.Retention)); err != nil {
			errs = append(errs, err)
		} else if k > 0 {
			n.log.Info("notify: pruned old deliveries", "rows", k)
		}
	}
	return errors.Join(errs...)
}

func (n *Notifier) scanItems(ctx context.Context, now time.Time) error {
	mark, err := n.st.NotifyMark(ctx, store.NotifySourceItems)
	if err != nil {
		return err
	}
	for range maxBatches {
		items, err := n.st.NotifyItems(ctx, mark, batchSize)
		if err != nil || len(items) == 0 {
			return err
		}
		next, settled, queued := mark, true, n.queuedOf(store.NotifySourceItems, mark)
		var rows []store.NotifyRow
		var seqs []int64
		for _, it := range items {
			seqs = append(seqs, it.Seq)
			if !queued[it.Seq] && now.Sub(it.ReceivedAt) <= n.cfg.MaxAge {
				e, due := n.cfg.itemEvents(it.Item)
				rows = append(rows, n.rows(e, it.Client, now)...)
				if due != nil && due.ExpiresAt.After(now) {
					if err := n.st.ScheduleNotify(ctx, *due); err != nil {
						return err
					}
				}
			}
			settled = settled && now.Sub(it.ReceivedAt) > settle
			if settled {
				next = it.Seq
			}
		}
		if err := n.enqueue(ctx, rows, now); err != nil {
			return err
		}
		n.setQueued(store.NotifySourceItems, seqs)
		if next > mark {
			if err := n.st.AdvanceNotifyMark(ctx, store.NotifySourceItems, next); err != nil {
				return err
			}
		}
		if !settled || len(items) < batchSize {
			return nil
		}
		mark = next
	}
	return nil
}

func (n *Notifier) scanAlerts(ctx context.Context, now time.Time) error {
	mark, err := n.st.NotifyMark(ctx, store.NotifySourceAlerts)
	if err != nil {
		return err
	}
	for range maxBatches {
		alerts, err := n.st.NotifyAlerts(ctx, mark, batchSize)
		if err != nil || len(alerts) == 0 {
			return err
		}
		next, settled, queued := mark, true, n.queuedOf(store.NotifySourceAlerts, mark)
		var rows []store.NotifyRow
		var seqs []int64
		for _, a := range alerts {
			seqs = append(seqs, a.Seq)
			if !queued[a.Seq] && now.Sub(a.At) <= n.cfg.MaxAge {
				rows = append(rows, n.rows(n.cfg.alertEvent(a), a.Client, now)...)
			}
			settled = settled && now.Sub(a.At) > settle
			if settled {
				next = a.Seq
			}
		}
		if err := n.enqueue(ctx, rows, now); err != nil {
			return err
		}
		n.setQueued(store.NotifySourceAlerts, seqs)
		if next > mark {
			if err := n.st.AdvanceNotifyMark(ctx, store.NotifySourceAlerts, next); err != nil {
				return err
			}
		}
		if !settled || len(alerts) < batchSize {
			return nil
		}
		mark = next
	}
	return nil
}

// queuedOf forgets the source's queued positions at or below mark and
// returns a copy of the others.
func (n *Notifier) queuedOf(source string, mark int64) map[int64]bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[int64]bool, len(n.queued[source]))
	for seq := range n.queued[source] {
		if seq <= mark {
			delete(n.queued[source], seq)
		} else {
			out[seq] = true
		}
	}
	return out
}

func (n *Notifier) setQueued(source string, seqs []int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.queued[source])+len(seqs) > maxQueued {
		clear(n.queued[source])
	}
	for _, s := range seqs {
		n.queued[source][s] = true
	}
}

// scanDue queues the approval.expiring events now due whose approval is
// still undecided and unexpired, and drops the others.
func (n *Notifier) scanDue(ctx context.Context, now time.Time) error {
	due, err := n.st.DueNotify(ctx, now, batchSize)
	if err != nil {
		return err
	}
	for _, d := range due {
		decided, err := n.st.ApprovalDecided(ctx, d.Client, d.ApprovalID)
		if err != nil {
			return err
		}
		if !decided && d.ExpiresAt.After(now) {
			var e Event
			if err := json.Unmarshal(d.Body, &e); err != nil {
				n.log.Warn("notify: drop unreadable scheduled event", "event", d.EventID, "err", err)
			} else if err := n.enqueue(ctx, n.rows(e, d.Client, now), now); err != nil {
				return err
			}
		}
		if _, err := n.st.TakeDue(ctx, d.EventID); err != nil {
			return err
		}
	}
	return nil
}

// rows makes the outbox rows of an event for the targets that want it.
func (n *Notifier) rows(e Event, client string, now time.Time) []store.NotifyRow {
	var out []store.NotifyRow
	var body []byte
	for _, t := range n.cfg.Targets {
		if !t.Wants(e.Type, client) {
			continue
		}
		if body == nil {
			body, _ = json.Marshal(e)
		}
		out = append(out, store.NotifyRow{Target: t.Name, EventID: e.ID, Client: client, Body: body, GiveUpAt: now.Add(n.cfg.GiveUpAfter)})
	}
	return out
}

func (n *Notifier) enqueue(ctx context.Context, rows []store.NotifyRow, now time.Time) error {
	if len(rows) == 0 {
		return nil
	}
	added, dropped, err := n.st.EnqueueNotify(ctx, rows, now, n.cfg.MaxPending)
	for target, k := range dropped {
		n.log.Warn("notify: outbox full, events recorded as failed", "target", target, "events", k, "max_pending", n.cfg.MaxPending)
		n.mu.Lock()
		n.failed[target] += uint64(k)
		n.mu.Unlock()
	}
	if added > 0 {
		for _, r := range rows {
			select {
			case n.wake[r.Target] <- struct{}{}:
			default:
			}
		}
	}
	return err
}

// deliverLoop delivers one target's rows one at a time until ctx ends.
func (n *Notifier) deliverLoop(ctx context.Context, t Target) {
	var tok [8]byte
	_, _ = crand.Read(tok[:])
	owner := hex.EncodeToString(tok[:])
	idle := time.NewTimer(0)
	defer idle.Stop()
	for {
		delivered, err := n.deliverOne(ctx, t, owner)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			n.log.Warn("notify: outbox", "target", t.Name, "err", err)
		}
		if delivered && err == nil {
			continue
		}
		idle.Reset(n.cfg.Poll)
		select {
		case <-ctx.Done():
			return
		case <-n.wake[t.Name]:
		case <-idle.C:
		}
	}
}

// deliverOne claims and delivers the target's next due row; false when
// there was none.
func (n *Notifier) deliverOne(ctx context.Context, t Target, owner string) (bool, error) {
	now := n.now()
	r, ok, err := n.st.ClaimNotify(ctx, t.Name, owner, now, now.Add(t.Timeout+leaseMargin))
	if err != nil || !ok {
		return false, err
	}
	var e Event
	res := store.NotifyResult{State: store.NotifyDelivered}
	if err := json.Unmarshal(r.Body, &e); err != nil {
		res = store.NotifyResult{State: store.NotifyFailed, Err: "unreadable event in the outbox"}
	} else {
		_, err := n.send.Send(ctx, t, e)
		res = n.result(r, err)
	}
	res.At = n.now()
	if ctx.Err() != nil && res.State != store.NotifyDelivered {
		// Stopping: the attempt was cut short, try again at once.
		res = store.NotifyResult{State: store.NotifyPending, NextAt: res.At, Err: "control plane stopped during delivery"}
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := n.st.FinishNotify(fctx, r, res); err != nil {
		return true, err
	}
	n.mu.Lock()
	switch res.State {
	case store.NotifyDelivered:
		n.delivered[t.Name]++
	case store.NotifyFailed:
		n.failed[t.Name]++
	}
	n.mu.Unlock()
	if res.State == store.NotifyFailed {
		n.log.Warn("notify: delivery failed, giving up", "target", t.Name, "event", r.EventID, "attempts", r.Attempts, "err", res.Err)
	} else if res.State == store.NotifyPending {
		n.log.Info("notify: delivery failed, will retry", "target", t.Name, "event", r.EventID, "attempts", r.Attempts, "retry_at", res.NextAt, "err", res.Err)
	}
	return true, nil
}

// result decides what a delivery attempt comes to: delivered; failed when
// the receiver refused the request for good or the give-up time passed;
// otherwise a retry after RetryMin * 2^(attempts-1) (at most RetryMax,
// with up to 10% jitter), no later than the give-up time.
func (n *Notifier) result(r store.NotifyRow, err error) store.NotifyResult {
	if err == nil {
		return store.NotifyResult{State: store.NotifyDelivered}
	}
	now := n.now()
	var de *DeliveryError
	if errors.As(err, &de) && de.Permanent {
		return store.NotifyResult{State: store.NotifyFailed, Err: err.Error() + "; the receiver refused this event, check its format and the target's URL"}
	}
	if !now.Before(r.GiveUpAt) {
		return store.NotifyResult{State: store.NotifyFailed, Err: err.Error() + "; gave up after give_up_after"}
	}
	back := n.cfg.RetryMin
	for i := 1; i < r.Attempts && back < n.cfg.RetryMax; i++ {
		back *= 2
	}
	back = min(back, n.cfg.RetryMax)
	back += time.Duration(rand.Int64N(int64(back)/10 + 1))
	next := now.Add(back)
	if next.After(r.GiveUpAt) {
		next = r.GiveUpAt
	}
	return store.NotifyResult{State: store.NotifyPending, NextAt: next, Err: err.Error()}
}

// Stats returns each target's counts, in configuration order.
func (n *Notifier) Stats(ctx context.Context) ([]TargetStats, error) {
	pending, err := n.st.NotifyPendingCounts(ctx)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]TargetStats, len(n.cfg.Targets))
	for i, t := range n.cfg.Targets {
		out[i] = TargetStats{Target: t.Name, Pending: pending[t.Name], Delivered: n.delivered[t.Name], Failed: n.failed[t.Name]}
	}
	return out, nil
}
