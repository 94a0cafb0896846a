package audit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/mod/sumdb/note"

	protocolaudit "github.com/sitewarden/sitewarden/protocol/audit"
)

// Log is a site's audit log. Append, Checkpoint, Size, Records, proofs and
// Export are safe for concurrent use; Close ends all of them.
//
// One goroutine (the committer) owns the write side: it gathers concurrent
// appends into a group commit (one segment write and one data sync) and
// answers the callers. A second (the indexer) writes the committed records
// to the Badger index and signs checkpoints (commit.go).
type Log struct {
	cfg    Config
	log    *slog.Logger
	db     *badger.DB
	comp   *compactor  // compacts db on demand; stopped before db closes
	signer note.Signer // nil: read-only
	vkey   string
	origin string
	hcache hashCache

	reqs    chan *appendReq
	reqPool sync.Pool // *appendReq, reused once their caller has the answer
	cpReqs  chan chan cpResult
	jobs    chan indexJob // committer -> indexer, in log order
	closing chan struct{}
	done    chan struct{} // closed when both goroutines have exited
	closeMu sync.Once

	size atomic.Uint64 // durable records
	// Group commits made and the time spent in their write and sync, for
	// the benchmarks (records per commit, commit cycle vs data sync).
	commits  atomic.Uint64
	syncTime atomic.Int64 // nanoseconds
	// onCommit, when set (by the benchmarks' diagnosis), is called by the
	// committer after each group commit's sync, before its callers are
	// answered.
	onCommit atomic.Pointer[func(commitTrace)]
	// coming counts Append calls between their start and the queueing of
	// their request; the one that brings it to zero signals arrived. The
	// committer waits briefly for them (one wake-up, not one per request)
	// so that concurrent appends share one sync instead of alternating
	// between two half-full ones.
	coming  atomic.Int64
	arrived chan struct{}
	indexed atomic.Uint64 // records in the Badger index (<= size)
	failed  atomic.Pointer[error]
	idxMu   sync.Mutex
	idxWake chan struct{} // closed and replaced each time indexed grows

	// Owned by the committer goroutine (or Open, before it starts).
	seg  *segment
	next chan segResult // pending creation of the next segment
	wbuf []byte         // the group commit being written

	// Owned by the indexer goroutine (or Open, before it starts).
	hashes     *hashStore
	lastCPSize uint64
	lastCP     []byte
	cpMu       sync.Mutex // guards lastCP for read-only readers
}

type appendReq struct {
	enc  []byte
	done chan appendResult
}

type appendResult struct {
	index uint64
	err   error
}

type cpResult struct {
	note []byte
	err  error
}

type segResult struct {
	seg *segment
	err error
}

// Open opens (or creates) the log in cfg.Dir, repairs a torn tail left by
// a crash, brings the Badger index up to date with the segment files, and
// signs a checkpoint if records are not yet covered by one. With a nil key
// the log is read-only: Append fails with ErrReadOnly and no checkpoint is
// signed (export and proofs still work). The key must be the one the log
// was created with.
func Open(ctx context.Context, cfg Config, key ed25519.PrivateKey, log *slog.Logger) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "audit")
	if cfg.Site == "" && key != nil {
		return nil, errors.New("audit: site is empty; a writable log needs its site name")
	}
	origin, _ := protocolaudit.Origin(cfg.Client, cfg.Site)
	l := &Log{cfg: cfg, log: log, origin: origin,
		reqs: make(chan *appendReq, 4*cfg.MaxBatch), cpReqs: make(chan chan cpResult),
		jobs: make(chan indexJob, 64), closing: make(chan struct{}), done: make(chan struct{}),
		idxWake: make(chan struct{}), arrived: make(chan struct{}, 1)}
	if key != nil {
		s, vkey, err := protocolaudit.NewSigner(origin, key)
		if err != nil {
			return nil, err
		}
		l.signer, l.vkey = s, vkey
	}
	segDir, idxDir := filepath.Join(cfg.Dir, "segments"), filepath.Join(cfg.Dir, "index")
	if key == nil {
		if _, err := os.Stat(idxDir); err != nil {
			return nil, fmt.Errorf("%w: %s (set the audit directory; the runner's default is %s)", ErrNoLog, cfg.Dir, defaultDir())
		}
	}
	for _, d := range []string{cfg.Dir, segDir, idxDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("open audit log: %w", err)
		}
	}
	db, err := openBadger(idxDir, cfg, log)
	if err != nil {
		return nil, err
	}
	l.db = db
	// Before recover: rebuilding the index writes many memtables.
	l.comp = startCompactor(db, log, compactCheckEvery)
	l.hashes = &hashStore{db: db, compact: l.comp}
	if err := l.recover(ctx, segDir); err != nil {
		l.closeFiles()
		return nil, err
	}
	if key == nil {
		close(l.done) // read-only: no goroutines
	} else {
		go l.commitLoop()
		go l.indexLoop()
	}
	return l, nil
}

