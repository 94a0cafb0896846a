package e2e

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/store"
	rsync "github.com/sitewarden/sitewarden/runner/sync"
)

// TestSyncRunnerKilledMidTransfer runs the real sitewarden-runner binary
// with a full outbox, SIGKILLs it while the outbox is being flushed, starts
// it again, and checks every escalation reached the control plane exactly
// once and in order, and that the outbox ends empty.
func TestSyncRunnerKilledMidTransfer(t *testing.T) {
	p := startPlane(t, 0)
	px := startProxy(t, p.addr)
	px.maxDelay.Store(int64(3 * time.Millisecond))
	dir := enrollSite(t, p, "acme", "hq")
	const n = 500
	ob, err := rsync.OpenDirOutbox(filepath.Join(dir, "outbox"), 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		it, err := rsync.NewItem(escalation("acme", "hq", i))
		if err != nil {
			t.Fatal(err)
		}
		if err := ob.Add(context.Background(), it); err != nil {
			t.Fatal(err)
		}
	}
	stored := func() int {
		its, err := p.store.Items(context.Background(), store.KindEscalation, "acme", 2*n)
		if err != nil {
			t.Fatal(err)
		}
		return len(its)
	}
	start := func() (*exec.Cmd, *bytes.Buffer) {
		var logs bytes.Buffer
		cmd := exec.Command(bin(t, "sitewarden-runner"), "run", "--state", dir, "--control-plane", px.addr(), "--for", "60s")
		cmd.Stderr = &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &logs
	}

	first, logs := start()
	deadline := time.Now().Add(30 * time.Second)
	for stored() == 0 {
		if time.Now().After(deadline) {
			first.Process.Kill()
			first.Wait()
			t.Fatalf("nothing arrived in 30s:\n%s", logs)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	got := stored()
	if got >= n {
		t.Fatalf("all %d items arrived before the kill; the test did not kill mid-transfer", got)
	}
	left, err := rsync.OpenDirOutbox(filepath.Join(dir, "outbox"), 0)
	if err != nil {
		t.Fatalf("outbox after SIGKILL: %v", err)
	}
	t.Logf("killed with %d of %d stored, %d still in the outbox", got, n, left.Len())
	if got+left.Len() < n {
		t.Fatalf("lost items: %d stored + %d queued < %d", got, left.Len(), n)
	}

	second, logs2 := start()
	defer func() {
		second.Process.Signal(syscall.SIGTERM)
		second.Wait()
	}()
	eventually(t, 60*time.Second, "all items stored after restart", func() bool { return stored() >= n })
	eventually(t, 20*time.Second, "outbox drained", func() bool {
		o, err := rsync.OpenDirOutbox(filepath.Join(dir, "outbox"), 0)
		return err == nil && o.Len() == 0
	})
	checkExactlyOnceInOrder(t, p, "acme", "hq", n)
	_ = logs2
}
