package audit

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	protocolaudit "github.com/sitewarden/sitewarden/protocol/audit"
)

// crashChildEnv makes the test binary run crashChild instead of tests.
const crashChildEnv = "SITEWARDEN_AUDIT_CRASH_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	os.Exit(m.Run())
}

// crashChild appends from 8 writers until killed, printing "index w n" for
// every acknowledged record the moment Append returns.
func crashChild(dir string) {
	cfg := crashConfig(dir)
	ctx := context.Background()
	l, err := Open(ctx, cfg, testKey(1), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(3)
	}
	var mu sync.Mutex
	out := os.Stdout
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for n := 0; ; n++ {
				idx, err := l.Append(ctx, record(w, n))
				if err != nil {
					fmt.Fprintln(os.Stderr, "child append:", err)
					os.Exit(4)
				}
				mu.Lock()
				fmt.Fprintf(out, "%d %d %d\n", idx, w, n)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

func crashConfig(dir string) Config {
	cfg := testConfig(dir)
	cfg.SegmentSize = 4 * protocolaudit.MaxRecordSize // rotate every ~6,000 records
	cfg.CheckpointEvery = 500
	cfg.CheckpointInterval = 20 * time.Millisecond
	return cfg
}

// TestCrashRecovery runs a child process that appends under load and
// SIGKILLs it at a random moment, 50 times on the same log. After each
// kill the log reopens: every acknowledged index holds the record that
// was acknowledged, the root recomputed from the records matches the newly
// signed checkpoint, and that checkpoint is consistent with the previous
// round's. Finally the whole log exports and verifies.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test takes about a minute; run without -short")
	}
	const rounds = 50
	dir := t.TempDir()
	cfg := crashConfig(dir)
	ctx := context.Background()
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(uint64(seed), 0))
	// Fill the first segment almost to the end, so the children rotate to
	// a new segment while being killed, whatever the machine's speed.
	l := openLog(t, cfg, testKey(1))
	fill(t, l, 64<<10)
	closeLog(t, l)
	var rng protocolaudit.Range // the tree recomputed independently, round by round
	var prev protocolaudit.Checkpoint
	deadline := time.Now().Add(150 * time.Second)
	acked := 0
	for round := range rounds {
		if time.Now().After(deadline) {
			t.Fatalf("crash test over its time budget after %d rounds", round)
		}
		acks := runAndKill(t, dir, time.Duration(5+rnd.IntN(120))*time.Millisecond)
		acked += len(acks)

		l := openLog(t, cfg, testKey(1))
		size := l.Size()
		for idx := range acks {
			if idx >= size {
				t.Fatalf("round %d: acknowledged index %d lost (log size %d)", round, idx, size)
			}
		}
		if size > rng.Size() {
			recs := make([][]byte, 0, size-rng.Size())
			if err := l.scanRecords(ctx, rng.Size(), size, func(_ uint64, rec []byte) error {
				recs = append(recs, append([]byte(nil), rec...))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			base := rng.Size()
			for i, rec := range recs {
				r, err := protocolaudit.Decode(rec)
				if err != nil {
					t.Fatalf("round %d: record %d: %v", round, base+uint64(i), err)
				}
				if want, ok := acks[base+uint64(i)]; ok && want != string(r.Payload) {
					t.Fatalf("round %d: record %d holds %s, acknowledged %s", round, base+uint64(i), r.Payload, want)
				}
				rng.Append(protocolaudit.LeafHash(rec))
			}
		}
		signed, err := l.Checkpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := protocolaudit.VerifierKey(l.VerifierKey())
		cp, err := protocolaudit.VerifyCheckpoint(signed, v)
		if err != nil {
			t.Fatal(err)
		}
		if cp.Size != size || cp.Hash != rng.Root() {
			t.Fatalf("round %d: checkpoint %d/%v, recomputed %d/%v", round, cp.Size, cp.Hash, size, rng.Root())
		}
		proof, err := l.ConsistencyProof(ctx, prev.Size, cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := protocolaudit.VerifyConsistency(prev, cp, proof); err != nil && prev.Size > 0 {
			t.Fatalf("round %d: history rewritten: %v", round, err)
		}
		prev = cp
		closeLog(t, l)
	}
	l = openLog(t, cfg, testKey(1))
	defer closeLog(t, l)
	var buf bytes.Buffer
	if _, err := l.Export(ctx, &buf, ExportOptions{Client: "acme"}); err != nil {
		t.Fatal(err)
	}
	v, _ := protocolaudit.VerifierKey(l.VerifierKey())
	s, err := protocolaudit.Verify(ctx, &buf, v)
	if err != nil {
		t.Fatal(err)
	}
	segs, _ := listSegments(cfg.Dir + "/segments")
	t.Logf("%d rounds: %d records acknowledged by killed children, log of %d records in %d segments verifies", rounds, acked, s.Records, len(segs))
	if acked == 0 || len(segs) < 2 {
		t.Fatalf("the children acknowledged %d records over %d segments: the test did not exercise the log", acked, len(segs))
	}
}

// runAndKill starts the child, waits until it has acknowledged a record,
// lets it run for d more, SIGKILLs it, and returns what it acknowledged
// (index -> payload).
func runAndKill(t *testing.T, dir string, d time.Duration) map[uint64]string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acks := map[uint64]string{}
	first := make(chan struct{})
	readDone := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		once := sync.Once{}
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 3 {
				continue // a line cut by the kill
			}
			idx, err1 := strconv.ParseUint(f[0], 10, 64)
			w, err2 := strconv.Atoi(f[1])
			n, err3 := strconv.Atoi(f[2])
			if err1 != nil || err2 != nil || err3 != nil {
				continue
			}
			acks[idx] = string(record(w, n).Payload)
			once.Do(func() { close(first) })
		}
		readDone <- sc.Err()
	}()
	select {
	case <-first:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child acknowledged nothing in 20s; stderr:\n%s", stderr.String())
	}
	time.Sleep(d)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-readDone
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL (%v); stderr:\n%s", err, stderr.String())
	}
	return acks
}
