package audit

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Badger's own compactors (NumCompactors >= 2) each wake every 50 ms for
// the life of the process, which alone costs an idle runner about 0.7% of
// a core. The index is opened with NumCompactors(0) instead and compacted
// on demand by a compactor: Badger's write path adds each flushed memtable
// to level 0 and blocks there once level 0 holds l0Stall tables, so the
// compactor runs db.Flatten as soon as level 0 reaches l0Trigger tables,
// well before that.
const (
	// l0Tables is Badger's NumLevelZeroTables: level 0's score is its
	// table count divided by this.
	l0Tables = 5
	// l0Trigger starts a compaction. Flatten only compacts a lone level 0
	// whose score is above 1, so this is one table more than l0Tables.
	l0Trigger = l0Tables + 1
	// l0Stall is Badger's NumLevelZeroTablesStall: writes block there. The
	// gap to l0Trigger (9 memtables) is what writes may add while a
	// compaction runs.
	l0Stall = 15
	// compactCheckEvery is the backstop check while no write pokes the
	// compactor (a single large batch, or writes that stopped above the
	// trigger). One wake-up a few seconds apart costs nothing measurable.
	compactCheckEvery = 5 * time.Second
)

// compactor compacts the Badger index on demand. Writers poke it after each
// write; it also checks at start and every compactCheckEvery. It owns one
// goroutine, stopped by close before the database closes.
type compactor struct {
	db    *badger.DB
	log   *slog.Logger
	every time.Duration
	kick  chan struct{}
	stop  chan struct{}
	done  chan struct{}

	// For tests and diagnostics.
	runs  atomic.Uint64 // Flatten calls made
	maxL0 atomic.Int64  // most level-0 tables seen by a check
}

func startCompactor(db *badger.DB, log *slog.Logger, every time.Duration) *compactor {
	c := &compactor{db: db, log: log, every: every,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go c.loop()
	return c
}

// poke asks for a check without blocking; pokes made while one is pending
// merge into it.
func (c *compactor) poke() {
	if c == nil {
		return
	}
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// close stops the goroutine, waiting for a compaction in progress (Flatten
// cannot be interrupted; with writes stopped it ends after the tables
// already flushed).
func (c *compactor) close() {
	if c == nil {
		return
	}
	close(c.stop)
	<-c.done
}

func (c *compactor) loop() {
	defer close(c.done)
	t := time.NewTicker(c.every)
	defer t.Stop()
	c.check()
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
		case <-t.C:
		}
		c.check()
	}
}

// check compacts when level 0 reached the trigger or a lower level is over
// its target size. It returns whether it compacted.
func (c *compactor) check() bool {
	if !needsCompaction(c.db.Levels(), &c.maxL0) {
		return false
	}
	c.runs.Add(1)
	start := time.Now()
	if err := c.db.Flatten(1); err != nil {
		// The next poke or tick retries; writes stall only if this keeps
		// failing, and then Badger's own errors say why.
		c.log.Warn("audit index compaction failed; it is retried on the next write", "err", err)
		return false
	}
	c.log.Debug("audit index compacted", "took", time.Since(start))
	return true
}

// needsCompaction decides from Badger's level info: level 0's table count,
// and the score Badger reports for levels over their target (it reports a
// score only when it is at least 1). maxL0 records the largest level 0 seen.
func needsCompaction(levels []badger.LevelInfo, maxL0 *atomic.Int64) bool {
	if len(levels) == 0 {
		return false
	}
	n := int64(levels[0].NumTables)
	for {
		m := maxL0.Load()
		if n <= m || maxL0.CompareAndSwap(m, n) {
			break
		}
	}
	if levels[0].NumTables >= l0Trigger {
		return true
	}
	// The last level has no target to exceed; Badger never scores it.
	for _, lv := range levels[1 : len(levels)-1] {
		if lv.Score >= 1 {
			return true
		}
	}
	return false
}
