package cluster

import (
	"context"
	"log/slog"

	"github.com/sitewarden/sitewarden/control-plane/store"
)

// Changes delivers the changes other processes write to the shared store
// (store.Postgres implements it). ListenChanges blocks until ctx ends,
// reconnecting as needed, and calls onListening each time it subscribes.
type Changes interface {
	ListenChanges(ctx context.Context, log *slog.Logger, onListening func(), fn func(store.Change)) error
}

// Notifier pushes "topic has a new version" to the sites connected here
// (syncserver.Server implements it).
type Notifier interface {
	Notify(client, site, topic string, version uint64) int
}

// CatchUp is a Notifier that can also tell every connected site to fetch
// a topic (syncserver.Server implements it): Relay uses it after its
// listener reconnected, for the changes it may have missed meanwhile.
type CatchUp interface {
	NotifyAll(topic string) int
}

var _ Changes = (*store.Postgres)(nil)

// Relay passes every change from ch to n until ctx ends: a change written
// through any replica reaches the site's connection on this one. ready,
// when not nil, is called each time the listener is subscribed.
//
// Changes committed while the listener was reconnecting are not replayed
// by PostgreSQL; when n implements CatchUp, every connected site is told
// to fetch every topic once the listener is back.
func Relay(ctx context.Context, ch Changes, n Notifier, log *slog.Logger, ready func()) error {
	subscribed := 0
	return ch.ListenChanges(ctx, log, func() {
		subscribed++
		log.Info("listening for changes from other replicas")
		if cu, ok := n.(CatchUp); ok && subscribed > 1 {
			reached := 0
			for _, topic := range []string{store.TopicScope, store.TopicGoals, store.TopicApprovals} {
				reached += cu.NotifyAll(topic)
			}
			log.Info("listener reconnected; connected sites told to fetch", "notifies", reached)
		}
		if ready != nil {
			ready()
		}
	}, func(c store.Change) {
		reached := n.Notify(c.Client, c.Site, c.Topic, c.Version)
		log.Debug("change relayed", "client", c.Client, "site", c.Site, "topic", c.Topic, "version", c.Version, "sites", reached)
	})
}
