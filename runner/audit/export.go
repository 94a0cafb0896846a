package audit

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/mod/sumdb/tlog"

	protocolaudit "github.com/sitewarden/sitewarden/protocol/audit"
)

// ExportOptions selects what Export writes.
type ExportOptions struct {
	// Client must be the log's client: a log never exports another's.
	Client string
	// From and To bound record times (inclusive); zero means unbounded. The
	// export is the contiguous index range from the first record at or
	// after From to the last record at or before To, so a record with an
	// out-of-order clock inside it is exported too and nothing is skipped.
	From, To time.Time
	// Progress, if set, is called with records written and the total, every
	// 1,000 records and at the end.
	Progress func(done, total uint64)
}

// ExportResult describes a written export.
type ExportResult struct {
	First, Count uint64 // exported index range [First, First+Count)
	TreeSize     uint64 // size of the last (covering) checkpoint
	Checkpoints  int
	Key          string // verifier key of the signing key
}

// Export writes the records selected by opt, the checkpoints covering them
// and the proofs an auditor needs, in the format of protocol/audit, to w.
// Only records covered by a signed checkpoint are exported.
func (l *Log) Export(ctx context.Context, w io.Writer, opt ExportOptions) (ExportResult, error) {
	var res ExportResult
	if opt.Client != l.cfg.Client {
		return res, fmt.Errorf("%w: this log holds client %q's records, not %q", ErrWrongClient, l.cfg.Client, opt.Client)
	}
	if !opt.From.IsZero() && !opt.To.IsZero() && opt.To.Before(opt.From) {
		return res, fmt.Errorf("%w: --to %s is before --from %s", ErrRange, opt.To.Format(time.RFC3339), opt.From.Format(time.RFC3339))
	}
	cpNote, err := l.Checkpoint(ctx)
	if err != nil {
		return res, err
	}
	cp, err := protocolaudit.OpenCheckpoint(cpNote)
	if err != nil {
		return res, fmt.Errorf("%w: latest checkpoint: %v", ErrCorrupt, err)
	}
	first, end, err := l.timeRange(ctx, cp.Size, opt.From, opt.To)
	if err != nil {
		return res, err
	}
	within, beyond, err := l.storedCheckpoints(first, end)
	if err != nil {
		return res, err
	}
	within = thin(within, protocolaudit.MaxExportCheckpoints-1)
	cps := make([]protocolaudit.ExportCheckpoint, 0, len(within)+1)
	for _, n := range within {
		cps = append(cps, protocolaudit.ExportCheckpoint{Note: n})
	}
	res.TreeSize = end
	if last, _ := lastSize(within); last != end {
		if beyond == nil {
			return res, fmt.Errorf("%w: no checkpoint covers records up to %d", ErrCorrupt, end)
		}
		bc, err := protocolaudit.OpenCheckpoint(beyond)
		if err != nil {
			return res, fmt.Errorf("%w: stored checkpoint: %v", ErrCorrupt, err)
		}
		proof, err := l.ConsistencyProof(ctx, end, bc.Size)
		if err != nil {
			return res, err
		}
		p, err := protocolaudit.HashesFromBytes(proof)
		if err != nil {
			return res, err
		}
		cps = append(cps, protocolaudit.ExportCheckpoint{Note: beyond, Proof: p})
		res.TreeSize = bc.Size
	}
	peaks, err := l.peaksAt(first)
	if err != nil {
		return res, err
	}
	xw, err := protocolaudit.NewWriter(w, protocolaudit.ExportHeader{Origin: l.origin, Client: l.cfg.Client, Key: l.vkey,
		First: first, Count: end - first, Created: time.Now(), Peaks: peaks})
	if err != nil {
		return res, err
	}
	for _, c := range cps {
		if err := xw.WriteCheckpoint(c); err != nil {
			return res, err
		}
	}
	total, done := end-first, uint64(0)
	err = l.scanRecords(ctx, first, end, func(i uint64, rec []byte) error {
		if err := xw.WriteRecord(i, rec); err != nil {
			return err
		}
		if done++; opt.Progress != nil && done%1000 == 0 {
			opt.Progress(done, total)
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	if err := xw.Close(); err != nil {
		return res, err
	}
	if opt.Progress != nil {
		opt.Progress(total, total)
	}
	return ExportResult{First: first, Count: total, TreeSize: res.TreeSize, Checkpoints: len(cps), Key: l.vkey}, nil
}

func lastSize(notes [][]byte) (uint64, error) {
	if len(notes) == 0 {
		return 0, nil
	}
	c, err := protocolaudit.OpenCheckpoint(notes[len(notes)-1])
	return c.Size, err
}

// thin keeps at most n of list, evenly spaced, always keeping the last.
func thin(list [][]byte, n int) [][]byte {
	if len(list) <= n {
		return list
	}
	out := make([][]byte, 0, n)
	for i := range n {
		out = append(out, list[(i+1)*len(list)/n-1])
	}
	return out
}

// timeRange returns the index range [first, end) within the first size
// records whose times fall between from and to (zero: unbounded).
func (l *Log) timeRange(ctx context.Context, size uint64, from, to time.Time) (uint64, uint64, error) {
	if size == 0 {
		return 0, 0, fmt.Errorf("%w: the log is empty", ErrNoRecords)
	}
	if from.IsZero() && to.IsZero() {
		return 0, size, nil
	}
	var first, last uint64
	found := false
	err := l.scanRecords(ctx, 0, size, func(i uint64, rec []byte) error {
		if len(rec) < 9 {
			return fmt.Errorf("%w: record %d is %d bytes", ErrCorrupt, i, len(rec))
		}
		t := time.Unix(0, int64(binary.BigEndian.Uint64(rec[1:9])))
		if (from.IsZero() || !t.Before(from)) && (to.IsZero() || !t.After(to)) {
			if !found {
				first, found = i, true
			}
			last = i
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	if !found {
		return 0, 0, fmt.Errorf("%w: none of the %d checkpointed records falls between %s and %s", ErrNoRecords, size,
			fmtTime(from), fmtTime(to))
	}
	return first, last + 1, nil
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "(unbounded)"
	}
	return t.UTC().Format(time.RFC3339)
}

// Root returns the root hash of the tree of size records.
func (l *Log) Root(ctx context.Context, size uint64) (tlog.Hash, error) {
	if size > l.Size() {
		return tlog.Hash{}, fmt.Errorf("%w: root of %d records in a log of %d", ErrRange, size, l.Size())
	}
	if err := l.waitIndexed(ctx, size); err != nil {
		return tlog.Hash{}, err
	}
	var h tlog.Hash
	err := l.db.View(func(txn *badger.Txn) error {
		var err error
		h, err = tlog.TreeHash(int64(size), txnHashes{txn, &l.hcache})
		return err
	})
	return h, err
}
