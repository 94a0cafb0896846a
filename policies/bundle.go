package policies

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sitewarden/sitewarden/protocol"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

// payloadName names a bundle payload in error messages.
const payloadName = "bundle payload"

// NewBundle signs s's canonical bytes as bundle version for s's client,
// issued at issued and expiring after the scope's maxOfflineValidity.
// Versions must grow: runners refuse a version not newer than theirs.
func NewBundle(s *Scope, version uint64, issued time.Time, key ed25519.PrivateKey) (*pb.ScopeBundle, error) {
	if s == nil {
		return nil, errors.New("new scope bundle: no scope")
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("new scope bundle: the signing key is not an ed25519 private key")
	}
	b := &pb.ScopeBundle{
		ClientId:  s.client,
		Version:   version,
		IssuedAt:  timestamppb.New(issued.UTC()),
		ExpiresAt: timestamppb.New(issued.UTC().Add(s.maxOffline)),
		Payload:   s.Canonical(),
	}
	if err := protocol.SignBundle(key, b); err != nil {
		return nil, fmt.Errorf("new scope bundle for %s v%d: %w", s.client, version, err)
	}
	return b, nil
}

// Verify checks a bundle with protocol.VerifyBundle (signature, client,
// expiry, rollback), then decodes its payload strictly and compiles it with
// DefaultConfig. The scope must name the bundle's client and must not let
// the bundle outlive its maxOfflineValidity. Errors wrap a protocol
// ErrBundle* sentinel, or ErrInvalidScope for a payload that does not
// compile.
func Verify(b *pb.ScopeBundle, c protocol.BundleCheck) (*Scope, error) {
	if err := protocol.VerifyBundle(b, c); err != nil {
		return nil, err
	}
	s, err := DecodePayload(b.GetPayload())
	if err != nil {
		return nil, fmt.Errorf("verify scope bundle %s v%d: %w", b.GetClientId(), b.GetVersion(), err)
	}
	if s.client != b.GetClientId() {
		return nil, fmt.Errorf("verify scope bundle %s v%d: %w: payload is the scope of client %q",
			b.GetClientId(), b.GetVersion(), protocol.ErrBundleMalformed, s.client)
	}
	issued, expires := b.GetIssuedAt().AsTime(), b.GetExpiresAt().AsTime()
	if expires.Sub(issued) > s.maxOffline {
		return nil, fmt.Errorf("verify scope bundle %s v%d: %w: valid for %s, but the scope allows at most %s offline",
			b.GetClientId(), b.GetVersion(), protocol.ErrBundleMalformed, expires.Sub(issued), FormatDuration(s.maxOffline))
	}
	s.bundle = BundleInfo{Version: b.GetVersion(), IssuedAt: issued, ExpiresAt: expires, KeyID: b.GetKeyId()}
	return s, nil
}

// DecodePayload decodes a bundle payload (canonical scope bytes) strictly
// and compiles it with DefaultConfig. It does not check a signature: use
// Verify for bundles from the wire.
func DecodePayload(payload []byte) (*Scope, error) {
	return Compile(DefaultConfig(), Source{Name: payloadName, Data: payload})
}
