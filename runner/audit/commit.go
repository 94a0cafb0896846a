package audit

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"time"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/mod/sumdb/tlog"

	protocolaudit "github.com/sitewarden/sitewarden/protocol/audit"
)

// The write path is a two-stage pipeline:
//
//	Append -> reqs -> committer: group commit = one segment write + one
//	                  data sync, then answer the callers (durable)
//	               -> jobs -> indexer: Badger index (records, tree hashes),
//	                  checkpoints
//
// The committer never waits for Badger, so the next group commit's sync
// overlaps the previous one's indexing. Checkpoint requests travel through
// the same jobs queue, so a checkpoint covers every record acknowledged
// before it was asked for.

// indexJob is a run of committed records to index, or (cp set) a
// checkpoint request.
type indexJob struct {
	start uint64
	recs  [][]byte
	cp    chan cpResult
}

// commitLoop is the committer goroutine.
func (l *Log) commitLoop() {
	defer close(l.jobs)
	c := &committer{batch: make([]*appendReq, 0, l.cfg.MaxBatch), linger: time.NewTimer(time.Hour)}
	c.linger.Stop()
	defer c.linger.Stop()
	for {
		if c.pending != nil {
			// Work is queued: take it (the pending index job goes to the
			// indexer during the next sync). Otherwise index it now.
			select {
			case r := <-l.reqs:
				l.commitFrom(c, r)
				continue
			case ch := <-l.cpReqs:
				l.handOff(c)
				l.jobs <- indexJob{cp: ch}
				continue
			default:
			}
			l.handOff(c)
		}
		select {
		case r := <-l.reqs:
			l.commitFrom(c, r)
		case ch := <-l.cpReqs:
			l.jobs <- indexJob{cp: ch}
		case <-l.closing:
			for {
				select {
				case r := <-l.reqs:
					c.expect = 0
					l.commitFrom(c, r)
					continue
				default:
				}
				l.handOff(c)
				return
			}
		}
	}
}

// committer is the committer goroutine's state between group commits.
type committer struct {
	batch  []*appendReq
	expect int         // callers answered by the last commit: they may append again
	linger *time.Timer // bounds gather's wait
	// pending is the last commit's index job. It is handed to the indexer
	// just before the next commit's write and sync, so Badger's work runs
	// while the committer waits for the disk instead of taking a CPU from
	// the callers just answered, or as soon as no append is queued.
	// (Handing over 64 records at a time costs a third less CPU per record
	// but one long Badger write per 8 commits, and raised p99 by about
	// half in the benchmark.)
	pending *indexJob
	// gathered is when the current batch's gather began, kept only while
	// l.onCommit is set.
	gathered time.Time
}

// commitTrace describes one group commit to Log.onCommit, which the
// benchmarks set to find out why an append was slow.
type commitTrace struct {
	first    uint64    // index of the commit's first record
	n        int       // records
	expect   int       // callers the previous commit answered
	gathered time.Time // the gather began (the first request was taken)
	written  time.Time // the segment write and sync began
	synced   time.Time // the sync returned
	seg      uint64    // the segment written
	off      int64     // its end of data after the write
}

// commitFrom makes the batch starting with r durable and answers it.
func (l *Log) commitFrom(c *committer, r *appendReq) {
	if l.onCommit.Load() != nil {
		c.gathered = time.Now()
	}
	c.batch = l.gather(append(c.batch[:0], r), c.expect, c.linger)
	l.commit(c)
	c.expect = len(c.batch)
	clear(c.batch) // let the answered requests be collected
	// Let the callers just answered run (and append again) before the next
	// batch is gathered.
	runtime.Gosched()
}

// handOff sends the pending index job, if any, to the indexer.
func (l *Log) handOff(c *committer) {
	if c.pending != nil {
		l.jobs <- *c.pending
		c.pending = nil
	}
}

// maxLinger bounds how long one group commit waits for appends that have
// started (they are encoding their record) but not yet been queued. It is
// short next to a data sync, which the waiting appends would otherwise
// have to wait for in full.
const maxLinger = 100 * time.Microsecond

