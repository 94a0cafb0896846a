package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// MaxCheckpointSize bounds a signed checkpoint note, signatures included.
const MaxCheckpointSize = 16 << 10

// originPrefix starts every Sitewarden audit log origin.
const originPrefix = "sitewarden-audit/"

// Checkpoint is the body of a C2SP tlog-checkpoint: the log's origin, its
// size and the RFC 6962 root hash of its first Size records. Extensions
// holds any extension lines after the root, kept verbatim; Sitewarden
// writes none.
type Checkpoint struct {
	Origin     string
	Size       uint64
	Hash       tlog.Hash
	Extensions []string
}

// validID reports whether s may be a client or site identifier in an
// origin: 1 to 64 bytes of [A-Za-z0-9._-].
func validID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// Origin returns the origin line (and signing key name) of a site's audit
// log: "sitewarden-audit/<client>/<site>". Client and site are 1 to 64
// bytes of [A-Za-z0-9._-].
func Origin(client, site string) (string, error) {
	if !validID(client) || !validID(site) {
		return "", fmt.Errorf("%w: client %q and site %q must be 1-64 characters of A-Z a-z 0-9 . _ -",
			ErrMalformedKey, client, site)
	}
	return originPrefix + client + "/" + site, nil
}

// Marshal returns the checkpoint body: origin, decimal size and base64
// root hash, one per line, then the extension lines.
func (c Checkpoint) Marshal() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Hash[:]))
	for _, e := range c.Extensions {
		b.WriteString(e)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// ParseCheckpoint parses a checkpoint body (a note's text). It is strict:
// a non-empty origin, a decimal size without sign or leading zeros, a
// standard-base64 32-byte hash, and non-empty extension lines.
func ParseCheckpoint(text []byte) (Checkpoint, error) {
	var c Checkpoint
	s := string(text)
	if len(s) > MaxCheckpointSize || !strings.HasSuffix(s, "\n") {
		return c, fmt.Errorf("%w: body must be at most %d bytes and end in a newline", ErrMalformedCheckpoint, MaxCheckpointSize)
	}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if len(lines) < 3 {
		return c, fmt.Errorf("%w: want origin, size and root hash lines, got %d lines", ErrMalformedCheckpoint, len(lines))
	}
	if lines[0] == "" {
		return c, fmt.Errorf("%w: empty origin", ErrMalformedCheckpoint)
	}
	c.Origin = lines[0]
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] || size > 1<<62 {
		return Checkpoint{}, fmt.Errorf("%w: size %q is not a canonical decimal", ErrMalformedCheckpoint, lines[1])
	}
	c.Size = size
	h, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(h) != tlog.HashSize {
		return Checkpoint{}, fmt.Errorf("%w: root hash %q is not base64 of 32 bytes", ErrMalformedCheckpoint, lines[2])
	}
	copy(c.Hash[:], h)
	for _, e := range lines[3:] {
		if e == "" {
			return Checkpoint{}, fmt.Errorf("%w: empty extension line", ErrMalformedCheckpoint)
		}
		c.Extensions = append(c.Extensions, e)
	}
	return c, nil
}

// ed25519Signer is a note.Signer over an ed25519 private key.
type ed25519Signer struct {
	name string
	hash uint32
	key  ed25519.PrivateKey
}

var _ note.Signer = (*ed25519Signer)(nil)

func (s *ed25519Signer) Name() string                    { return s.name }
func (s *ed25519Signer) KeyHash() uint32                 { return s.hash }
func (s *ed25519Signer) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(s.key, msg), nil }

// NewSigner returns a note signer named name (an origin) for key, and the
// matching verifier key string (name+keyhash+base64 public key, the format
// VerifierKey and note.NewVerifier read).
func NewSigner(name string, key ed25519.PrivateKey) (note.Signer, string, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, "", fmt.Errorf("%w: ed25519 private key has %d bytes, want %d", ErrMalformedKey, len(key), ed25519.PrivateKeySize)
	}
	vkey, err := note.NewEd25519VerifierKey(name, key.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, "", fmt.Errorf("%w: key name %q: %v", ErrMalformedKey, name, err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrMalformedKey, err)
	}
	return &ed25519Signer{name: name, hash: v.KeyHash(), key: key}, vkey, nil
}

// VerifierKey parses a verifier key string ("name+hash+base64key", as
// printed by 'sitewarden-runner audit key' and stored in every export).
func VerifierKey(vkey string) (note.Verifier, error) {
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return nil, fmt.Errorf("%w: %v; a key looks like sitewarden-audit/<client>/<site>+<8 hex>+<base64>", ErrMalformedKey, err)
	}
	return v, nil
}

// SignCheckpoint signs c with signer and returns the signed note.
func SignCheckpoint(c Checkpoint, signer note.Signer) ([]byte, error) {
	if c.Origin != signer.Name() {
		return nil, fmt.Errorf("%w: origin %q differs from key name %q", ErrMalformedCheckpoint, c.Origin, signer.Name())
	}
	msg, err := note.Sign(&note.Note{Text: string(c.Marshal())}, signer)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	return msg, nil
}

