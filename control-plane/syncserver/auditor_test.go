package syncserver

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/protocol/audit"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

type recordingAlerter struct {
	mu      sync.Mutex
	reasons []string
}

func (r *recordingAlerter) AuditRewritten(_ context.Context, _ store.Identity, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reasons = append(r.reasons, reason)
}

// TestAuditorUsesEnrolledKey runs the auditor against the real SQLite
// store: a checkpoint is countersigned only when it verifies with the
// audit key held for the site; another key is refused with an alert; a
// site with no key on record is refused (told to enroll again) without one.
func TestAuditorUsesEnrolledKey(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "cp.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	_, cpKey, _ := ed25519.GenerateKey(rand.Reader)
	withKey := store.Identity{Tenant: "msp", Client: "acme", Site: "hq"}
	noKey := store.Identity{Tenant: "msp", Client: "acme", Site: "old"}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	if err := st.UpsertSite(ctx, store.Site{Identity: withKey, CertSerial: "01", EnrolledAt: now, AuditKey: pub}); err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertSite(ctx, store.Site{Identity: noKey, CertSerial: "02", EnrolledAt: now}); err != nil {
		t.Fatal(err)
	}
	cosigner, _, err := audit.NewSigner("sitewarden-control-plane/msp", cpKey)
	if err != nil {
		t.Fatal(err)
	}
	alerts := &recordingAlerter{}
	a := NewAuditor(cosigner, alerts, nil)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))

	batch := func(id store.Identity, key ed25519.PrivateKey) *pb.AuditBatch {
		origin, _ := audit.Origin(id.Client, id.Site)
		signer, _, err := audit.NewSigner(origin, key)
		if err != nil {
			t.Fatal(err)
		}
		rec := []byte("record 0")
		note, err := audit.SignCheckpoint(audit.Checkpoint{Origin: origin, Size: 1, Hash: tlog.RecordHash(rec)}, signer)
		if err != nil {
			t.Fatal(err)
		}
		return &pb.AuditBatch{FirstIndex: 0, Records: [][]byte{rec}, Checkpoint: note}
	}

	got := a.apply(ctx, st, withKey, batch(withKey, other), now, log)
	if e, ok := got.(*pb.Error); !ok || e.GetCode() != pb.ErrorCode_ERROR_CODE_INVALID || e.GetRetryable() {
		t.Fatalf("checkpoint signed with another key: %v, want non-retryable INVALID", got)
	}
	if len(alerts.reasons) != 1 || !strings.Contains(alerts.reasons[0], "signature") {
		t.Errorf("alerts = %q, want one about the signature", alerts.reasons)
	}
	if n, _ := st.AuditSize(ctx, "acme", "hq"); n != 0 {
		t.Errorf("%d records mirrored from a badly signed batch", n)
	}

	got = a.apply(ctx, st, noKey, batch(noKey, priv), now, log)
	if e, ok := got.(*pb.Error); !ok || e.GetCode() != pb.ErrorCode_ERROR_CODE_FORBIDDEN || !strings.Contains(e.GetMessage(), "enroll the site again") {
		t.Fatalf("site without an audit key: %v, want FORBIDDEN telling to enroll again", got)
	}
	if len(alerts.reasons) != 1 {
		t.Errorf("a site without a key raised an alert: %q", alerts.reasons)
	}

	got = a.apply(ctx, st, withKey, batch(withKey, priv), now, log)
	if co, ok := got.(*pb.CheckpointCosignature); !ok || co.GetTreeSize() != 1 {
		t.Fatalf("checkpoint signed with the enrolled key: %v, want a cosignature", got)
	}
	if !strings.Contains(logs.String(), "checkpoint signature does not verify") {
		t.Errorf("the bad signature was not logged:\n%s", logs.String())
	}
}
