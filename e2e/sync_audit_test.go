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
	renroll "github.com/sitewarden/sitewarden/runner/enroll"
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

func newMemLog(t testing.TB, client, site string, key ed25519.PrivateKey) *memLog {
	origin, err := audit.Origin(client, site)
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := audit.NewSigner(origin, key)
	if err != nil {
		t.Fatal(err)
	}
	return &memLog{signer: s, origin: origin}
}

// siteAuditKey returns the audit key an enrolled state directory holds
// (created by enrollment, its public half sent to the control plane).
func siteAuditKey(t testing.TB, dir string) ed25519.PrivateKey {
	t.Helper()
	k, err := renroll.LoadOrCreateAuditKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	return k
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
	dir := enrollSite(t, p, "acme", "hq")
	r := dialRaw(t, p, dir)
	log := newMemLog(t, "acme", "hq", siteAuditKey(t, dir))
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
	key := siteAuditKey(t, dir)
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

// TestSyncAuditBadSignature: a checkpoint not signed with the audit key the
// site enrolled with (here a key made elsewhere, as a site whose history
// was rebuilt and re-signed would hold) is refused, logged and alerted on,
// and nothing of its batch is applied; the site's real key still works.
func TestSyncAuditBadSignature(t *testing.T) {
	p := startPlane(t, 0)
	dir := enrollSite(t, p, "acme", "hq")
	r := dialRaw(t, p, dir)
	site, err := p.store.Site(context.Background(), "acme", "hq")
	if err != nil || !bytes.Equal(site.AuditKey, siteAuditKey(t, dir).Public().(ed25519.PublicKey)) {
		t.Fatalf("the control plane holds audit key %x (%v), not the site's", site.AuditKey, err)
	}

	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	forged := newMemLog(t, "acme", "hq", otherKey)
	forged.append(t, "r0", "r1")
	got := r.exchange(forged.batch(t, 0, 0))
	if errorCode(got[0]) != pb.ErrorCode_ERROR_CODE_INVALID || got[0].(*pb.Error).GetRetryable() {
		t.Fatalf("checkpoint signed with another key: %v, want non-retryable INVALID", got)
	}
	if !strings.Contains(got[0].(*pb.Error).GetMessage(), "enroll") {
		t.Errorf("refusal does not say what to do: %q", got[0].(*pb.Error).GetMessage())
	}
	if _, err := p.store.LatestCheckpoint(context.Background(), "acme", "hq"); err == nil {
		t.Error("a checkpoint with a bad signature was stored")
	}
	if n, _ := p.store.AuditSize(context.Background(), "acme", "hq"); n != 0 {
		t.Errorf("mirror holds %d records from a badly signed batch, want 0", n)
	}
	logs := p.logs.String()
	if !strings.Contains(logs, "ALERT: site audit log rewritten") || !strings.Contains(logs, "signature does not verify") {
		t.Errorf("no alert naming the bad signature in the control plane's log:\n%s", logs)
	}

	// A note carrying the right origin but a corrupted signature line.
	good := newMemLog(t, "acme", "hq", siteAuditKey(t, dir))
	good.append(t, "r0", "r1")
	b := good.batch(t, 0, 0)
	sig := bytes.LastIndex(b.Checkpoint, []byte("\n\u2014 "))
	if sig < 0 {
		t.Fatalf("no signature line in %q", b.Checkpoint)
	}
	tampered := bytes.Clone(b.Checkpoint)
	// Replace a character well inside the base64 signature (the last ones
	// can carry only padding bits, which a lenient decoder ignores).
	if i := len(tampered) - 20; tampered[i] == 'A' {
		tampered[i] = 'B'
	} else {
		tampered[i] = 'A'
	}
	got = r.exchange(&pb.AuditBatch{FirstIndex: 0, Records: b.Records, Checkpoint: tampered})
	if errorCode(got[0]) != pb.ErrorCode_ERROR_CODE_INVALID {
		t.Errorf("tampered signature: %v, want INVALID", got)
	}

	got = r.exchange(b)
	if co, ok := got[0].(*pb.CheckpointCosignature); !ok || co.GetTreeSize() != 2 {
		t.Fatalf("batch signed with the enrolled key: %v, want a cosignature of size 2", got)
	}
}