// VerifyCheckpoint opens a signed note, requires a valid signature by v
// (other signatures, such as cosignatures, are ignored), parses the body,
// and requires the origin to be v's name.
func VerifyCheckpoint(signed []byte, v note.Verifier) (Checkpoint, error) {
	if len(signed) > MaxCheckpointSize {
		return Checkpoint{}, fmt.Errorf("%w: note is %d bytes, limit %d", ErrMalformedCheckpoint, len(signed), MaxCheckpointSize)
	}
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			return Checkpoint{}, fmt.Errorf("%w: no signature by key %s+%08x", ErrBadSignature, v.Name(), v.KeyHash())
		case errors.As(err, &invalid):
			return Checkpoint{}, fmt.Errorf("%w: %v", ErrBadSignature, err)
		default:
			return Checkpoint{}, fmt.Errorf("%w: %v", ErrMalformedCheckpoint, err)
		}
	}
	c, err := ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return Checkpoint{}, err
	}
	if c.Origin != v.Name() {
		return Checkpoint{}, fmt.Errorf("%w: origin %q differs from key name %q", ErrBadSignature, c.Origin, v.Name())
	}
	return c, nil
}

// OpenCheckpoint parses a signed checkpoint note without checking any
// signature. Use it only to read a note's claims before choosing a key.
func OpenCheckpoint(signed []byte) (Checkpoint, error) {
	if len(signed) > MaxCheckpointSize {
		return Checkpoint{}, fmt.Errorf("%w: note is %d bytes, limit %d", ErrMalformedCheckpoint, len(signed), MaxCheckpointSize)
	}
	n, err := openUnverified(signed)
	if err != nil {
		return Checkpoint{}, err
	}
	return ParseCheckpoint([]byte(n.Text))
}

func openUnverified(signed []byte) (*note.Note, error) {
	_, err := note.Open(signed, note.VerifierList())
	var unverified *note.UnverifiedNoteError
	if !errors.As(err, &unverified) {
		return nil, fmt.Errorf("%w: %v", ErrMalformedCheckpoint, err)
	}
	return unverified.Note, nil
}

// Cosign adds signer's signature (the control plane witnessing a site's
// checkpoint) to a signed checkpoint note and returns the new note; the
// existing signatures are kept. Cosign checks that the body parses but not
// who signed it: verify the site's signature (VerifyCheckpoint) and the
// append-only growth (VerifyConsistency) first.
func Cosign(signed []byte, signer note.Signer) ([]byte, error) {
	if len(signed) > MaxCheckpointSize {
		return nil, fmt.Errorf("%w: note is %d bytes, limit %d", ErrMalformedCheckpoint, len(signed), MaxCheckpointSize)
	}
	n, err := openUnverified(signed)
	if err != nil {
		return nil, err
	}
	if _, err := ParseCheckpoint([]byte(n.Text)); err != nil {
		return nil, err
	}
	out, err := note.Sign(n, signer)
	if err != nil {
		return nil, fmt.Errorf("cosign checkpoint: %w", err)
	}
	return out, nil
}

// HashesFromBytes converts proof hashes from their wire form (32-byte
// slices, as in AuditBatch.consistency_proof) and checks their sizes.
func HashesFromBytes(in [][]byte) ([]tlog.Hash, error) {
	if len(in) > 128 {
		return nil, fmt.Errorf("%w: proof has %d hashes, at most 128 are meaningful", ErrInconsistent, len(in))
	}
	out := make([]tlog.Hash, len(in))
	for i, b := range in {
		if len(b) != tlog.HashSize {
			return nil, fmt.Errorf("%w: proof hash %d has %d bytes, want %d", ErrInconsistent, i, len(b), tlog.HashSize)
		}
		copy(out[i][:], b)
	}
	return out, nil
}

// HashesToBytes converts proof hashes to their wire form.
func HashesToBytes(in []tlog.Hash) [][]byte {
	out := make([][]byte, len(in))
	for i := range in {
		out[i] = append([]byte(nil), in[i][:]...)
	}
	return out
}

// VerifyConsistency checks that checkpoint newer extends checkpoint older:
// same origin, a size at least as large, and a valid RFC 6962 consistency
// proof (empty when the sizes are equal, in which case the roots must be
// equal; also empty when older is the empty tree).
func VerifyConsistency(older, newer Checkpoint, proof [][]byte) error {
	if older.Origin != newer.Origin {
		return fmt.Errorf("%w: origins %q and %q differ", ErrInconsistent, older.Origin, newer.Origin)
	}
	if newer.Size < older.Size {
		return fmt.Errorf("%w: size went down from %d to %d", ErrInconsistent, older.Size, newer.Size)
	}
	if older.Size == 0 {
		return nil
	}
	if older.Size == newer.Size {
		if older.Hash != newer.Hash || len(proof) != 0 {
			return fmt.Errorf("%w: two different roots for size %d", ErrInconsistent, older.Size)
		}
		return nil
	}
	p, err := HashesFromBytes(proof)
	if err != nil {
		return err
	}
	if err := tlog.CheckTree(p, int64(newer.Size), newer.Hash, int64(older.Size), older.Hash); err != nil {
		return fmt.Errorf("%w: tree of size %d does not extend tree of size %d: %v", ErrInconsistent, newer.Size, older.Size, err)
	}
	return nil
}
