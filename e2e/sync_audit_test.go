package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/sitewarden/sitewarden/protocol/audit"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
	raudit "github.com/sitewarden/sitewarden/runner/audit"
	rsync "github.com/sitewarden/sitewarden/runner/sync"
)

// memLog is a site's Merkle log in memory, to build real checkpoints and
// consistency proofs (RFC 6962 through golang.org/x/mod/sumdb/tlog).
type memLog struct {
	records [][]byte
	hashes  []tlog.Hash
	signer  note.Signer
	origin  string
}

func newMemLog(t testing.TB, client, site string) *memLog {
	origin, err := audit.Origin(client, site)
	if err != nil {
		t.Fatal(err)
	}
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	s, _, err := audit.NewSigner(origin, k)
	if err != nil {
		t.Fatal(err)
	}
	return &memLog{signer: s, origin: origin}
}

func (l *memLog) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		out[i] = l.hashes[x]
	}
	return out, nil
}

func (l *memLog) append(t testing.TB, recs ...string) {
	for _, r := range recs {
		hs, err := tlog.StoredHashes(int64(len(l.records)), []byte(r), l)
		if err != nil {
			t.Fatal(err)
		}
		l.hashes = append(l.hashes, hs...)
		l.records = append(l.records, []byte(r))
	}
}

// batch returns an AuditBatch carrying records [from, size) with a signed
// checkpoint of the whole log and a proof from prior.
func (l *memLog) batch(t testing.TB, from, prior uint64) *pb.AuditBatch {
	size := int64(len(l.records))
	root, err := tlog.TreeHash(size, l)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := audit.SignCheckpoint(audit.Checkpoint{Origin: l.origin, Size: uint64(size), Hash: root}, l.signer)
	if err != nil {
		t.Fatal(err)
	}
	b := &pb.AuditBatch{FirstIndex: from, Records: l.records[from:], Checkpoint: cp, PriorSize: prior}
	if prior > 0 && prior < uint64(size) {
		proof, err := tlog.ProveTree(size, int64(prior), l)
		if err != nil {
			t.Fatal(err)
		}
		b.ConsistencyProof = audit.HashesToBytes(proof)
	}
	return b
}

// TestSyncAuditCheckpoints: the control plane mirrors audit records,
// checks each checkpoint extends the last one it holds, countersigns it,
// and refuses and alerts on a rewritten log, applying nothing.
func TestSyncAuditCheckpoints(t *testing.T) {
	p := startPlane(t, 0)
	r := dialRaw(t, p, enrollSite(t, p, "acme", "hq"))
	log := newMemLog(t, "acme", "hq")
	log.append(t, "r0", "r1", "r2")

	got := r.exchange(log.batch(t, 0, 0))
	co, ok := got[0].(*pb.CheckpointCosignature)
	if !ok || co.GetTreeSize() != 3 {
		t.Fatalf("first batch: %v, want a cosignature of size 3", got)
	}
	if !strings.Contains(string(co.GetCosignedNote()), "sitewarden-control-plane/msp") {
		t.Errorf("cosigned note lacks the control plane's signature:\n%s", co.GetCosignedNote())
	}

	log.append(t, "r3", "r4", "r5", "r6")
	got = r.exchange(log.batch(t, 3, 3))
	if co, ok := got[0].(*pb.CheckpointCosignature); !ok || co.GetTreeSize() != 7 {
		t.Fatalf("second batch: %v, want a cosignature of size 7", got)
	}
	if n, _ := p.store.AuditSize(context.Background(), "acme", "hq"); n != 7 {
		t.Errorf("mirror holds %d records, want 7", n)
	}

	// A proof from a size the control plane does not hold: retry from 7.
	log.append(t, "r7")
	got = r.exchange(log.batch(t, 7, 5))
	if errorCode(got[0]) != pb.ErrorCode_ERROR_CODE_CONFLICT || !got[0].(*pb.Error).GetRetryable() {
		t.Errorf("proof from the wrong size: %v, want retryable CONFLICT", got)
	}

	// The site rewrites history: a new log whose first records differ.
	forged := &memLog{signer: log.signer, origin: log.origin}
	forged.append(t, "r0", "R1-rewritten", "r2", "r3", "r4", "r5", "r6", "r7", "r8")
	got = r.exchange(forged.batch(t, 7, 7))
	if errorCode(got[0]) != pb.ErrorCode_ERROR_CODE_INCONSISTENT_LOG {
		t.Errorf("rewritten log: %v, want INCONSISTENT_LOG", got)
	}
	held, err := p.store.LatestCheckpoint(context.Background(), "acme", "hq")
	if err != nil || held.Size != 7 {
		t.Errorf("held checkpoint after the rewrite = %d, %v; want 7 (nothing applied)", held.Size, err)
	}
	if n, _ := p.store.AuditSize(context.Background(), "acme", "hq"); n != 7 {
		t.Errorf("mirror holds %d records after the rewrite, want 7", n)
	}
	if !strings.Contains(p.logs.String(), "ALERT: site audit log rewritten") {
		t.Error("no alert raised for the rewritten log")
	}
}

// TestSyncAuditWitness sends a real site audit log (runner/audit, Badger
// index, signed checkpoints) up through the sync client: the control plane
// mirrors every record, verifies growth with consistency proofs, and the
// site keeps the countersigned checkpoint.
func TestSyncAuditWitness(t *testing.T) {
	p := startPlane(t, 0)
	dir := enrollSite(t, p, "acme", "hq")
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	acfg := raudit.DefaultConfig()
	acfg.Dir, acfg.Client, acfg.Site = filepath.Join(dir, "audit"), "acme", "hq"
	acfg.SegmentSize = 2 << 20
	ctx := context.Background()
	alog, err := raudit.Open(ctx, acfg, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer alog.Close(ctx)
	appendN := func(from, n int) {
		for i := from; i < from+n; i++ {
			if _, err := alog.Append(ctx, audit.Record{Kind: audit.KindGoalReceived, Time: time.Now(), Client: "acme", Site: "hq",
				GoalID: fmt.Sprintf("g%d", i), Actor: "test"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendN(0, 25)
	w, err := rsync.OpenLogWitness(alog, filepath.Join(dir, "witness"), 10)
	if err != nil {
		t.Fatal(err)
	}
	s := startSite(t, p, "acme", "hq", siteOpts{dir: dir, witness: w})
	eventually(t, 15*time.Second, "25 records witnessed", func() bool {
		c, m := w.State()
		return c == 25 && m == 25
	})
	appendN(25, 12)
	s.client.Kick()
	eventually(t, 15*time.Second, "37 records witnessed", func() bool {
		c, m := w.State()
		return c == 37 && m == 37
	})
	held, err := p.store.LatestCheckpoint(ctx, "acme", "hq")
	if err != nil || held.Size != 37 {
		t.Fatalf("control plane holds checkpoint %d, %v; want 37", held.Size, err)
	}
	mirrored, err := p.store.AuditRecords(ctx, "acme", "hq", 0, 100)
	if err != nil || len(mirrored) != 37 {
		t.Fatalf("mirror holds %d records, %v", len(mirrored), err)
	}
	local, err := alog.Records(ctx, 0, 37)
	if err != nil {
		t.Fatal(err)
	}
	for i := range local {
		if !bytes.Equal(local[i], mirrored[i]) {
			t.Fatalf("mirrored record %d differs from the site's", i)
		}
	}
	note, err := os.ReadFile(filepath.Join(dir, "witness", "cosigned.note"))
	if err != nil || !strings.Contains(string(note), "sitewarden-control-plane/msp") {
		t.Errorf("cosigned note = %q, %v", note, err)
	}
}
