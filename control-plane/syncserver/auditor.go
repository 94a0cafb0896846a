package syncserver

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/protocol/audit"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

// Alerter is told when a site's audit log was rewritten.
type Alerter interface {
	// AuditRewritten reports a checkpoint inconsistent with the one held.
	AuditRewritten(ctx context.Context, id store.Identity, reason string)
}

// Auditor witnesses site checkpoints: it verifies each one is signed with
// the audit key the site enrolled with, checks it extends the last one
// held (consistency proof), mirrors the records, countersigns it, and
// raises an alert when a site's log was rewritten or a checkpoint carries
// a signature that does not verify.
type Auditor struct {
	signer note.Signer
	alert  Alerter
	// keys returns a site's checkpoint verifier, or nil when none is known;
	// nil keys means the store's per-site audit key (Site.AuditKey).
	keys func(id store.Identity) note.Verifier
	// trees holds each site's frontier of the mirrored records' tree.
	trees trees
}

// NewAuditor returns an auditor that countersigns with signer and reports
// rewrites and bad signatures to alert. keys overrides where site audit
// keys come from; pass nil to use the key each site sent at enrollment
// (the store's Site.AuditKey), which is the product's configuration.
func NewAuditor(signer note.Signer, alert Alerter, keys func(store.Identity) note.Verifier) *Auditor {
	return &Auditor{signer: signer, alert: alert, keys: keys}
}

// verifier returns the verifier of the audit key site id enrolled with;
// a nil verifier and a nil error mean the control plane holds no key.
func (a *Auditor) verifier(ctx context.Context, st Store, id store.Identity, origin string) (note.Verifier, error) {
	if a.keys != nil {
		return a.keys(id), nil
	}
	site, err := st.Site(ctx, id.Client, id.Site)
	if errors.Is(err, store.ErrNotFound) || err == nil && len(site.AuditKey) == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(site.AuditKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("site %s/%s: stored audit key has %d bytes", id.Client, id.Site, len(site.AuditKey))
	}
	vkey, err := note.NewEd25519VerifierKey(origin, ed25519.PublicKey(site.AuditKey))
	if err != nil {
		return nil, fmt.Errorf("site %s/%s: audit key: %w", id.Client, id.Site, err)
	}
	return note.NewVerifier(vkey)
}

// LogAlerter logs rewrites at error level.
type LogAlerter struct{ Log *slog.Logger }

// AuditRewritten implements Alerter.
func (a LogAlerter) AuditRewritten(_ context.Context, id store.Identity, reason string) {
	a.Log.Error("ALERT: site audit log rewritten", "client", id.Client, "site", id.Site, "reason", reason)
}