// gather adds queued requests to batch, up to MaxBatch records and about
// 1 MiB. While appends are on their way (l.coming > 0), or fewer requests
// came than callers were answered by the last commit (expect), it waits
// for them,
// at most maxLinger in all.
func (l *Log) gather(batch []*appendReq, expect int, linger *time.Timer) []*appendReq {
	bytes := len(batch[0].enc)
	lingering := false
	defer func() {
		if lingering {
			linger.Stop()
		}
	}()
	for len(batch) < l.cfg.MaxBatch && bytes < 1<<20 {
		select {
		case r := <-l.reqs:
			batch = append(batch, r)
			bytes += entryHeader + len(r.enc)
			continue
		default:
		}
		if l.coming.Load() <= 0 && len(batch) >= expect {
			return batch
		}
		if !lingering {
			lingering = true
			linger.Reset(maxLinger)
		}
		select {
		case <-l.arrived:
		case <-linger.C:
			lingering = false
			return batch
		}
	}
	return batch
}

func (l *Log) fail(err error) {
	l.failed.CompareAndSwap(nil, &err)
	l.log.Error("audit log write failed; refusing further appends until reopened", "err", err.Error(), "size", l.Size())
}

// commit makes c.batch durable, answers its callers and keeps it as the
// pending index job. A failure fails the batch and the log (fail closed).
func (l *Log) commit(c *committer) {
	batch := c.batch
	if p := l.failed.Load(); p != nil {
		for _, r := range batch {
			r.done <- appendResult{err: fmt.Errorf("%w: %v", ErrFailed, *p)}
		}
		return
	}
	start := l.Size()
	n := 0
	for _, r := range batch {
		n += entryHeader + len(r.enc)
	}
	buf := l.wbuf[:0]
	if cap(buf) < n {
		buf = make([]byte, 0, n)
	}
	recs := make([][]byte, len(batch))
	for i, r := range batch {
		buf = appendEntry(buf, start+uint64(i), r.enc)
		recs[i] = r.enc
	}
	l.handOff(c)
	t := time.Now()
	err := l.writeDurable(buf)
	synced := time.Now()
	l.syncTime.Add(int64(synced.Sub(t)))
	l.wbuf = buf // reused: a batch is at most about 1 MiB
	if err != nil {
		l.fail(err)
		for _, r := range batch {
			r.done <- appendResult{err: fmt.Errorf("append audit record: %w", err)}
		}
		return
	}
	l.size.Store(start + uint64(len(batch)))
	l.commits.Add(1)
	if f := l.onCommit.Load(); f != nil {
		(*f)(commitTrace{first: start, n: len(batch), expect: c.expect, gathered: c.gathered, written: t, synced: synced, seg: l.seg.seq, off: l.seg.off})
	}
	for i, r := range batch {
		r.done <- appendResult{index: start + uint64(i)}
	}
	c.pending = &indexJob{start: start, recs: recs}
}

// writeDurable writes buf to the current segment (rotating first when it
// does not fit) and syncs it. Past half of a segment it starts creating
// the next one in the background, so rotation rarely waits for it.
func (l *Log) writeDurable(buf []byte) error {
	if l.seg.off+int64(len(buf)) > l.seg.size {
		if err := l.rotate(); err != nil {
			return err
		}
	}
	if err := l.seg.write(buf); err != nil {
		return err
	}
	if l.next == nil && l.seg.off > l.seg.size/2 {
		l.next = make(chan segResult, 1)
		dir, seq, size := filepath.Dir(l.seg.path), l.seg.seq+1, l.cfg.SegmentSize
		go func(ch chan<- segResult) {
			s, err := createSegment(dir, seq, size)
			ch <- segResult{s, err}
		}(l.next)
	}
	return nil
}

func (l *Log) rotate() error {
	var res segResult
	if l.next != nil {
		res = <-l.next
		l.next = nil
	} else {
		res.seg, res.err = createSegment(filepath.Dir(l.seg.path), l.seg.seq+1, l.cfg.SegmentSize)
	}
	if res.err != nil {
		return res.err
	}
	if err := l.seg.f.Close(); err != nil {
		res.seg.f.Close()
		return fmt.Errorf("close audit segment: %w", err)
	}
	l.seg = res.seg
	return nil
}

// indexLoop is the indexer goroutine. It exits when the committer closes
// jobs, after a final checkpoint.
func (l *Log) indexLoop() {
	defer close(l.done)
	tick := time.NewTicker(l.cfg.CheckpointInterval)
	defer tick.Stop()
	var held *indexJob // taken from jobs while merging, not yet handled
	for {
		var job indexJob
		ok := true
		if held != nil {
			job, held = *held, nil
		} else {
			select {
			case job, ok = <-l.jobs:
			case <-tick.C:
				if l.failed.Load() == nil && l.indexed.Load() > l.lastCPSize {
					l.checkpointLogged()
				}
				continue
			}
		}
		if ok && job.cp != nil {
			var err error
			if p := l.failed.Load(); p != nil {
				err = fmt.Errorf("%w: %v", ErrFailed, *p)
			} else if l.indexed.Load() > l.lastCPSize || l.lastCP == nil {
				err = l.checkpoint()
			}
			l.cpMu.Lock()
			job.cp <- cpResult{note: l.lastCP, err: err}
			l.cpMu.Unlock()
			continue
		}
		if ok {
			job, held, ok = l.merge(job)
			l.index(job)
		}
		if !ok {
			if l.failed.Load() == nil && l.indexed.Load() > l.lastCPSize {
				l.checkpointLogged()
			}
			return
		}
	}
}

