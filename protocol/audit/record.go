package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/tlog"
)

// Kind names what a record announces. Kinds are lowercase snake_case; new
// kinds may be added without a format change (a verifier counts unknown
// kinds like any other).
type Kind string

// Record kinds written by the runner.
const (
	KindGoalReceived      Kind = "goal_received"
	KindPlanStep          Kind = "plan_step"
	KindModelCall         Kind = "model_call"
	KindPolicyDecision    Kind = "policy_decision"
	KindActionStart       Kind = "action_start"
	KindActionResult      Kind = "action_result"
	KindValidation        Kind = "validation"
	KindEscalation        Kind = "escalation"
	KindApprovalRequested Kind = "approval_requested"
	KindApprovalDecided   Kind = "approval_decided"
	KindScopeApplied      Kind = "scope_applied"
	KindRunnerStart       Kind = "runner_start"
	KindRunnerStop        Kind = "runner_stop"
	KindGoalOutcome       Kind = "goal_outcome"
)

// Encoding limits.
const (
	// RecordVersion is the first byte of every canonical record encoding.
	RecordVersion = 1
	// MaxFieldLen bounds each string field, in bytes.
	MaxFieldLen = 1024
	// MaxPayload bounds a record's payload, in bytes.
	MaxPayload = 256 << 10
	// MaxRecordSize bounds a whole canonical encoding.
	MaxRecordSize = 1 + 8 + 6*(2+MaxFieldLen) + 4 + MaxPayload
)

// Record is one audit log entry. Payload is compact JSON (an object) or
// empty; secret-named fields in it must hold digests (SecretDigest), never
// the secret.
type Record struct {
	Kind    Kind
	Time    time.Time
	Client  string
	Site    string
	Agent   string
	GoalID  string
	Actor   string
	Payload []byte
}

// secretKeys are payload field names whose string values must be digests.
var secretKeys = []string{"password", "secret", "token", "private_key", "credential", "passphrase"}