// recover checks the log's identity, replays segment entries the index
// lacks, repairs the tail, and loads the latest checkpoint.
func (l *Log) recover(ctx context.Context, segDir string) error {
	if err := l.upgradeIndex(); err != nil {
		return err
	}
	var indexed uint64
	err := l.db.Update(func(txn *badger.Txn) error {
		o, ok, err := getBytes(txn, metaOrigin)
		if err != nil {
			return err
		}
		if prefix := "sitewarden-audit/" + l.cfg.Client + "/"; ok && l.cfg.Site == "" && strings.HasPrefix(string(o), prefix) {
			l.origin, l.cfg.Site = string(o), strings.TrimPrefix(string(o), prefix)
		}
		if ok && l.cfg.Site == "" && l.origin == "" {
			return fmt.Errorf("%w: %s holds log %s, not a log of client %q", ErrWrongLog, l.cfg.Dir, o, l.cfg.Client)
		}
		if ok && string(o) != l.origin {
			return fmt.Errorf("%w: %s holds log %s, not %s; use the right directory or site", ErrWrongLog, l.cfg.Dir, o, l.origin)
		}
		k, kok, err := getBytes(txn, metaKey)
		if err != nil {
			return err
		}
		switch {
		case kok && l.vkey != "" && string(k) != l.vkey:
			return fmt.Errorf("%w: %s was created with key %s; this key is %s (key rotation is not supported)", ErrWrongLog, l.cfg.Dir, k, l.vkey)
		case kok:
			l.vkey = string(k)
		case l.vkey == "":
			return fmt.Errorf("%w: %s: a new log needs a signing key", ErrReadOnly, l.cfg.Dir)
		default:
			if err := txn.Set(metaKey, []byte(l.vkey)); err != nil {
				return err
			}
		}
		if !ok {
			if err := txn.Set(metaOrigin, []byte(l.origin)); err != nil {
				return err
			}
			if err := txn.Set(metaFormat, []byte{indexFormat}); err != nil {
				return err
			}
		}
		indexed, _, err = getUint(txn, metaSize)
		return err
	})
	if err != nil {
		return err
	}
	if err := l.hashes.loadPeaks(indexed); err != nil {
		return err
	}
	size, err := l.replay(ctx, segDir, indexed)
	if err != nil {
		return err
	}
	l.size.Store(size)
	l.indexed.Store(size)
	if err := l.loadLastCheckpoint(); err != nil {
		return err
	}
	if l.lastCPSize > size {
		return fmt.Errorf("%w: a checkpoint covers %d records but the log holds %d", ErrCorrupt, l.lastCPSize, size)
	}
	if l.signer != nil && (size > l.lastCPSize || l.lastCP == nil) {
		if err := l.checkpoint(); err != nil {
			return err
		}
	}
	l.log.Info("audit log open", "dir", l.cfg.Dir, "origin", l.origin, "size", size, "replayed", size-indexed)
	return nil
}

// upgradeIndex turns an index of an earlier format into an empty one of
// the current format (keeping identity and checkpoints), which replay then
// fills from the segments. It refuses a format it does not know.
func (l *Log) upgradeIndex() error {
	var format []byte
	var existing bool
	err := l.db.View(func(txn *badger.Txn) error {
		var err error
		if format, _, err = getBytes(txn, metaFormat); err != nil {
			return err
		}
		_, existing, err = getBytes(txn, metaOrigin)
		return err
	})
	switch {
	case err != nil:
		return err
	case len(format) == 1 && format[0] == indexFormat, !existing && format == nil:
		return nil // current, or a new index (recover sets the format)
	case format != nil:
		return fmt.Errorf("%w: %s has index format %v, this runner knows %d; delete that directory to rebuild it from the segments", ErrCorrupt, filepath.Join(l.cfg.Dir, "index"), format, indexFormat)
	}
	l.log.Info("audit index: converting to the current format; rebuilding it from the segments", "format", indexFormat)
	if err := l.db.DropPrefix([]byte{prefixRecordV1}, []byte{prefixHashV1}); err != nil {
		return fmt.Errorf("upgrade audit index: %w", err)
	}
	return l.db.Update(func(txn *badger.Txn) error {
		if err := txn.Delete(metaSize); err != nil {
			return err
		}
		return txn.Set(metaFormat, []byte{indexFormat})
	})
}