func (a *Auditor) apply(ctx context.Context, st Store, id store.Identity, b *pb.AuditBatch, now time.Time, log *slog.Logger) proto.Message {
	origin, err := audit.Origin(id.Client, id.Site)
	if err != nil {
		return refuse(pb.ErrorCode_ERROR_CODE_INVALID, "", err.Error())
	}
	claimed, err := audit.OpenCheckpoint(b.GetCheckpoint())
	if err != nil {
		return refuse(pb.ErrorCode_ERROR_CODE_INVALID, "", "checkpoint: "+err.Error())
	}
	if claimed.Origin != origin {
		log.Warn("refused audit batch for another log", "origin", claimed.Origin)
		return refuse(pb.ErrorCode_ERROR_CODE_FORBIDDEN, "", fmt.Sprintf("this site's certificate names log %q, the checkpoint %q", origin, claimed.Origin))
	}
	v, err := a.verifier(ctx, st, id, origin)
	if err != nil {
		log.Error("read site audit key", "err", err)
		return &pb.Error{Code: pb.ErrorCode_ERROR_CODE_UNAVAILABLE, Message: "store unavailable", Retryable: true}
	}
	if v == nil {
		log.Warn("refused audit batch: no audit key held for this site")
		return refuse(pb.ErrorCode_ERROR_CODE_FORBIDDEN, "",
			"the control plane holds no audit key for this site, so it cannot verify its checkpoints; enroll the site again with a new token ('sitewarden token create')")
	}
	cp, err := audit.VerifyCheckpoint(b.GetCheckpoint(), v)
	if err != nil {
		if errors.Is(err, audit.ErrBadSignature) {
			log.Error("refused audit batch: checkpoint signature does not verify with the site's enrolled audit key", "size", claimed.Size, "err", err.Error())
			a.alert.AuditRewritten(ctx, id, "checkpoint signature does not verify with the site's enrolled audit key: "+err.Error())
			return refuse(pb.ErrorCode_ERROR_CODE_INVALID, "",
				"the checkpoint is not signed with the audit key this site enrolled with; if the site's audit key was replaced, enroll it again with a new token")
		}
		return refuse(pb.ErrorCode_ERROR_CODE_INVALID, "", "checkpoint: "+err.Error())
	}
	end := b.GetFirstIndex() + uint64(len(b.GetRecords()))
	if end < b.GetFirstIndex() || end > cp.Size {
		return refuse(pb.ErrorCode_ERROR_CODE_INVALID, "", fmt.Sprintf("records up to %d are beyond the checkpoint's size %d", end, cp.Size))
	}
	t := a.trees.lock(id)
	defer t.mu.Unlock()
	held, err := st.LatestCheckpoint(ctx, id.Client, id.Site)
	switch {
	case errors.Is(err, store.ErrNotFound):
		held = store.Checkpoint{}
	case err != nil:
		log.Error("read checkpoint", "err", err)
		return &pb.Error{Code: pb.ErrorCode_ERROR_CODE_UNAVAILABLE, Message: "store unavailable", Retryable: true}
	}
	if held.Size > 0 {
		older, err := audit.OpenCheckpoint(held.Note)
		if err != nil {
			log.Error("held checkpoint unreadable", "err", err)
			return &pb.Error{Code: pb.ErrorCode_ERROR_CODE_INTERNAL, Message: "held checkpoint unreadable"}
		}
		if b.GetPriorSize() != older.Size {
			return &pb.Error{Code: pb.ErrorCode_ERROR_CODE_CONFLICT, Retryable: true,
				Message: fmt.Sprintf("the control plane holds checkpoint size %d, the proof is from size %d; prove from %d", older.Size, b.GetPriorSize(), older.Size)}
		}
		if err := audit.VerifyConsistency(older, cp, b.GetConsistencyProof()); err != nil {
			a.alert.AuditRewritten(ctx, id, err.Error())
			return refuse(pb.ErrorCode_ERROR_CODE_INCONSISTENT_LOG, "", err.Error())
		}
	}
	grown, reply := a.checkRecords(ctx, st, t, id, held, cp, b, log)
	if reply != nil {
		return reply
	}
	if err := st.AppendAudit(ctx, id.Client, id.Site, b.GetFirstIndex(), b.GetRecords()); err != nil {
		if errors.Is(err, store.ErrConflict) {
			if b.GetFirstIndex() <= held.Size {
				a.alert.AuditRewritten(ctx, id, err.Error())
				return refuse(pb.ErrorCode_ERROR_CODE_INCONSISTENT_LOG, "", err.Error())
			}
			return &pb.Error{Code: pb.ErrorCode_ERROR_CODE_CONFLICT, Retryable: true, Message: err.Error()}
		}
		log.Error("mirror audit", "err", err)
		return &pb.Error{Code: pb.ErrorCode_ERROR_CODE_UNAVAILABLE, Message: "store unavailable", Retryable: true}
	}
	if grown != nil {
		t.f = grown
	}
	cosigned, err := audit.Cosign(b.GetCheckpoint(), a.signer)
	if err != nil {
		return refuse(pb.ErrorCode_ERROR_CODE_INVALID, "", err.Error())
	}
	if err := st.PutCheckpoint(ctx, store.Checkpoint{Client: id.Client, Site: id.Site, Size: cp.Size, Root: cp.Hash[:],
		Note: b.GetCheckpoint(), Cosigned: cosigned, WitnessedAt: now}); err != nil {
		if errors.Is(err, store.ErrConflict) {
			a.alert.AuditRewritten(ctx, id, err.Error())
			return refuse(pb.ErrorCode_ERROR_CODE_INCONSISTENT_LOG, "", err.Error())
		}
		log.Error("store checkpoint", "err", err)
		return &pb.Error{Code: pb.ErrorCode_ERROR_CODE_UNAVAILABLE, Message: "store unavailable", Retryable: true}
	}
	return &pb.CheckpointCosignature{TreeSize: cp.Size, RootHash: cp.Hash[:], CosignedNote: cosigned, WitnessedAt: timestamppb.New(now)}
}
