package audit

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/mod/sumdb/tlog"

	protocolaudit "github.com/sitewarden/sitewarden/protocol/audit"
)

// Badger keys. Integers are big-endian so keys sort by number.
const (
	// 'e' | index -> entry: k (1 byte) || the record's k tlog stored hashes
	// (32 bytes each, levels 0..k-1) || canonical record. One key per
	// record: Badger's cost is mostly per key, and the record's stored
	// hashes are written with it anyway.
	prefixEntry      = 'e'
	prefixCheckpoint = 'c' // 'c' | tree size -> signed checkpoint note
	// Keys of index format 1 (a record and each stored hash under its own
	// key), dropped and rebuilt from the segments on open.
	prefixRecordV1 = 'r'
	prefixHashV1   = 'h'
)

var (
	metaSize   = []byte("m/size")   // records applied to the index (uint64 BE)
	metaOrigin = []byte("m/origin") // the log's origin
	metaKey    = []byte("m/vkey")   // the verifier key of the signing key
	metaFormat = []byte("m/format") // index format (one byte); absent: 1
)

// indexFormat is the current index format (see prefixEntry).
const indexFormat = 2

func numKey(prefix byte, n uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefix
	binary.BigEndian.PutUint64(k[1:], n)
	return k
}

// badgerLogger sends Badger's log lines to slog at matching levels, keeping
// Badger's chatty info and debug lines at debug.
type badgerLogger struct{ log *slog.Logger }

var _ badger.Logger = badgerLogger{}

