package sync

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	stdsync "sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sitewarden/sitewarden/policies"
	"github.com/sitewarden/sitewarden/protocol"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

// ScopeCache is a Scope that verifies every bundle with policies.Verify
// (signature by the control plane's scope key, the site's client, expiry,
// no rollback, a payload that compiles) and keeps the last good one on
// disk (<dir>/scope.pb, the bundle's protobuf encoding), so the runner
// works offline under it until it expires.
type ScopeCache struct {
	file   string
	key    ed25519.PublicKey
	client string
	now    func() time.Time

	mu     stdsync.Mutex
	bundle *pb.ScopeBundle
	scope  *policies.Scope
}

var _ Scope = (*ScopeCache)(nil)

// OpenScopeCache loads the last good bundle from dir, if any, re-checking
// its signature and client (not its expiry: an expired bundle is still the
// last good one; Current reports it as expired). now may be nil.
func OpenScopeCache(dir string, key ed25519.PublicKey, client string, now func() time.Time) (*ScopeCache, error) {
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open scope cache: %w", err)
	}
	c := &ScopeCache{file: filepath.Join(dir, "scope.pb"), key: key, client: client, now: now}
	raw, err := os.ReadFile(c.file)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open scope cache: %w", err)
	}
	var b pb.ScopeBundle
	if err := proto.Unmarshal(raw, &b); err != nil {
		return nil, fmt.Errorf("open scope cache: %s: %w; delete it to fetch a fresh bundle", c.file, err)
	}
	// Verify as of just before expiry: signature, client and payload must
	// hold; expiry is judged by Current.
	s, err := policies.Verify(&b, protocol.BundleCheck{Key: key, Client: client, Now: b.GetExpiresAt().AsTime().Add(-time.Nanosecond)})
	if err != nil {
		return nil, fmt.Errorf("open scope cache: stored bundle: %w; delete %s to fetch a fresh one", err, c.file)
	}
	c.bundle, c.scope = &b, s
	return c, nil
}

// InUse implements Scope.
func (c *ScopeCache) InUse() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bundle.GetVersion()
}

// Offer implements Scope.
func (c *ScopeCache) Offer(_ context.Context, b *pb.ScopeBundle) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, err := policies.Verify(b, protocol.BundleCheck{Key: c.key, Client: c.client, InUse: c.bundle.GetVersion(), Now: c.now()})
	if err != nil {
		return err
	}
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(b)
	if err != nil {
		return fmt.Errorf("keep scope bundle: %w", err)
	}
	if err := WriteDurable(c.file, raw); err != nil {
		return fmt.Errorf("keep scope bundle: %w", err)
	}
	c.bundle, c.scope = b, s
	return nil
}

// Current returns the scope in use (nil when none was ever received) and
// whether it has expired: after expiry agents only escalate.
func (c *ScopeCache) Current() (s *policies.Scope, expired bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.scope == nil {
		return nil, false
	}
	return c.scope, !c.now().Before(c.bundle.GetExpiresAt().AsTime())
}

// ExpiresAt returns when the bundle in use expires (zero when none).
func (c *ScopeCache) ExpiresAt() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bundle == nil {
		return time.Time{}
	}
	return c.bundle.GetExpiresAt().AsTime()
}
