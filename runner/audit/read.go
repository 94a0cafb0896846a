package audit

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/mod/sumdb/tlog"

	protocolaudit "github.com/sitewarden/sitewarden/protocol/audit"
)

// Records returns the canonical encodings of records [from, to), for sync
// (AuditBatch.records). The range must lie within Size and hold at most
// Config.MaxRead records.
func (l *Log) Records(ctx context.Context, from, to uint64) ([][]byte, error) {
	if from >= to || to > l.Size() || to-from > l.cfg.MaxRead {
		return nil, fmt.Errorf("%w: [%d, %d) of a log of %d records (at most %d per call)", ErrRange, from, to, l.Size(), l.cfg.MaxRead)
	}
	out := make([][]byte, 0, to-from)
	err := l.scanRecords(ctx, from, to, func(_ uint64, rec []byte) error {
		out = append(out, append([]byte(nil), rec...))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// scanRecords calls fn for each record in [from, to) in index order; rec
// is valid only during the call.
func (l *Log) scanRecords(ctx context.Context, from, to uint64, fn func(index uint64, rec []byte) error) error {
	if err := l.waitIndexed(ctx, to); err != nil {
		return err
	}
	return l.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 256, Prefix: []byte{prefixEntry}})
		defer it.Close()
		want := from
		for it.Seek(numKey(prefixEntry, from)); it.Valid() && want < to; it.Next() {
			item := it.Item()
			idx := binary.BigEndian.Uint64(item.Key()[1:])
			if idx != want {
				return fmt.Errorf("%w: record %d is missing from the index", ErrCorrupt, want)
			}
			if want%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return fmt.Errorf("read audit records: %w", err)
				}
			}
			if err := item.Value(func(v []byte) error {
				_, rec, err := splitEntry(v)
				if err != nil {
					return fmt.Errorf("record %d: %w", idx, err)
				}
				return fn(idx, rec)
			}); err != nil {
				return err
			}
			want++
		}
		if want != to {
			return fmt.Errorf("%w: record %d is missing from the index", ErrCorrupt, want)
		}
		return nil
	})
}

// ConsistencyProof proves that the tree of newSize records extends the
// tree of oldSize records (RFC 6962; AuditBatch.consistency_proof). It is
// empty when oldSize is 0 or equals newSize.
func (l *Log) ConsistencyProof(ctx context.Context, oldSize, newSize uint64) ([][]byte, error) {
	if oldSize > newSize || newSize > l.Size() {
		return nil, fmt.Errorf("%w: consistency from %d to %d in a log of %d records", ErrRange, oldSize, newSize, l.Size())
	}
	if oldSize == 0 || oldSize == newSize {
		return nil, nil
	}
	if err := l.waitIndexed(ctx, newSize); err != nil {
		return nil, err
	}
	var p tlog.TreeProof
	err := l.db.View(func(txn *badger.Txn) error {
		var err error
		p, err = tlog.ProveTree(int64(newSize), int64(oldSize), txnHashes{txn, &l.hcache})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("audit consistency proof: %w", err)
	}
	return protocolaudit.HashesToBytes(p), ctx.Err()
}

// InclusionProof proves that record index is in the tree of size records
// (RFC 6962 audit path), checkable with tlog.CheckRecord.
func (l *Log) InclusionProof(ctx context.Context, index, size uint64) ([][]byte, error) {
	if index >= size || size > l.Size() {
		return nil, fmt.Errorf("%w: record %d in a tree of %d (log of %d records)", ErrRange, index, size, l.Size())
	}
	if err := l.waitIndexed(ctx, size); err != nil {
		return nil, err
	}
	var p tlog.RecordProof
	err := l.db.View(func(txn *badger.Txn) error {
		var err error
		p, err = tlog.ProveRecord(int64(size), int64(index), txnHashes{txn, &l.hcache})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("audit inclusion proof: %w", err)
	}
	return protocolaudit.HashesToBytes(p), ctx.Err()
}

// storedCheckpoints returns the stored checkpoints with sizes in
// (after, upTo], in order, and the smallest one larger than upTo (nil if
// none).
func (l *Log) storedCheckpoints(after, upTo uint64) (within [][]byte, beyond []byte, err error) {
	err = l.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: []byte{prefixCheckpoint}})
		defer it.Close()
		for it.Seek(numKey(prefixCheckpoint, after+1)); it.Valid(); it.Next() {
			size := binary.BigEndian.Uint64(it.Item().Key()[1:])
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("read audit checkpoint: %w", err)
			}
			if size > upTo {
				beyond = v
				return nil
			}
			within = append(within, v)
		}
		return nil
	})
	return within, beyond, err
}

// peaksAt returns the peak hashes of the tree of size records.
func (l *Log) peaksAt(size uint64) ([]tlog.Hash, error) {
	var out []tlog.Hash
	err := l.db.View(func(txn *badger.Txn) error {
		var err error
		out, err = txnHashes{txn, &l.hcache}.ReadHashes(protocolaudit.PeakIndexes(size))
		return err
	})
	return out, err
}
