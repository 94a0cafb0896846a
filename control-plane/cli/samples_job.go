package cli

import (
	"context"

	"github.com/sitewarden/sitewarden/control-plane/api"
	"github.com/sitewarden/sitewarden/control-plane/store"
)

// startSampler runs the daily review sample job until ctx ends and returns
// a channel closed when it stopped; nil when the API has no governance. A
// store that coordinates replicas (store.Once) runs the job once across
// them; otherwise this process is the only one (SQLite).
func startSampler(ctx context.Context, srv *api.Server, st any) <-chan struct{} {
	sm := srv.Sampler()
	if sm == nil {
		return nil
	}
	once, ok := st.(api.Once)
	if !ok {
		once = store.NewLocalOnce()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sm.Run(ctx, once)
	}()
	return done
}
