package audit

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// smallTables opens the index the way Open does, with Badger's smallest
// memtable we allow (1 MiB), so that a few MiB of writes flush many
// level-0 tables.
func smallTables(t *testing.T) (*badger.DB, Config) {
	t.Helper()
	cfg := testConfig(t.TempDir())
	cfg.BadgerMemTableSize = 1 << 20
	db, err := openBadger(filepath.Join(cfg.Dir, "index"), cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return db, cfg
}

// writeMiB writes mib MiB of 1 KiB values in write batches of 128 KiB,
// calling after each batch, and reports the outcome on the returned
// channel.
func writeMiB(db *badger.DB, mib int, after func()) <-chan error {
	done := make(chan error, 1)
	go func() {
		val := bytes.Repeat([]byte("v"), 1024)
		n := uint64(0)
		for range mib * 8 {
			wb := db.NewWriteBatch()
			for range 128 {
				if err := wb.Set(numKey(prefixEntry, n), val); err != nil {
					wb.Cancel()
					done <- err
					return
				}
				n++
			}
			if err := wb.Flush(); err != nil {
				done <- err
				return
			}
			after()
		}
		done <- nil
	}()
	return done
}

// TestIndexStallsWithoutCompaction is the control for the test below: the
// index runs no compactor of Badger's own, so writes with nobody
// compacting stop for good once level 0 holds l0Stall tables.
func TestIndexStallsWithoutCompaction(t *testing.T) {
	db, _ := smallTables(t)
	// 64 MiB cannot fit in l0Stall tables plus the memtables queued for
	// flushing: these writes can only finish if something compacts.
	done := writeMiB(db, 64, func() {})
	deadline := time.After(60 * time.Second)
	for stalled := false; !stalled; {
		select {
		case err := <-done:
			t.Fatalf("64 MiB of writes finished without compaction (err %v); level 0 holds %d tables: Badger compacts by itself again, and the compactor is no longer what keeps writes going", err, db.Levels()[0].NumTables)
		case <-deadline:
			t.Fatalf("level 0 never reached %d tables (holds %d)", l0Stall, db.Levels()[0].NumTables)
		case <-time.After(20 * time.Millisecond):
			stalled = db.Levels()[0].NumTables >= l0Stall
		}
	}
	// Closing releases the blocked flush (Badger force-adds the table on
	// close) and with it the writer.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the writer is still blocked after Close")
	}
}

// TestCompactionOnDemandNeverStalls writes 64 MiB (over 60 memtable
// flushes, four times the stall threshold) with the compactor poked after
// each batch, as the indexer does: the writes finish, level 0 never comes
// near the stall, and the compactor ran.
func TestCompactionOnDemandNeverStalls(t *testing.T) {
	db, _ := smallTables(t)
	c := startCompactor(db, testLogger(t), compactCheckEvery)
	done := writeMiB(db, 64, c.poke)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(120 * time.Second):
		t.Fatalf("writes stalled: level 0 holds %d tables after %d compactions", db.Levels()[0].NumTables, c.runs.Load())
	}
	c.close()
	if c.runs.Load() == 0 {
		t.Fatal("the compactor never ran")
	}
	if m := c.maxL0.Load(); m >= l0Stall {
		t.Fatalf("level 0 reached %d tables (stall at %d)", m, l0Stall)
	}
	// Everything written is readable after the compactions.
	err := db.View(func(txn *badger.Txn) error {
		for _, n := range []uint64{0, 4096, 64*8*128 - 1} {
			if _, ok, err := getBytes(txn, numKey(prefixEntry, n)); err != nil || !ok {
				return fmt.Errorf("key %d: found %v, %v", n, ok, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestLogCompactsOnDemand appends about 25 MiB of records through the Log
// with 1 MiB memtables: level 0 stays below the stall. It then rebuilds
// the index from the segments on open, which writes the whole index as fast
// as Badger takes it before Open returns: level 0 may reach the stall there
// (Badger's flow control, as with its own compactors), but the rebuild
// finishes because the compactor runs from before it.
func TestLogCompactsOnDemand(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.BadgerMemTableSize = 1 << 20
	cfg.SegmentSize = 16 << 20
	l := openLog(t, cfg, testKey(1))
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	blob := fmt.Appendf(nil, `{"blob":"%s"}`, bytes.Repeat([]byte("b"), 16<<10))
	const writers, perWriter = 8, 200 // 1,600 records of 16 KiB
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				r := record(w, i)
				r.Payload = blob
				if _, err := l.Append(ctx, r); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	before := checkTree(t, l)
	runs, maxL0 := l.comp.runs.Load(), l.comp.maxL0.Load()
	closeLog(t, l)
	if runs == 0 || maxL0 >= l0Stall {
		t.Fatalf("appends: %d compactions, level 0 up to %d tables (stall at %d)", runs, maxL0, l0Stall)
	}

	if err := os.RemoveAll(filepath.Join(cfg.Dir, "index")); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, cfg, testKey(1))
	defer closeLog(t, l)
	if after := checkTree(t, l); after.Size != before.Size || after.Hash != before.Hash {
		t.Fatalf("rebuilt %d/%v, was %d/%v", after.Size, after.Hash, before.Size, before.Hash)
	}
	runs, maxL0 = l.comp.runs.Load(), l.comp.maxL0.Load()
	if runs == 0 {
		t.Fatalf("rebuild: no compaction, level 0 up to %d tables", maxL0)
	}
	t.Logf("rebuild: %d compactions, level 0 up to %d tables (stall at %d)", runs, maxL0, l0Stall)
}