func (b badgerLogger) Errorf(f string, a ...any) {
	b.log.Error("badger", "msg_detail", strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (b badgerLogger) Warningf(f string, a ...any) {
	b.log.Warn("badger", "msg_detail", strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (b badgerLogger) Infof(f string, a ...any) { b.Debugf(f, a...) }
func (b badgerLogger) Debugf(f string, a ...any) {
	// Badger logs often on its write path: format only what is kept.
	if b.log.Enabled(context.Background(), slog.LevelDebug) {
		b.log.Debug("badger", "msg_detail", strings.TrimSpace(fmt.Sprintf(f, a...)))
	}
}

func openBadger(dir string, cfg Config, log *slog.Logger) (*badger.DB, error) {
	opts := badger.DefaultOptions(dir).
		WithSyncWrites(false). // durability comes from the segment files
		WithLogger(badgerLogger{log}).
		WithNumVersionsToKeep(1).
		WithMemTableSize(cfg.BadgerMemTableSize).
		WithValueLogFileSize(64 << 20).
		WithBlockCacheSize(16 << 20).
		WithIndexCacheSize(8 << 20).
		WithNumCompactors(0). // compacted on demand: see compactor
		WithNumLevelZeroTables(l0Tables).
		WithNumLevelZeroTablesStall(l0Stall).
		WithDetectConflicts(false).
		WithMetricsEnabled(false)
	// Badger refuses a value threshold above its batch limit (15% of the
	// memtable), which small memtables (down to Validate's 1 MiB) go below.
	if maxBatch := 15 * cfg.BadgerMemTableSize / 100; opts.ValueThreshold > maxBatch {
		opts = opts.WithValueThreshold(maxBatch)
	}
	db, err := badger.Open(opts)
	if err != nil {
		if strings.Contains(err.Error(), "Cannot acquire directory lock") || strings.Contains(err.Error(), "Another process is using this Badger database") {
			return nil, fmt.Errorf("%w: %s; stop the runner (or the other command) using it and retry", ErrLocked, dir)
		}
		return nil, fmt.Errorf("open audit index %s: %w", dir, err)
	}
	return db, nil
}

func getUint(txn *badger.Txn, key []byte) (uint64, bool, error) {
	b, ok, err := getBytes(txn, key)
	if err != nil || !ok {
		return 0, ok, err
	}
	if len(b) != 8 {
		return 0, false, fmt.Errorf("%w: key %q holds %d bytes", ErrCorrupt, key, len(b))
	}
	return binary.BigEndian.Uint64(b), true, nil
}

func getBytes(txn *badger.Txn, key []byte) ([]byte, bool, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read audit index: %w", err)
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return nil, false, fmt.Errorf("read audit index: %w", err)
	}
	return v, true, nil
}

// hashStore reads stored tree hashes: the pending ones of the batch being
// applied, then the cached peaks of the current tree, then Badger. Only the
// goroutine that owns the Log's write side uses it.
type hashStore struct {
	db      *badger.DB
	compact *compactor // poked after each write; nil: none
	pending map[int64]tlog.Hash
	peaks   map[int64]tlog.Hash
}

var _ tlog.HashReader = (*hashStore)(nil)

func (h *hashStore) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	var missing []int
	for i, x := range idx {
		if v, ok := h.pending[x]; ok {
			out[i] = v
		} else if v, ok := h.peaks[x]; ok {
			out[i] = v
		} else {
			missing = append(missing, i)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	err := h.db.View(func(txn *badger.Txn) error {
		return readHashesTxn(txn, idx, out, missing)
	})
	return out, err
}

// readHashesTxn reads the stored hashes idx[i] for i in which. Stored hash
// (level L, n) is written with record ((n+1) << L) - 1, at position L of
// that record's entry.
func readHashesTxn(txn *badger.Txn, idx []int64, out []tlog.Hash, which []int) error {
	var key [9]byte
	key[0] = prefixEntry
	for _, i := range which {
		level, n := tlog.SplitStoredHashIndex(idx[i])
		if level < 0 || level > 62 || n < 0 || n >= int64(1)<<(62-level) {
			return fmt.Errorf("%w: tree hash %d is out of range", ErrCorrupt, idx[i])
		}
		binary.BigEndian.PutUint64(key[1:], uint64(((n+1)<<level)-1))
		item, err := txn.Get(key[:])
		if errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("%w: tree hash %d is missing", ErrCorrupt, idx[i])
		}
		if err != nil {
			return fmt.Errorf("read audit index: %w", err)
		}
		if err := item.Value(func(v []byte) error {
			hs, _, err := splitEntry(v)
			if err != nil {
				return err
			}
			if level >= len(hs)/tlog.HashSize {
				return fmt.Errorf("%w: tree hash %d is missing", ErrCorrupt, idx[i])
			}
			out[i] = tlog.Hash(hs[level*tlog.HashSize:])
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// splitEntry splits an index entry (prefixEntry) into its stored hashes
// (a multiple of 32 bytes) and its record.
func splitEntry(v []byte) (hashes, rec []byte, err error) {
	if len(v) < 1 || v[0] == 0 || len(v) < 1+int(v[0])*tlog.HashSize {
		return nil, nil, fmt.Errorf("%w: malformed index entry of %d bytes", ErrCorrupt, len(v))
	}
	k := int(v[0])
	return v[1 : 1+k*tlog.HashSize], v[1+k*tlog.HashSize:], nil
}

// txnHashes reads stored hashes inside one read transaction (proofs),
// through the log's cache of upper-level hashes.
type txnHashes struct {
	txn   *badger.Txn
	cache *hashCache
}

var _ tlog.HashReader = txnHashes{}

func (t txnHashes) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	var missing []int
	for i, x := range idx {
		if h, ok := t.cache.get(x); ok {
			out[i] = h
		} else {
			missing = append(missing, i)
		}
	}
	if err := readHashesTxn(t.txn, idx, out, missing); err != nil {
		return nil, err
	}
	for _, i := range missing {
		t.cache.put(idx[i], out[i])
	}
	return out, nil
}

// hashCache keeps stored hashes of tree level cacheLevel and above, which
// every proof reads and which never change once written: a proof then
// reads only its lowest levels from Badger. It holds at most cacheMax
// hashes (about 6 MiB) and starts over when full. Safe for concurrent use.
type hashCache struct {
	mu sync.Mutex
	m  map[int64]tlog.Hash
}

const (
	cacheLevel = 5
	cacheMax   = 1 << 16
)

func (c *hashCache) get(idx int64) (tlog.Hash, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.m[idx]
	return h, ok
}

func (c *hashCache) put(idx int64, h tlog.Hash) {
	if level, _ := tlog.SplitStoredHashIndex(idx); level < cacheLevel {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= cacheMax {
		c.m = make(map[int64]tlog.Hash, 1024)
	}
	c.m[idx] = h
}

// apply indexes records start, start+1, ... in one Badger write batch:
// one entry per record (its stored tree hashes and the record) and the new
// size. It then keeps the new tree's peaks in memory for the next batch
// and the next root.
func (h *hashStore) apply(start uint64, recs [][]byte) error {
	if h.pending == nil {
		h.pending = make(map[int64]tlog.Hash, 2*len(recs)+8)
	}
	defer clear(h.pending)
	// Keys and values are cut from two buffers (Badger keeps the slices
	// until the batch is flushed): two allocations per batch, not per key.
	size := 0
	for _, rec := range recs {
		size += 1 + 2*tlog.HashSize + len(rec) // most records store 1 or 2 hashes
	}
	keys := make([]byte, 0, 9*len(recs))
	vals := make([]byte, 0, size)
	wb := h.db.NewWriteBatch()
	defer wb.Cancel()
	for i, rec := range recs {
		n := start + uint64(i)
		hs, err := tlog.StoredHashes(int64(n), rec, h)
		if err != nil {
			return fmt.Errorf("hash audit record %d: %w", n, err)
		}
		base := tlog.StoredHashIndex(0, int64(n))
		for j, hv := range hs {
			h.pending[base+int64(j)] = hv
		}
		k0 := len(keys)
		keys = append(keys, prefixEntry)
		keys = binary.BigEndian.AppendUint64(keys, n)
		if need := 1 + len(hs)*tlog.HashSize + len(rec); cap(vals)-len(vals) < need {
			vals = make([]byte, 0, max(need, size)) // the earlier buffer stays with its entries
		}
		v0 := len(vals)
		vals = append(vals, byte(len(hs)))
		for _, hv := range hs {
			vals = append(vals, hv[:]...)
		}
		vals = append(vals, rec...)
		if err := wb.Set(keys[k0:len(keys):len(keys)], vals[v0:len(vals):len(vals)]); err != nil {
			return fmt.Errorf("index audit record %d: %w", n, err)
		}
	}
	end := start + uint64(len(recs))
	if err := wb.Set(metaSize, binary.BigEndian.AppendUint64(nil, end)); err != nil {
		return fmt.Errorf("index audit records: %w", err)
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("index audit records: %w", err)
	}
	h.compact.poke()
	return h.loadPeaks(end)
}

// loadPeaks keeps exactly the peaks of a tree of size leaves in memory.
func (h *hashStore) loadPeaks(size uint64) error {
	idx := protocolaudit.PeakIndexes(size)
	hs, err := h.ReadHashes(idx)
	if err != nil {
		return err
	}
	peaks := make(map[int64]tlog.Hash, len(idx))
	for i, x := range idx {
		peaks[x] = hs[i]
	}
	h.peaks = peaks
	return nil
}