// replay scans the segments from the one holding index indexed, feeds
// every entry at or after it to the index, cuts off a torn tail, and leaves
// l.seg positioned for the next append. It returns the log's size.
func (l *Log) replay(ctx context.Context, dir string, indexed uint64) (uint64, error) {
	seqs, err := listSegments(dir)
	if err != nil {
		return 0, err
	}
	var segs []*segment
	defer func() {
		for _, s := range segs {
			if s != l.seg {
				s.f.Close()
			}
		}
	}()
	tail := -1 // last segment holding entries
	firsts := make([]uint64, len(seqs))
	for i, seq := range seqs {
		s, err := openSegment(dir, seq)
		if err != nil {
			return 0, err
		}
		segs = append(segs, s)
		first, ok, err := s.firstIndex()
		if err != nil {
			return 0, err
		}
		if ok {
			tail, firsts[i] = i, first
		}
	}
	// Segments after the tail hold nothing (a created spare): drop them.
	for _, s := range segs[tail+1:] {
		s.f.Close()
		if err := os.Remove(s.path); err != nil {
			return 0, fmt.Errorf("remove empty audit segment: %w", err)
		}
	}
	if tail < 0 {
		if indexed > 0 {
			return 0, fmt.Errorf("%w: the index holds %d records but %s has no segment files; restore them from backup", ErrCorrupt, indexed, dir)
		}
		seg, err := createSegment(dir, 0, l.cfg.SegmentSize)
		if err != nil {
			return 0, err
		}
		segs = []*segment{seg}
		l.seg = seg
		return 0, nil
	}
	segs = segs[:tail+1]
	firsts = firsts[:tail+1]
	start := 0
	for i := range segs {
		if firsts[i] <= indexed {
			start = i
		}
	}
	if firsts[start] > indexed {
		return 0, fmt.Errorf("%w: segments start at record %d but the index ends at %d; segment files are missing", ErrCorrupt, firsts[start], indexed)
	}
	next := firsts[start]
	var batch [][]byte
	batchStart := indexed
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := l.hashes.apply(batchStart, batch); err != nil {
			return err
		}
		batchStart += uint64(len(batch))
		batch = batch[:0]
		return ctx.Err()
	}
	for i := start; i < len(segs); i++ {
		s := segs[i]
		if i > start && firsts[i] != next {
			return 0, fmt.Errorf("%w: segment %s starts at record %d, expected %d", ErrCorrupt, s.path, firsts[i], next)
		}
		next, err = s.scan(next, func(index uint64, rec []byte) error {
			if index < indexed {
				return nil
			}
			batch = append(batch, append([]byte(nil), rec...))
			if len(batch) >= 1024 {
				return flush()
			}
			return nil
		})
		if errors.Is(err, errTorn) {
			if i != len(segs)-1 {
				return 0, fmt.Errorf("%w: %v inside the log, not at its end", ErrCorrupt, err)
			}
			l.log.Warn("audit log: cut off a torn tail left by a crash", "detail", err.Error(), "size", next)
			err = nil
		}
		if err != nil {
			return 0, err
		}
	}
	if err := flush(); err != nil {
		return 0, err
	}
	if next < indexed {
		return 0, fmt.Errorf("%w: segments end at record %d but the index holds %d; segment files were truncated", ErrCorrupt, next, indexed)
	}
	l.seg = segs[len(segs)-1]
	if err := l.seg.zeroTail(); err != nil {
		return 0, err
	}
	return next, nil
}

func (l *Log) loadLastCheckpoint() error {
	return l.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Reverse: true, Prefix: []byte{prefixCheckpoint}})
		defer it.Close()
		it.Seek(numKey(prefixCheckpoint, 1<<64-1))
		if !it.Valid() {
			return nil
		}
		v, err := it.Item().ValueCopy(nil)
		if err != nil {
			return fmt.Errorf("read audit checkpoint: %w", err)
		}
		c, err := protocolaudit.OpenCheckpoint(v)
		if err != nil {
			return fmt.Errorf("%w: stored checkpoint: %v", ErrCorrupt, err)
		}
		l.lastCPSize, l.lastCP = c.Size, v
		return nil
	})
}

// Size returns the number of durable records.
func (l *Log) Size() uint64 { return l.size.Load() }

// VerifierKey returns the log's verifier key string (what an auditor
// passes to 'audit verify --key').
func (l *Log) VerifierKey() string { return l.vkey }

// Origin returns the log's origin, "sitewarden-audit/<client>/<site>".
func (l *Log) Origin() string { return l.origin }

