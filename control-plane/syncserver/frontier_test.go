package syncserver

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/protocol/audit"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

// TestFrontierRoot compares the frontier's root with tlog's tree hash over
// the same records for every size up to 300.
func TestFrontierRoot(t *testing.T) {
	var hashes []tlog.Hash
	read := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = hashes[x]
		}
		return out, nil
	})
	f := &frontier{}
	for n := int64(0); n < 300; n++ {
		rec := []byte(fmt.Sprintf("record %d", n))
		h, err := tlog.StoredHashes(n, rec, read)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, h...)
		f.push(rec)
		want, err := tlog.TreeHash(n+1, read)
		if err != nil {
			t.Fatal(err)
		}
		if f.root() != want {
			t.Fatalf("size %d: frontier root %v, tlog %v", n+1, f.root(), want)
		}
		if len(f.peaks) > 64 {
			t.Fatalf("size %d: %d peaks", n+1, len(f.peaks))
		}
	}
}

// siteLog is a site's log as the test signs it: records, stored hashes, a
// signer with the site's enrolled key.
type siteLog struct {
	t      *testing.T
	origin string
	signer interface {
		Name() string
		KeyHash() uint32
		Sign([]byte) ([]byte, error)
	}
	recs   [][]byte
	hashes []tlog.Hash
}

func (l *siteLog) read(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		out[i] = l.hashes[x]
	}
	return out, nil
}

func (l *siteLog) add(n int) {
	for range n {
		rec := []byte(fmt.Sprintf("record %d of %s", len(l.recs), l.origin))
		h, err := tlog.StoredHashes(int64(len(l.recs)), rec, tlog.HashReaderFunc(l.read))
		if err != nil {
			l.t.Fatal(err)
		}
		l.recs, l.hashes = append(l.recs, rec), append(l.hashes, h...)
	}
}

// batch sends records [from, to) with a checkpoint of the whole log and a
// proof from size prior.
func (l *siteLog) batch(from, to, prior uint64) *pb.AuditBatch {
	size := int64(len(l.recs))
	root, err := tlog.TreeHash(size, tlog.HashReaderFunc(l.read))
	if err != nil {
		l.t.Fatal(err)
	}
	note, err := audit.SignCheckpoint(audit.Checkpoint{Origin: l.origin, Size: uint64(size), Hash: root}, l.signer)
	if err != nil {
		l.t.Fatal(err)
	}
	b := &pb.AuditBatch{FirstIndex: from, Checkpoint: note, PriorSize: prior}
	for _, r := range l.recs[from:to] {
		b.Records = append(b.Records, bytes.Clone(r))
	}
	if prior > 0 && prior < uint64(size) {
		p, err := tlog.ProveTree(size, int64(prior), tlog.HashReaderFunc(l.read))
		if err != nil {
			l.t.Fatal(err)
		}
		for _, h := range p {
			b.ConsistencyProof = append(b.ConsistencyProof, bytes.Clone(h[:]))
		}
	}
	return b
}

// alter changes one byte of record i of b (b's records start at its first
// index) as a site would before upload, leaving its signed tree alone.
func alter(b *pb.AuditBatch, i uint64) {
	r := b.Records[i-b.FirstIndex]
	r[len(r)-1] ^= 1
}

