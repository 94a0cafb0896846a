package protocol

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

// Bundle errors. Verify wraps exactly one of them, so a runner can tell a
// forged bundle from a stale one.
var (
	ErrBundleSignature = errors.New("scope bundle signature does not verify")
	ErrBundleClient    = errors.New("scope bundle is for another client")
	ErrBundleExpired   = errors.New("scope bundle expired")
	ErrBundleRollback  = errors.New("scope bundle is not newer than the one in use")
	ErrBundleMalformed = errors.New("malformed scope bundle")
)

// MaxBundlePayload bounds a scope bundle's payload: 1 MiB.
const MaxBundlePayload = 1 << 20

// bundleDomain separates scope-bundle signatures from every other use of the
// control plane's signing key.
const bundleDomain = "sitewarden scope bundle v1\x00"

// KeyID names an ed25519 public key: hex of the first 8 bytes of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// BundleSigningInput returns the exact bytes a bundle's signature covers:
//
//	"sitewarden scope bundle v1" 0x00
//	uint32 BE len(client_id) | client_id
//	uint64 BE version
//	int64 BE issued_at (Unix nanoseconds, UTC)
//	int64 BE expires_at (Unix nanoseconds, UTC)
//	SHA-256(payload) (32 bytes)
//
// Lengths and fixed-width integers keep the encoding unambiguous; the
// protobuf encoding of the envelope is never signed.
func BundleSigningInput(b *pb.ScopeBundle) []byte {
	sum := sha256.Sum256(b.GetPayload())
	out := make([]byte, 0, len(bundleDomain)+4+len(b.GetClientId())+8+8+8+len(sum))
	out = append(out, bundleDomain...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(b.GetClientId())))
	out = append(out, b.GetClientId()...)
	out = binary.BigEndian.AppendUint64(out, b.GetVersion())
	out = binary.BigEndian.AppendUint64(out, uint64(b.GetIssuedAt().AsTime().UnixNano()))
	out = binary.BigEndian.AppendUint64(out, uint64(b.GetExpiresAt().AsTime().UnixNano()))
	return append(out, sum[:]...)
}

func checkBundleShape(b *pb.ScopeBundle) error {
	switch {
	case b == nil:
		return fmt.Errorf("%w: empty", ErrBundleMalformed)
	case b.GetClientId() == "" || strings.ContainsAny(b.GetClientId(), "\x00\n"):
		return fmt.Errorf("%w: client id %q", ErrBundleMalformed, b.GetClientId())
	case b.GetVersion() == 0:
		return fmt.Errorf("%w: version 0", ErrBundleMalformed)
	case b.GetIssuedAt() == nil || b.GetExpiresAt() == nil:
		return fmt.Errorf("%w: issued and expires times are required", ErrBundleMalformed)
	case !b.GetExpiresAt().AsTime().After(b.GetIssuedAt().AsTime()):
		return fmt.Errorf("%w: expires %s is not after issued %s", ErrBundleMalformed,
			b.GetExpiresAt().AsTime().Format(time.RFC3339), b.GetIssuedAt().AsTime().Format(time.RFC3339))
	case len(b.GetPayload()) > MaxBundlePayload:
		return fmt.Errorf("%w: payload %d bytes, limit %d", ErrBundleMalformed, len(b.GetPayload()), MaxBundlePayload)
	}
	return nil
}

// SignBundle fills b's KeyId and Signature with priv's signature over
// BundleSigningInput(b).
func SignBundle(priv ed25519.PrivateKey, b *pb.ScopeBundle) error {
	if err := checkBundleShape(b); err != nil {
		return fmt.Errorf("sign scope bundle: %w", err)
	}
	b.KeyId = KeyID(priv.Public().(ed25519.PublicKey))
	b.Signature = ed25519.Sign(priv, BundleSigningInput(b))
	return nil
}

// BundleCheck says what a runner expects of a bundle it is about to use.
type BundleCheck struct {
	// Key is the control plane's scope-signing public key.
	Key ed25519.PublicKey
	// Client is the client named in the runner's certificate.
	Client string
	// InUse is the version of the bundle in use now (0: none).
	InUse uint64
	// Now is the current time.
	Now time.Time
}

// VerifyBundle checks b's shape, signature, client, expiry and that it is
// newer than the bundle in use. The error wraps one of the ErrBundle*
// sentinels and says what to do next.
func VerifyBundle(b *pb.ScopeBundle, c BundleCheck) error {
	if err := checkBundleShape(b); err != nil {
		return fmt.Errorf("verify scope bundle: %w", err)
	}
	if len(c.Key) != ed25519.PublicKeySize {
		return fmt.Errorf("verify scope bundle: %w: no valid signing key configured", ErrBundleSignature)
	}
	if b.GetKeyId() != KeyID(c.Key) || !ed25519.Verify(c.Key, BundleSigningInput(b), b.GetSignature()) {
		return fmt.Errorf("verify scope bundle %s v%d: %w (key id %q, trusted key %s); the bundle was altered or signed by another control plane",
			b.GetClientId(), b.GetVersion(), ErrBundleSignature, b.GetKeyId(), KeyID(c.Key))
	}
	if b.GetClientId() != c.Client {
		return fmt.Errorf("verify scope bundle v%d: %w: bundle names %q, this site serves %q",
			b.GetVersion(), ErrBundleClient, b.GetClientId(), c.Client)
	}
	if exp := b.GetExpiresAt().AsTime(); !c.Now.Before(exp) {
		return fmt.Errorf("verify scope bundle %s v%d: %w at %s; fetch a fresh one from the control plane",
			b.GetClientId(), b.GetVersion(), ErrBundleExpired, exp.UTC().Format(time.RFC3339))
	}
	if b.GetVersion() <= c.InUse {
		return fmt.Errorf("verify scope bundle %s: %w: offered v%d, in use v%d",
			b.GetClientId(), ErrBundleRollback, b.GetVersion(), c.InUse)
	}
	return nil
}