// Append writes r and returns its index once it is durable (synced to a
// segment file). Empty Client and Site are filled with the log's; other
// values fail with ErrWrongClient. A zero Time becomes now. Concurrent
// appends share one write and one sync. If Append returns an error, the
// action r announces must not run; after a context error the record may
// still have been written.
func (l *Log) Append(ctx context.Context, r protocolaudit.Record) (uint64, error) {
	if l.signer == nil {
		return 0, ErrReadOnly
	}
	if r.Client == "" {
		r.Client = l.cfg.Client
	}
	if r.Site == "" {
		r.Site = l.cfg.Site
	}
	if r.Client != l.cfg.Client || r.Site != l.cfg.Site {
		return 0, fmt.Errorf("%w: record for %s/%s in the log of %s/%s", ErrWrongClient, r.Client, r.Site, l.cfg.Client, l.cfg.Site)
	}
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	req, err := l.enqueue(ctx, r)
	if err != nil {
		return 0, err
	}
	select {
	case res := <-req.done:
		l.release(req)
		return res.index, res.err
	case <-l.done:
		// The committer answers every request it takes before it exits.
		select {
		case res := <-req.done:
			l.release(req)
			return res.index, res.err
		default:
			return 0, ErrClosed
		}
	case <-ctx.Done():
		// Not released: the committer may still answer it.
		return 0, fmt.Errorf("append audit record (it may still be written): %w", ctx.Err())
	}
}

// enqueue encodes r and queues it for the committer, counted in l.coming
// meanwhile.
func (l *Log) enqueue(ctx context.Context, r protocolaudit.Record) (*appendReq, error) {
	l.coming.Add(1)
	defer l.arrive()
	enc, err := protocolaudit.Encode(r)
	if err != nil {
		return nil, fmt.Errorf("append audit record: %w", err)
	}
	if p := l.failed.Load(); p != nil {
		return nil, fmt.Errorf("%w: %v", ErrFailed, *p)
	}
	req, _ := l.reqPool.Get().(*appendReq)
	if req == nil {
		req = &appendReq{done: make(chan appendResult, 1)}
	}
	req.enc = enc
	select {
	case l.reqs <- req:
		return req, nil
	case <-l.closing:
		l.release(req)
		return nil, ErrClosed
	case <-ctx.Done():
		l.release(req)
		return nil, fmt.Errorf("append audit record: %w", ctx.Err())
	}
}

// release returns an answered (or never queued) request to the pool. Its
// done channel is empty again: the one answer was received.
func (l *Log) release(req *appendReq) {
	req.enc = nil
	l.reqPool.Put(req)
}

// arrive ends an Append's part in l.coming (its request is queued, or it
// gave up) and wakes the committer if it was the last one on its way.
func (l *Log) arrive() {
	if l.coming.Add(-1) == 0 {
		select {
		case l.arrived <- struct{}{}:
		default:
		}
	}
}

// Checkpoint returns a signed checkpoint covering every durable record,
// signing a new one if needed. A read-only log returns the latest stored.
func (l *Log) Checkpoint(ctx context.Context) ([]byte, error) {
	if l.signer == nil {
		l.cpMu.Lock()
		defer l.cpMu.Unlock()
		if l.lastCP == nil {
			return nil, fmt.Errorf("%w: no checkpoint yet", ErrReadOnly)
		}
		return l.lastCP, nil
	}
	ch := make(chan cpResult, 1)
	select {
	case l.cpReqs <- ch:
	case <-l.closing:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, fmt.Errorf("audit checkpoint: %w", ctx.Err())
	}
	select {
	case res := <-ch:
		return res.note, res.err
	case <-ctx.Done():
		return nil, fmt.Errorf("audit checkpoint: %w", ctx.Err())
	}
}

// Close stops accepting appends, commits those already queued, signs a
// final checkpoint and closes the files. It waits for the committer at
// most until ctx ends.
func (l *Log) Close(ctx context.Context) error {
	l.closeMu.Do(func() { close(l.closing) })
	select {
	case <-l.done:
	case <-ctx.Done():
		return fmt.Errorf("close audit log: %w", ctx.Err())
	}
	return l.closeFiles()
}

func (l *Log) closeFiles() error {
	var errs []error
	if l.seg != nil {
		errs = append(errs, l.seg.f.Close())
		l.seg = nil
	}
	if l.next != nil {
		if r := <-l.next; r.seg != nil {
			errs = append(errs, r.seg.f.Close())
		}
		l.next = nil
	}
	if l.comp != nil {
		l.comp.close()
		l.comp = nil
	}
	if l.db != nil {
		errs = append(errs, l.db.Close())
		l.db = nil
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close audit log: %w", err)
	}
	return nil
}
