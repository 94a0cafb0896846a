package testsupport

import (
	"fmt"
	"sync"
)

// Notifier records the notices a server would push to connected sites
// (the control plane's Notify(client, site, topic, version) callback) as
// "client/site topic version" lines, and reports one site reached.
type Notifier struct {
	mu    sync.Mutex
	calls []string
}

// Notify records one notice.
func (n *Notifier) Notify(client, site, topic string, version uint64) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls = append(n.calls, fmt.Sprintf("%s/%s %s %d", client, site, topic, version))
	return 1
}

// Calls returns the notices recorded so far, oldest first.
func (n *Notifier) Calls() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.calls...)
}
