package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/mod/sumdb/tlog"

	protocolaudit "github.com/sitewarden/sitewarden/protocol/audit"
)

func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func testConfig(dir string) Config {
	cfg := DefaultConfig()
	cfg.Dir, cfg.Client, cfg.Site = dir, "acme", "hq"
	cfg.SegmentSize = 4 * protocolaudit.MaxRecordSize
	return cfg
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimSpace(p)))
	return len(p), nil
}

func openLog(t testing.TB, cfg Config, key ed25519.PrivateKey) *Log {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := Open(ctx, cfg, key, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func closeLog(t testing.TB, l *Log) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func record(w, n int) protocolaudit.Record {
	return protocolaudit.Record{Kind: protocolaudit.KindActionStart, Agent: "account-helper",
		GoalID: fmt.Sprintf("g-%d", w), Actor: "agent",
		Payload: fmt.Appendf(nil, `{"w":%d,"n":%d,"action":"directory.unlock_account"}`, w, n)}
}

// appendConcurrently appends n records from writers goroutines and returns
// the indexes each record got, keyed by payload.
func appendConcurrently(t testing.TB, l *Log, writers, n int) map[string]uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var mu sync.Mutex
	got := map[string]uint64{}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := w; i < n; i += writers {
				r := record(w, i)
				idx, err := l.Append(ctx, r)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				got[string(r.Payload)] = idx
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return got
}

// fill appends 4 KiB records from 8 writers until the current segment has
// less than room bytes left: a quick way to reach segment boundaries.
func fill(t testing.TB, l *Log, room int64) {
	t.Helper()
	ctx := context.Background()
	big := fmt.Appendf(nil, `{"blob":"%s"}`, bytes.Repeat([]byte("f"), 4096))
	for l.seg.off < l.seg.size-room {
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				r := record(0, 0)
				r.Payload = big
				if _, err := l.Append(ctx, r); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
	}
}

// checkTree recomputes the root of the whole log from its records with
// protocol/audit's Range and compares it with a fresh signed checkpoint.
func checkTree(t testing.TB, l *Log) protocolaudit.Checkpoint {
	t.Helper()
	ctx := context.Background()
	signed, err := l.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v, err := protocolaudit.VerifierKey(l.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	c, err := protocolaudit.VerifyCheckpoint(signed, v)
	if err != nil {
		t.Fatal(err)
	}
	if c.Size != l.Size() {
		t.Fatalf("checkpoint size %d, log size %d", c.Size, l.Size())
	}
	var rng protocolaudit.Range
	if err := l.scanRecords(ctx, 0, c.Size, func(_ uint64, rec []byte) error {
		if _, err := protocolaudit.Decode(rec); err != nil {
			return err
		}
		rng.Append(protocolaudit.LeafHash(rec))
		return nil
	}); err != nil && c.Size > 0 {
		t.Fatal(err)
	}
	if c.Size > 0 && rng.Root() != c.Hash {
		t.Fatalf("signed root %v, recomputed %v", c.Hash, rng.Root())
	}
	return c
}

func TestAppendReopen(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	cfg := testConfig(dir)
	l := openLog(t, cfg, testKey(1))
	got := appendConcurrently(t, l, 8, 3000)
	if l.Size() != 3000 || len(got) != 3000 {
		t.Fatalf("size %d, %d distinct acks", l.Size(), len(got))
	}
	// Group commit: 8 writers that each wait for their record share syncs.
	// (How many share one depends on scheduling; that some do does not.)
	if c := l.commits.Load(); c >= 3000 {
		t.Fatalf("3000 appends from 8 writers took %d group commits: appends are not grouped", c)
	} else {
		t.Logf("3000 appends from 8 writers: %d group commits, %.2f records each", c, 3000/float64(c))
	}
	seen := map[uint64]bool{}
	for _, idx := range got {
		if seen[idx] || idx >= 3000 {
			t.Fatalf("index %d given twice or out of range", idx)
		}
		seen[idx] = true
	}
	checkTree(t, l)
	closeLog(t, l)

	l = openLog(t, cfg, testKey(1))
	defer closeLog(t, l)
	if l.Size() != 3000 {
		t.Fatalf("reopened size %d", l.Size())
	}
	recs, err := l.Records(context.Background(), 0, 3000)
	if err != nil {
		t.Fatal(err)
	}
	for i, rec := range recs {
		r, err := protocolaudit.Decode(rec)
		if err != nil {
			t.Fatal(err)
		}
		if got[string(r.Payload)] != uint64(i) || r.Client != "acme" || r.Site != "hq" {
			t.Fatalf("record %d: %s / %s/%s", i, r.Payload, r.Client, r.Site)
		}
	}
	checkTree(t, l)
}

// TestLargeRecords appends records up to the payload limit and replays
// them from the segments alone.
func TestLargeRecords(t *testing.T) {
	cfg := testConfig(t.TempDir())
	l := openLog(t, cfg, testKey(1))
	ctx := context.Background()
	for _, n := range []int{10, 5000, protocolaudit.MaxPayload - 20} {
		r := record(0, n)
		r.Payload = fmt.Appendf(nil, `{"blob":"%s"}`, bytes.Repeat([]byte("x"), n))
		if _, err := l.Append(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	before := checkTree(t, l)
	closeLog(t, l)
	if err := os.RemoveAll(filepath.Join(cfg.Dir, "index")); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, cfg, testKey(1))
	defer closeLog(t, l)
	if after := checkTree(t, l); after.Size != 3 || after.Hash != before.Hash {
		t.Fatalf("replayed %d/%v, was %d/%v", after.Size, after.Hash, before.Size, before.Hash)
	}
}

func TestAppendRules(t *testing.T) {
	l := openLog(t, testConfig(t.TempDir()), testKey(1))
	defer closeLog(t, l)
	ctx := context.Background()
	r := record(0, 0)
	r.Client = "globex"
	if _, err := l.Append(ctx, r); !errors.Is(err, ErrWrongClient) {
		t.Fatalf("other client: %v", err)
	}
	r = record(0, 0)
	r.Payload = []byte(`{"user":"dana","password":"Winter2026!"}`)
	if _, err := l.Append(ctx, r); !errors.Is(err, protocolaudit.ErrSecretInPayload) {
		t.Fatalf("secret payload: %v", err)
	}
	if l.Size() != 0 {
		t.Fatalf("rejected records were written: size %d", l.Size())
	}
	if _, err := l.Records(ctx, 0, 1); !errors.Is(err, ErrRange) {
		t.Fatalf("records beyond size: %v", err)
	}
}

func TestCheckpointCadence(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.CheckpointEvery = 100
	cfg.CheckpointInterval = 50 * time.Millisecond
	l := openLog(t, cfg, testKey(1))
	defer closeLog(t, l)
	appendConcurrently(t, l, 4, 1000)
	// Appends return once durable; the index (and the checkpoints it
	// signs) may still be catching up, as a reader's would.
	if err := l.waitIndexed(context.Background(), 1000); err != nil {
		t.Fatal(err)
	}
	within, _, err := l.storedCheckpoints(0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	// The initial empty one is at size 0 and not listed; then one at most
	// every 100 records (the indexer splits its work where one falls due;
	// timed ones come in between).
	if len(within) < 10 {
		t.Fatalf("%d checkpoints for 1000 records at one per 100", len(within))
	}
	prev := uint64(0)
	for _, n := range within {
		c, err := protocolaudit.OpenCheckpoint(n)
		if err != nil {
			t.Fatal(err)
		}
		if c.Size-prev > cfg.CheckpointEvery {
			t.Fatalf("checkpoints at %d and %d: more than %d records apart", prev, c.Size, cfg.CheckpointEvery)
		}
		prev = c.Size
	}
	ctx := context.Background()
	if _, err := l.Append(ctx, record(9, 9)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		within, _, _ = l.storedCheckpoints(1000, 1001)
		if len(within) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no timed checkpoint within 5s of activity (interval 50ms)")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestProofs(t *testing.T) {
	l := openLog(t, testConfig(t.TempDir()), testKey(1))
	defer closeLog(t, l)
	appendConcurrently(t, l, 4, 777)
	ctx := context.Background()
	v, _ := protocolaudit.VerifierKey(l.VerifierKey())
	root100, err := l.Root(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	signed, _ := l.Checkpoint(ctx)
	cp, err := protocolaudit.VerifyCheckpoint(signed, v)
	if err != nil {
		t.Fatal(err)
	}
	proof, err := l.ConsistencyProof(ctx, 100, cp.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := protocolaudit.VerifyConsistency(protocolaudit.Checkpoint{Origin: cp.Origin, Size: 100, Hash: root100}, cp, proof); err != nil {
		t.Fatal(err)
	}
	recs, _ := l.Records(ctx, 0, 777)
	for _, i := range []uint64{0, 1, 99, 500, 776} {
		p, err := l.InclusionProof(ctx, i, cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		hs, err := protocolaudit.HashesFromBytes(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.CheckRecord(hs, int64(cp.Size), cp.Hash, int64(i), protocolaudit.LeafHash(recs[i])); err != nil {
			t.Fatalf("inclusion of %d: %v", i, err)
		}
		if err := tlog.CheckRecord(hs, int64(cp.Size), cp.Hash, int64(i), protocolaudit.LeafHash(recs[(i+1)%777])); err == nil {
			t.Fatalf("inclusion proof of %d accepts another record", i)
		}
	}
	if _, err := l.InclusionProof(ctx, 777, 777); !errors.Is(err, ErrRange) {
		t.Fatalf("out of range: %v", err)
	}
}

func TestOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	l := openLog(t, cfg, testKey(1))
	ctx := context.Background()
	if _, err := Open(ctx, cfg, testKey(1), testLogger(t)); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v", err)
	}
	closeLog(t, l)
	if _, err := Open(ctx, cfg, testKey(2), testLogger(t)); !errors.Is(err, ErrWrongLog) {
		t.Fatalf("other key: %v", err)
	}
	other := cfg
	other.Site = "branch"
	if _, err := Open(ctx, other, testKey(1), testLogger(t)); !errors.Is(err, ErrWrongLog) {
		t.Fatalf("other site: %v", err)
	}
	if _, err := Open(ctx, testConfig(t.TempDir()), nil, testLogger(t)); !errors.Is(err, ErrNoLog) {
		t.Fatalf("new log without key: %v", err)
	}
	bad := cfg
	bad.Client = "a b"
	if _, err := Open(ctx, bad, testKey(1), testLogger(t)); err == nil {
		t.Fatal("invalid client accepted")
	}
	ro, err := Open(ctx, cfg, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer closeLog(t, ro)
	if _, err := ro.Append(ctx, record(0, 0)); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("append read-only: %v", err)
	}
}

// TestFailClosed breaks the segment file under a live log: the append
// fails, and so does every later one, until the log is reopened.
func TestFailClosed(t *testing.T) {
	cfg := testConfig(t.TempDir())
	l := openLog(t, cfg, testKey(1))
	ctx := context.Background()
	appendConcurrently(t, l, 2, 10)
	// A real I/O failure: the descriptor the committer writes to is gone.
	// (Filling a disk or failing a device is not possible in this sandbox.)
	l.seg.f.Close()
	if _, err := l.Append(ctx, record(1, 1)); err == nil {
		t.Fatal("append succeeded on a closed segment")
	}
	if _, err := l.Append(ctx, record(1, 2)); !errors.Is(err, ErrFailed) {
		t.Fatalf("second append: %v, want ErrFailed", err)
	}
	if l.Size() != 10 {
		t.Fatalf("size %d after failed appends", l.Size())
	}
	_ = l.Close(ctx) // the segment is already closed; its error is expected
	l = openLog(t, cfg, testKey(1))
	defer closeLog(t, l)
	if l.Size() != 10 {
		t.Fatalf("reopened size %d", l.Size())
	}
	if _, err := l.Append(ctx, record(1, 3)); err != nil {
		t.Fatal(err)
	}
	checkTree(t, l)
}

// TestTornTail writes the kinds of garbage a crash leaves after the last
// complete entry; reopening cuts it off and keeps every complete record.
func TestTornTail(t *testing.T) {
	for _, tc := range []struct {
		name string
		tear func(buf []byte) []byte // given a valid next entry, what reaches the disk
	}{
		{"half an entry", func(b []byte) []byte { return b[:len(b)/2] }},
		{"header only", func(b []byte) []byte { return b[:entryHeader] }},
		{"bad checksum", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }},
		{"wrong index", func(b []byte) []byte {
			return appendEntry(nil, 99999, b[entryHeader:])
		}},
		{"garbage", func(b []byte) []byte { return bytes.Repeat([]byte{0xa5}, 300) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t.TempDir())
			l := openLog(t, cfg, testKey(1))
			appendConcurrently(t, l, 4, 50)
			off, path := l.seg.off, l.seg.path
			closeLog(t, l)
			enc, _ := protocolaudit.Encode(protocolaudit.Record{Kind: "plan_step", Time: time.Now(), Client: "acme", Site: "hq"})
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(tc.tear(appendEntry(nil, 50, enc)), off); err != nil {
				t.Fatal(err)
			}
			f.Close()
			l = openLog(t, cfg, testKey(1))
			defer closeLog(t, l)
			if l.Size() != 50 {
				t.Fatalf("size %d after repair, want 50", l.Size())
			}
			if _, err := l.Append(context.Background(), record(7, 7)); err != nil {
				t.Fatal(err)
			}
			checkTree(t, l)
		})
	}
}

// TestRebuildIndex deletes the whole Badger index: the segments alone
// rebuild it, with the same root.
func TestRebuildIndex(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.SegmentSize = 4 * protocolaudit.MaxRecordSize
	l := openLog(t, cfg, testKey(1))
	appendConcurrently(t, l, 8, 500)
	for range 3 {
		fill(t, l, 4<<10) // the next appends rotate
		appendConcurrently(t, l, 8, 100)
	}
	before := checkTree(t, l)
	closeLog(t, l)
	segs, _ := listSegments(filepath.Join(cfg.Dir, "segments"))
	if len(segs) < 3 {
		t.Fatalf("%d segments; the test wants rotation", len(segs))
	}
	if err := os.RemoveAll(filepath.Join(cfg.Dir, "index")); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, cfg, testKey(1))
	after := checkTree(t, l)
	closeLog(t, l)
	if after.Size != before.Size || after.Hash != before.Hash {
		t.Fatalf("rebuilt %d/%v, was %d/%v", after.Size, after.Hash, before.Size, before.Hash)
	}
	// A removed segment is detected, not papered over.
	if err := os.Remove(filepath.Join(cfg.Dir, "segments", segName(segs[0]))); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(cfg.Dir, "index")); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), cfg, testKey(1), testLogger(t)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open without the first segment: %v", err)
	}
}

func TestExport(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.CheckpointEvery = 100
	l := openLog(t, cfg, testKey(1))
	defer closeLog(t, l)
	ctx := context.Background()
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range 1000 {
		r := record(0, i)
		r.Time = base.Add(time.Duration(i) * time.Minute)
		r.Kind = []protocolaudit.Kind{protocolaudit.KindGoalReceived, protocolaudit.KindActionStart, protocolaudit.KindActionResult}[i%3]
		if _, err := l.Append(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	v, _ := protocolaudit.VerifierKey(l.VerifierKey())
	for _, tc := range []struct {
		name        string
		from, to    time.Time
		first, last uint64
	}{
		{"all", time.Time{}, time.Time{}, 0, 999},
		{"from", base.Add(250 * time.Minute), time.Time{}, 250, 999},
		{"to", time.Time{}, base.Add(333 * time.Minute), 0, 333},
		{"window", base.Add(101 * time.Minute), base.Add(199*time.Minute + time.Second), 101, 199},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			var calls int
			res, err := l.Export(ctx, &buf, ExportOptions{Client: "acme", From: tc.from, To: tc.to,
				Progress: func(done, total uint64) { calls++ }})
			if err != nil {
				t.Fatal(err)
			}
			if res.First != tc.first || res.Count != tc.last-tc.first+1 || calls == 0 {
				t.Fatalf("result %+v (progress calls %d)", res, calls)
			}
			s, err := protocolaudit.Verify(ctx, &buf, v)
			if err != nil {
				t.Fatal(err)
			}
			if s.FirstIndex != tc.first || s.LastIndex != tc.last || s.Records != tc.last-tc.first+1 {
				t.Fatalf("summary %+v", s)
			}
		})
	}
	var buf bytes.Buffer
	if _, err := l.Export(ctx, &buf, ExportOptions{Client: "globex"}); !errors.Is(err, ErrWrongClient) {
		t.Fatalf("other client: %v", err)
	}
	if _, err := l.Export(ctx, &buf, ExportOptions{Client: "acme", From: base.Add(48 * time.Hour)}); !errors.Is(err, ErrNoRecords) {
		t.Fatalf("empty range: %v", err)
	}
}

// TestCloseDuringAppends closes the log under 8 busy writers: every append
// either returns an index that is durable after reopening, or ErrClosed.
func TestCloseDuringAppends(t *testing.T) {
	defer goleak.VerifyNone(t)
	cfg := testConfig(t.TempDir())
	l := openLog(t, cfg, testKey(1))
	ctx := context.Background()
	var mu sync.Mutex
	acked := map[uint64]string{}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for n := 0; ; n++ {
				r := record(w, n)
				idx, err := l.Append(ctx, r)
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked[idx] = string(r.Payload)
				mu.Unlock()
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	closeLog(t, l)
	wg.Wait()
	if _, err := l.Append(ctx, record(0, 0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	if _, err := l.Checkpoint(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("checkpoint after close: %v", err)
	}
	// Close signed a final checkpoint covering everything (a read-only
	// open signs nothing, so what it finds was written by Close).
	ro := openLog(t, cfg, nil)
	within, _, err := ro.storedCheckpoints(ro.Size()-1, ro.Size())
	if err != nil || len(within) != 1 {
		t.Fatalf("no final checkpoint at size %d: %v", ro.Size(), err)
	}
	closeLog(t, ro)

	l = openLog(t, cfg, testKey(1))
	defer closeLog(t, l)
	if len(acked) == 0 || l.Size() < uint64(len(acked)) {
		t.Fatalf("%d acknowledged, %d in the log", len(acked), l.Size())
	}
	if err := l.scanRecords(ctx, 0, l.Size(), func(idx uint64, rec []byte) error {
		r, err := protocolaudit.Decode(rec)
		if err != nil {
			return err
		}
		if p, ok := acked[idx]; ok && string(r.Payload) != p {
			return fmt.Errorf("record %d: %s, acknowledged %s", idx, r.Payload, p)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	checkTree(t, l)
}
