package audit

import (
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/mod/sumdb/tlog"

	protocolaudit "github.com/sitewarden/sitewarden/protocol/audit"
)

// toFormat1 rewrites the index in dir the way index format 1 stored it: a
// record under 'r' | index and each stored hash under 'h' | storage index,
// no format key.
func toFormat1(t *testing.T, cfg Config) {
	t.Helper()
	db, err := openBadger(filepath.Join(cfg.Dir, "index"), cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	wb := db.NewWriteBatch()
	err = db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: []byte{prefixEntry}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n := binary.BigEndian.Uint64(it.Item().Key()[1:])
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			hs, rec, err := splitEntry(v)
			if err != nil {
				return err
			}
			if err := wb.Set(numKey(prefixRecordV1, n), rec); err != nil {
				return err
			}
			base := tlog.StoredHashIndex(0, int64(n))
			for j := 0; j < len(hs); j += tlog.HashSize {
				if err := wb.Set(numKey(prefixHashV1, uint64(base)+uint64(j/tlog.HashSize)), hs[j:j+tlog.HashSize]); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := wb.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := db.DropPrefix([]byte{prefixEntry}); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(txn *badger.Txn) error { return txn.Delete(metaFormat) }); err != nil {
		t.Fatal(err)
	}
}

// countPrefix counts the keys in the log's index that start with p.
func countPrefix(t *testing.T, l *Log, p byte) int {
	t.Helper()
	n := 0
	err := l.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{p}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestUpgradeIndexFormat1: an index written in format 1 is rebuilt in the
// current format from the segments on open, keeping the log's identity and
// its signed checkpoints; proofs from the rebuilt index verify. An unknown
// format is refused.
func TestUpgradeIndexFormat1(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.CheckpointEvery = 100
	l := openLog(t, cfg, testKey(1))
	appendConcurrently(t, l, 8, 777)
	before := checkTree(t, l)
	closeLog(t, l)
	toFormat1(t, cfg)

	l = openLog(t, cfg, testKey(1))
	if n := countPrefix(t, l, prefixRecordV1) + countPrefix(t, l, prefixHashV1); n != 0 {
		t.Fatalf("%d format-1 keys left after the upgrade", n)
	}
	if n := countPrefix(t, l, prefixEntry); n != 777 {
		t.Fatalf("%d entries after the upgrade, want 777", n)
	}
	cps, _, err := l.storedCheckpoints(0, l.Size())
	if err != nil || len(cps) < 7 {
		t.Fatalf("%d checkpoints kept (want the 7+ signed before): %v", len(cps), err)
	}
	after := checkTree(t, l)
	if after.Size != before.Size || after.Hash != before.Hash {
		t.Fatalf("upgraded %d/%v, was %d/%v", after.Size, after.Hash, before.Size, before.Hash)
	}
	ctx := context.Background()
	recs, err := l.Records(ctx, 0, 777)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []uint64{0, 255, 511, 776} {
		p, err := l.InclusionProof(ctx, i, after.Size)
		if err != nil {
			t.Fatal(err)
		}
		hs, err := protocolaudit.HashesFromBytes(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.CheckRecord(hs, int64(after.Size), after.Hash, int64(i), protocolaudit.LeafHash(recs[i])); err != nil {
			t.Fatalf("inclusion of %d after the upgrade: %v", i, err)
		}
	}
	closeLog(t, l)

	db, err := openBadger(filepath.Join(cfg.Dir, "index"), cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(txn *badger.Txn) error { return txn.Set(metaFormat, []byte{9}) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, cfg, testKey(1), testLogger(t)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open an index of format 9: %v", err)
	}
}
