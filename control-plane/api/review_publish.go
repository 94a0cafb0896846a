package api

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/policies"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

// TopicScope is the sync topic of scope bundles; it equals
// syncserver's scope topic (a test checks it).
const TopicScope = "scope"

// ScopeStore is what publishing a scope needs of the store.
type ScopeStore interface {
	LatestScope(ctx context.Context, client string) (store.ScopeVersion, error)
	PutScope(ctx context.Context, v store.ScopeVersion) error
}

var _ ScopeStore = (*store.SQLite)(nil)

// PublishScope signs sc with key as the client's next scope version (one
// more than the newest stored, 1 for the first), stores it and returns
// it. Sites learn of it from the caller's Notify, or, when another process
// publishes, from the sync server's store watch. A concurrent publish of
// the same version makes PutScope fail with store.ErrConflict: nothing is
// stored, and publishing again takes the next version.
func PublishScope(ctx context.Context, st ScopeStore, key ed25519.PrivateKey, sc *policies.Scope, now time.Time) (store.ScopeVersion, error) {
	if sc == nil {
		return store.ScopeVersion{}, errors.New("publish scope: no scope")
	}
	client := sc.Client()
	next := uint64(1)
	latest, err := st.LatestScope(ctx, client)
	switch {
	case err == nil:
		next = latest.Version + 1
	case !errors.Is(err, store.ErrNotFound):
		return store.ScopeVersion{}, fmt.Errorf("publish scope of %s: %w", client, err)
	}
	v, err := signVersion(sc, next, now, key)
	if err != nil {
		return store.ScopeVersion{}, fmt.Errorf("publish scope of %s: %w", client, err)
	}
	if err := st.PutScope(ctx, v); err != nil {
		return store.ScopeVersion{}, fmt.Errorf("publish scope of %s v%d: %w", client, next, err)
	}
	return v, nil
}

// signVersion signs sc as a scope version.
func signVersion(sc *policies.Scope, version uint64, now time.Time, key ed25519.PrivateKey) (store.ScopeVersion, error) {
	b, err := policies.NewBundle(sc, version, now, key)
	if err != nil {
		return store.ScopeVersion{}, err
	}
	raw, err := proto.Marshal(b)
	if err != nil {
		return store.ScopeVersion{}, err
	}
	return store.ScopeVersion{Client: sc.Client(), Version: version, Bundle: raw, CreatedAt: now.UTC()}, nil
}

// decodeBundle decodes a stored scope version's signed bundle.
func decodeBundle(raw []byte) (*pb.ScopeBundle, error) {
	var b pb.ScopeBundle
	if err := proto.Unmarshal(raw, &b); err != nil {
		return nil, fmt.Errorf("decode scope bundle: %w", err)
	}
	return &b, nil
}
