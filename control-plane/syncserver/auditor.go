package syncserver

import (
	"context"
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

// Auditor witnesses site checkpoints: it checks each new one extends the
// last one held (consistency proof), mirrors the records, countersigns it,
// and raises an alert when a site's log was rewritten.
type Auditor struct {
	signer note.Signer
	alert  Alerter
	// keys returns a site's checkpoint verifier; nil means the site's
	// signature is not checked (the key is not known to the control plane).
	keys func(id store.Identity) note.Verifier
}

// NewAuditor returns an auditor that countersigns with signer and reports
// rewrites to alert. keys may be nil.
func NewAuditor(signer note.Signer, alert Alerter, keys func(store.Identity) note.Verifier) *Auditor {
	return &Auditor{signer: signer, alert: alert, keys: keys}
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
	var cp audit.Checkpoint
	if a.keys != nil && a.keys(id) != nil {
		cp, err = audit.VerifyCheckpoint(b.GetCheckpoint(), a.keys(id))
	} else {
		cp, err = audit.OpenCheckpoint(b.GetCheckpoint())
	}
	if err != nil {
		return refuse(pb.ErrorCode_ERROR_CODE_INVALID, "", "checkpoint: "+err.Error())
	}
	if cp.Origin != origin {
		log.Warn("refused audit batch for another log", "origin", cp.Origin)
		return refuse(pb.ErrorCode_ERROR_CODE_FORBIDDEN, "", fmt.Sprintf("this site's certificate names log %q, the checkpoint %q", origin, cp.Origin))
	}
	end := b.GetFirstIndex() + uint64(len(b.GetRecords()))
	if end < b.GetFirstIndex() || end > cp.Size {
		return refuse(pb.ErrorCode_ERROR_CODE_INVALID, "", fmt.Sprintf("records up to %d are beyond the checkpoint's size %d", end, cp.Size))
	}
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