// TestAuditorChecksRecordsAgainstRoot runs the auditor on the real SQLite
// store: records edited before upload are refused with an alert naming
// the record (or the span when it cannot be narrowed), and neither the
// mirror nor the held checkpoint moves; a batch that stops short of its
// checkpoint is checked when the mirror reaches the held size; a new
// auditor (a restarted control plane) rebuilds the frontier from the
// mirror and keeps checking.
func TestAuditorChecksRecordsAgainstRoot(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "cp.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	_, cpKey, _ := ed25519.GenerateKey(rand.Reader)
	id := store.Identity{Tenant: "msp", Client: "acme", Site: "hq"}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	if err := st.UpsertSite(ctx, store.Site{Identity: id, CertSerial: "01", EnrolledAt: now, AuditKey: pub}); err != nil {
		t.Fatal(err)
	}
	cosigner, _, err := audit.NewSigner("sitewarden-control-plane/msp", cpKey)
	if err != nil {
		t.Fatal(err)
	}
	origin, _ := audit.Origin(id.Client, id.Site)
	signer, _, err := audit.NewSigner(origin, priv)
	if err != nil {
		t.Fatal(err)
	}
	l := &siteLog{t: t, origin: origin, signer: signer}
	alerts := &recordingAlerter{}
	a := NewAuditor(cosigner, alerts, nil)
	log := slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))

	accept := func(a *Auditor, b *pb.AuditBatch, size uint64) {
		t.Helper()
		got := a.apply(ctx, st, id, b, now, log)
		if co, ok := got.(*pb.CheckpointCosignature); !ok || co.GetTreeSize() != size {
			t.Fatalf("batch [%d, +%d): %v, want a cosignature of size %d", b.GetFirstIndex(), len(b.GetRecords()), got, size)
		}
	}
	refused := func(a *Auditor, b *pb.AuditBatch, span string) {
		t.Helper()
		heldBefore, _ := st.LatestCheckpoint(ctx, id.Client, id.Site)
		sizeBefore, _ := st.AuditSize(ctx, id.Client, id.Site)
		n := len(alerts.reasons)
		got := a.apply(ctx, st, id, b, now, log)
		e, ok := got.(*pb.Error)
		if !ok || e.GetCode() != pb.ErrorCode_ERROR_CODE_INCONSISTENT_LOG || e.GetRetryable() || !strings.Contains(e.GetMessage(), span) {
			t.Fatalf("altered batch: %v, want a non-retryable INCONSISTENT_LOG naming %q", got, span)
		}
		if len(alerts.reasons) != n+1 || !strings.Contains(alerts.reasons[n], span) {
			t.Fatalf("alerts %q, want one more naming %q", alerts.reasons, span)
		}
		heldAfter, _ := st.LatestCheckpoint(ctx, id.Client, id.Site)
		sizeAfter, _ := st.AuditSize(ctx, id.Client, id.Site)
		if heldAfter.Size != heldBefore.Size || !bytes.Equal(heldAfter.Root, heldBefore.Root) || sizeAfter != sizeBefore {
			t.Fatalf("refused batch moved the held checkpoint %d -> %d or the mirror %d -> %d", heldBefore.Size, heldAfter.Size, sizeBefore, sizeAfter)
		}
	}

	// One record edited before the very first upload: record 0.
	l.add(1)
	b := l.batch(0, 1, 0)
	alter(b, 0)
	refused(a, b, "record 0 ")
	accept(a, l.batch(0, 1, 0), 1)

	// Steady state: each batch ends at its checkpoint; an edit is refused
	// and named by the batch's span, then the honest batch is mirrored.
	l.add(9)
	b = l.batch(1, 10, 1)
	alter(b, 4)
	refused(a, b, "records 1..9")
	accept(a, l.batch(1, 10, 1), 10)

	// A batch short of its checkpoint (the site catching up) is mirrored;
	// the next one reaches the held size, and the edit in it is caught.
	l.add(20)
	accept(a, l.batch(10, 15, 10), 30)
	b = l.batch(15, 30, 30)
	alter(b, 20)
	refused(a, b, "records 10..29")
	accept(a, l.batch(15, 30, 30), 30)

	// A redelivered batch (already mirrored) is harmless.
	accept(a, l.batch(25, 30, 30), 30)

	// A restarted control plane rebuilds the frontier from the mirror,
	// checking it against the held checkpoint, and keeps checking.
	a2 := NewAuditor(cosigner, alerts, nil)
	l.add(3)
	b = l.batch(30, 33, 30)
	alter(b, 32)
	refused(a2, b, "records 30..32")
	accept(a2, l.batch(30, 33, 30), 33)
	if n, _ := st.AuditSize(ctx, id.Client, id.Site); n != 33 {
		t.Fatalf("mirror holds %d records, want 33", n)
	}
	mirror, err := st.AuditRecords(ctx, id.Client, id.Site, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range mirror {
		if !bytes.Equal(r, l.recs[i]) {
			t.Fatalf("mirrored record %d differs from the site's", i)
		}
	}
}

// BenchmarkFrontierPush measures the per-record cost of checking a batch:
// extending the frontier by one 300-byte record (leaf and node hashes),
// against the baseline of hashing the record alone (tlog.RecordHash).
func BenchmarkFrontierPush(b *testing.B) {
	rec := bytes.Repeat([]byte("r"), 300)
	b.Run("frontier", func(b *testing.B) {
		f := &frontier{}
		for b.Loop() {
			f.push(rec)
		}
	})
	b.Run("leaf-hash-only", func(b *testing.B) {
		for b.Loop() {
			_ = tlog.RecordHash(rec)
		}
	})
}