// SecretDigest returns the value a record holds in place of a generated,
// high-entropy secret (such as a new password): "sha256:" and the hex
// SHA-256 of the secret. Never use it for a secret a person chose: a short
// secret's digest can be guessed.
func SecretDigest(secret []byte) string {
	sum := sha256.Sum256(secret)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func validKind(k Kind) bool {
	if k == "" || len(k) > 64 || k[0] < 'a' || k[0] > 'z' {
		return false
	}
	for _, c := range []byte(k) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// Validate checks r against the rules of docs/audit.md before it is
// written: the field rules (checkFields) and a payload that is empty or a
// JSON object with no secret-named string field that is not a digest.
func (r Record) Validate() error {
	if err := r.checkFields(); err != nil {
		return err
	}
	if len(r.Payload) > 0 {
		return checkPayload(r.Payload)
	}
	return nil
}

// checkFields checks the field rules every stored record meets: a
// lowercase kind, a time after 1970 that fits int64 nanoseconds, a client,
// UTF-8 strings within MaxFieldLen and a payload within MaxPayload.
func (r Record) checkFields() error {
	if !validKind(r.Kind) {
		return fmt.Errorf("%w: kind %q is not lowercase snake_case of at most 64 bytes", ErrMalformedRecord, r.Kind)
	}
	if r.Time.Before(time.Unix(0, 1)) || r.Time.After(time.Unix(0, 1<<63-1)) {
		return fmt.Errorf("%w: time %s is outside 1970..2262", ErrMalformedRecord, r.Time)
	}
	if r.Client == "" {
		return fmt.Errorf("%w: client is empty", ErrMalformedRecord)
	}
	for _, f := range [...]struct{ name, v string }{{"client", r.Client}, {"site", r.Site}, {"agent", r.Agent},
		{"goal_id", r.GoalID}, {"actor", r.Actor}} {
		if len(f.v) > MaxFieldLen || !utf8.ValidString(f.v) {
			return fmt.Errorf("%w: %s is not UTF-8 of at most %d bytes", ErrMalformedRecord, f.name, MaxFieldLen)
		}
	}
	if len(r.Payload) > MaxPayload {
		return fmt.Errorf("%w: payload is %d bytes, limit %d", ErrMalformedRecord, len(r.Payload), MaxPayload)
	}
	return nil
}

// checkPayload requires a JSON object and rejects secret-named string
// fields (at any depth) whose value is not "sha256:<64 hex>".
func checkPayload(p []byte) error {
	if plainPayload(p) {
		return nil
	}
	return checkPayloadFull(p)
}

// plainPayload reports whether p certainly passes checkPayloadFull, found
// without decoding it (audit appends are latency-sensitive): a JSON object
// of ASCII without escapes (so every key is spelled as it is stored),
// nested at most 64 deep, in which no secret key name occurs at all, in
// any letter case. Anything else takes the full check.
func plainPayload(p []byte) bool {
	depth, deepest, inStr := 0, 0, false
	for _, c := range p {
		switch {
		case c >= 0x80 || c == '\\':
			return false
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	if deepest > 64 {
		return false
	}
	var small [512]byte
	lower := append(small[:0], p...)
	for i, c := range lower {
		if 'A' <= c && c <= 'Z' {
			lower[i] = c + ('a' - 'A')
		}
	}
	for _, k := range secretKeys {
		if bytes.Contains(lower, []byte(k)) {
			return false
		}
	}
	t := bytes.TrimLeft(p, " \t\r\n")
	return len(t) > 0 && t[0] == '{' && json.Valid(p)
}

// checkPayloadFull is checkPayload by decoding the payload.
func checkPayloadFull(p []byte) error {
	var v any
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("%w: payload is not valid JSON: %v", ErrMalformedRecord, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: trailing data after the payload object", ErrMalformedRecord)
	}
	if _, ok := v.(map[string]any); !ok {
		return fmt.Errorf("%w: payload is not a JSON object", ErrMalformedRecord)
	}
	return walkSecrets(v, 0)
}

func walkSecrets(v any, depth int) error {
	if depth > 64 {
		return fmt.Errorf("%w: payload nests deeper than 64 levels", ErrMalformedRecord)
	}
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if s, ok := e.(string); ok && isSecretKey(k) && !isDigest(s) {
				return fmt.Errorf("%w: field %q must hold audit.SecretDigest of the value, not the value", ErrSecretInPayload, k)
			}
			if err := walkSecrets(e, depth+1); err != nil {
				return err
			}
		}
	case []any:
		for _, e := range t {
			if err := walkSecrets(e, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// NamesSecret reports whether a field name contains one of the words that
// mark a secret (password, secret, token, private_key, credential,
// passphrase), in any case. It is broader than the payload check Append
// applies, for callers that withhold values rather than refuse records.
func NamesSecret(name string) bool {
	name = strings.ToLower(name)
	for _, s := range secretKeys {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

func isSecretKey(k string) bool {
	k = strings.ToLower(k)
	for _, s := range secretKeys {
		if k == s || strings.HasSuffix(k, "_"+s) {
			return true
		}
	}
	return false
}

func isDigest(v string) bool {
	h, ok := strings.CutPrefix(v, "sha256:")
	if !ok || len(h) != 64 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}

// Encode returns r's canonical encoding (docs/audit.md, "Record"): the
// version byte 1, the time as int64 big-endian Unix nanoseconds, the six
// strings kind, client, site, agent, goal_id, actor each as a uint16
// big-endian length and bytes, and the payload as a uint32 big-endian
// length and bytes. Encode validates r first.
func Encode(r Record) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return encode(r), nil
}

func encode(r Record) []byte {
	n := 1 + 8 + 6*2 + len(r.Kind) + len(r.Client) + len(r.Site) + len(r.Agent) + len(r.GoalID) + len(r.Actor) + 4 + len(r.Payload)
	out := make([]byte, 0, n)
	out = append(out, RecordVersion)
	out = binary.BigEndian.AppendUint64(out, uint64(r.Time.UnixNano()))
	for _, s := range [...]string{string(r.Kind), r.Client, r.Site, r.Agent, r.GoalID, r.Actor} {
		out = binary.BigEndian.AppendUint16(out, uint16(len(s)))
		out = append(out, s...)
	}
	out = binary.BigEndian.AppendUint32(out, uint32(len(r.Payload)))
	return append(out, r.Payload...)
}

// Decode parses a canonical encoding strictly (no trailing bytes, field
// rules checked), so re-encoding a decoded record gives the same bytes. It
// does not apply the payload rules of Validate: a verifier must count what
// was written, whatever it holds. Time comes back in UTC.
func Decode(b []byte) (Record, error) {
	var r Record
	if len(b) < 1+8 {
		return r, fmt.Errorf("%w: %d bytes is shorter than the fixed header", ErrMalformedRecord, len(b))
	}
	if b[0] != RecordVersion {
		return r, fmt.Errorf("%w: version %d, this build reads version %d", ErrMalformedRecord, b[0], RecordVersion)
	}
	if len(b) > MaxRecordSize {
		return r, fmt.Errorf("%w: %d bytes exceeds the %d byte limit", ErrMalformedRecord, len(b), MaxRecordSize)
	}
	ns := int64(binary.BigEndian.Uint64(b[1:9]))
	r.Time = time.Unix(0, ns).UTC()
	rest := b[9:]
	var fields [6]string
	for i := range fields {
		if len(rest) < 2 {
			return Record{}, fmt.Errorf("%w: truncated in string field %d", ErrMalformedRecord, i)
		}
		l := int(binary.BigEndian.Uint16(rest))
		rest = rest[2:]
		if l > len(rest) {
			return Record{}, fmt.Errorf("%w: string field %d runs past the end", ErrMalformedRecord, i)
		}
		fields[i] = string(rest[:l])
		rest = rest[l:]
	}
	r.Kind, r.Client, r.Site, r.Agent, r.GoalID, r.Actor = Kind(fields[0]), fields[1], fields[2], fields[3], fields[4], fields[5]
	if len(rest) < 4 {
		return Record{}, fmt.Errorf("%w: truncated in payload length", ErrMalformedRecord)
	}
	pl := uint64(binary.BigEndian.Uint32(rest))
	rest = rest[4:]
	if pl != uint64(len(rest)) {
		return Record{}, fmt.Errorf("%w: payload length %d, %d bytes follow", ErrMalformedRecord, pl, len(rest))
	}
	if pl > 0 {
		r.Payload = append([]byte(nil), rest...)
	}
	if err := r.checkFields(); err != nil {
		return Record{}, err
	}
	return r, nil
}

// LeafHash is the Merkle leaf hash of a canonical encoding:
// SHA-256(0x00 || encoding), as RFC 6962 and tlog.RecordHash define it.
func LeafHash(encoding []byte) tlog.Hash { return tlog.RecordHash(encoding) }
