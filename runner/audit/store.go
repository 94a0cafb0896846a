package audit

import (
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
	prefixRecord     = 'r' // 'r' | index          -> canonical record
	prefixHash       = 'h' // 'h' | storage index  -> 32-byte tlog hash
	prefixCheckpoint = 'c' // 'c' | tree size      -> signed checkpoint note
)

var (
	metaSize   = []byte("m/size")   // records applied to the index (uint64 BE)
	metaOrigin = []byte("m/origin") // the log's origin
	metaKey    = []byte("m/vkey")   // the verifier key of the signing key
)

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
func (b badgerLogger) Infof(f string, a ...any) {
	b.log.Debug("badger", "msg_detail", strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (b badgerLogger) Debugf(f string, a ...any) {
	b.log.Debug("badger", "msg_detail", strings.TrimSpace(fmt.Sprintf(f, a...)))
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

func readHashesTxn(txn *badger.Txn, idx []int64, out []tlog.Hash, which []int) error {
	for _, i := range which {
		v, ok, err := getBytes(txn, numKey(prefixHash, uint64(idx[i])))
		if err != nil {
			return err
		}
		if !ok || len(v) != tlog.HashSize {
			return fmt.Errorf("%w: tree hash %d is missing", ErrCorrupt, idx[i])
		}
		out[i] = tlog.Hash(v)
	}
	return nil
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

// apply indexes records start, start+1, ... in one Badger transaction:
// the records, their stored tree hashes and the new size. It then keeps
// the new tree's peaks in memory for the next batch and the next root.
func (h *hashStore) apply(start uint64, recs [][]byte) error {
	h.pending = make(map[int64]tlog.Hash, 2*len(recs)+8)
	defer func() { h.pending = nil }()
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
			if err := wb.Set(numKey(prefixHash, uint64(base+int64(j))), append([]byte(nil), hv[:]...)); err != nil {
				return fmt.Errorf("index audit record %d: %w", n, err)
			}
		}
		if err := wb.Set(numKey(prefixRecord, n), rec); err != nil {
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
