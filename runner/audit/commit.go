package audit

import (
	"context"
	"fmt"
	"path/filepath"
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

// indexJob is one group commit to index, or (cp set) a checkpoint request.
type indexJob struct {
	start uint64
	recs  [][]byte
	cp    chan cpResult
}

// commitLoop is the committer goroutine.
func (l *Log) commitLoop() {
	defer close(l.jobs)
	batch := make([]*appendReq, 0, l.cfg.MaxBatch)
	for {
		select {
		case r := <-l.reqs:
			batch = l.gather(append(batch[:0], r))
			l.commit(batch)
		case ch := <-l.cpReqs:
			l.jobs <- indexJob{cp: ch}
		case <-l.closing:
			for {
				select {
				case r := <-l.reqs:
					batch = l.gather(append(batch[:0], r))
					l.commit(batch)
					continue
				default:
				}
				return
			}
		}
	}
}

// gather adds queued requests to batch without waiting, up to MaxBatch
// records and about 1 MiB.
func (l *Log) gather(batch []*appendReq) []*appendReq {
	bytes := len(batch[0].enc)
	for len(batch) < l.cfg.MaxBatch && bytes < 1<<20 {
		select {
		case r := <-l.reqs:
			batch = append(batch, r)
			bytes += entryHeader + len(r.enc)
		default:
			return batch
		}
	}
	return batch
}

func (l *Log) fail(err error) {
	l.failed.CompareAndSwap(nil, &err)
	l.log.Error("audit log write failed; refusing further appends until reopened", "err", err.Error(), "size", l.Size())
}

// commit makes one batch durable, answers its callers and queues it for
// indexing. A failure fails the batch and the log (fail closed).
func (l *Log) commit(batch []*appendReq) {
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
	buf := make([]byte, 0, n)
	recs := make([][]byte, len(batch))
	for i, r := range batch {
		buf = appendEntry(buf, start+uint64(i), r.enc)
		recs[i] = r.enc
	}
	if err := l.writeDurable(buf); err != nil {
		l.fail(err)
		for _, r := range batch {
			r.done <- appendResult{err: fmt.Errorf("append audit record: %w", err)}
		}
		return
	}
	l.size.Store(start + uint64(len(batch)))
	for i, r := range batch {
		r.done <- appendResult{index: start + uint64(i)}
	}
	l.jobs <- indexJob{start: start, recs: recs}
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
	for {
		select {
		case job, ok := <-l.jobs:
			if !ok {
				if l.failed.Load() == nil && l.indexed.Load() > l.lastCPSize {
					l.checkpointLogged()
				}
				return
			}
			if job.cp != nil {
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
			l.index(job)
		case <-tick.C:
			if l.failed.Load() == nil && l.indexed.Load() > l.lastCPSize {
				l.checkpointLogged()
			}
		}
	}
}

// index applies one group commit to Badger and signs a checkpoint every
// CheckpointEvery records.
func (l *Log) index(job indexJob) {
	if l.failed.Load() != nil {
		return // the tree hashes after a failure would be wrong; reopen replays
	}
	if err := l.hashes.apply(job.start, job.recs); err != nil {
		l.fail(err)
		return
	}
	l.idxMu.Lock()
	l.indexed.Store(job.start + uint64(len(job.recs)))
	close(l.idxWake)
	l.idxWake = make(chan struct{})
	l.idxMu.Unlock()
	if l.indexed.Load()-l.lastCPSize >= l.cfg.CheckpointEvery {
		l.checkpointLogged()
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