// maxIndexBatch bounds the records merged into one Badger write.
const maxIndexBatch = 1024

// merge appends the group commits already queued behind job to it, so an
// index that fell behind catches up in one Badger write instead of one
// per commit. It does not wait for more: on two cores a large Badger write
// holds a CPU the appenders need and shows up in their tail latency. It
// stops at a checkpoint request (returned as held, to handle next) and
// reports false when jobs is closed.
func (l *Log) merge(job indexJob) (merged indexJob, held *indexJob, ok bool) {
	// Stop at a checkpoint boundary too: a checkpoint every CheckpointEvery
	// records must not turn into one per merged write.
	for len(job.recs) < maxIndexBatch && job.start+uint64(len(job.recs))-l.lastCPSize < l.cfg.CheckpointEvery {
		select {
		case next, ok := <-l.jobs:
			if !ok {
				return job, nil, false
			}
			if next.cp != nil || next.start != job.start+uint64(len(job.recs)) {
				return job, &next, true
			}
			job.recs = append(job.recs, next.recs...)
		default:
			return job, nil, true
		}
	}
	return job, nil, true
}

// index applies committed records to Badger and signs a checkpoint every
// CheckpointEvery records, splitting the job where one falls due.
func (l *Log) index(job indexJob) {
	for len(job.recs) > 0 {
		if l.failed.Load() != nil {
			return // the tree hashes after a failure would be wrong; reopen replays
		}
		n := len(job.recs)
		if due := l.lastCPSize + l.cfg.CheckpointEvery; due > job.start && due < job.start+uint64(n) {
			n = int(due - job.start)
		}
		if err := l.hashes.apply(job.start, job.recs[:n]); err != nil {
			l.fail(err)
			return
		}
		job.start, job.recs = job.start+uint64(n), job.recs[n:]
		l.idxMu.Lock()
		l.indexed.Store(job.start)
		close(l.idxWake)
		l.idxWake = make(chan struct{})
		l.idxMu.Unlock()
		if l.indexed.Load()-l.lastCPSize >= l.cfg.CheckpointEvery {
			l.checkpointLogged()
		}
	}
}

// waitIndexed waits until the first n records are in the index.
func (l *Log) waitIndexed(ctx context.Context, n uint64) error {
	for {
		l.idxMu.Lock()
		wake := l.idxWake
		l.idxMu.Unlock()
		if l.indexed.Load() >= n {
			return nil
		}
		if p := l.failed.Load(); p != nil {
			return fmt.Errorf("%w: %v", ErrFailed, *p)
		}
		select {
		case <-wake:
		case <-l.done:
			if l.indexed.Load() >= n {
				return nil
			}
			return ErrClosed
		case <-ctx.Done():
			return fmt.Errorf("wait for the audit index: %w", ctx.Err())
		}
	}
}

func (l *Log) checkpointLogged() {
	if err := l.checkpoint(); err != nil {
		l.log.Error("audit checkpoint failed", "err", err.Error(), "size", l.indexed.Load())
	}
}

// checkpoint signs and stores a checkpoint of the indexed tree.
func (l *Log) checkpoint() error {
	size := l.indexed.Load()
	root, err := tlog.TreeHash(int64(size), l.hashes)
	if err != nil {
		return fmt.Errorf("audit checkpoint: %w", err)
	}
	signed, err := protocolaudit.SignCheckpoint(protocolaudit.Checkpoint{Origin: l.origin, Size: size, Hash: root}, l.signer)
	if err != nil {
		return fmt.Errorf("audit checkpoint: %w", err)
	}
	if err := l.db.Update(func(txn *badger.Txn) error {
		return txn.Set(numKey(prefixCheckpoint, size), signed)
	}); err != nil {
		return fmt.Errorf("store audit checkpoint: %w", err)
	}
	l.cpMu.Lock()
	l.lastCPSize, l.lastCP = size, signed
	l.cpMu.Unlock()
	return nil
}
