package web

import (
	"context"
	"log/slog"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/store"
)

// AlertRecorder keeps the checkpoint witness's alerts (a site's audit log
// inconsistent with what was witnessed) for the Sites page, then passes
// each to Next (the log alerter). It implements syncserver.Alerter.
type AlertRecorder struct {
	Store interface {
		RecordAuditAlert(ctx context.Context, a store.AuditAlert) error
	}
	Next interface {
		AuditRewritten(ctx context.Context, id store.Identity, reason string)
	}
	Log *slog.Logger
	Now func() time.Time
}

// AuditRewritten implements syncserver.Alerter.
func (a AlertRecorder) AuditRewritten(ctx context.Context, id store.Identity, reason string) {
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	if err := a.Store.RecordAuditAlert(ctx, store.AuditAlert{Client: id.Client, Site: id.Site, Reason: reason, At: now()}); err != nil {
		a.Log.Error("record audit alert", "client", id.Client, "site", id.Site, "err", err)
	}
	if a.Next != nil {
		a.Next.AuditRewritten(ctx, id, reason)
	}
}
