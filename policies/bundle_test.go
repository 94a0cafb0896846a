package policies

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sitewarden/sitewarden/protocol"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// testKey is a fixed signing key so bundles (ed25519 is deterministic) and
// the golden file are stable.
func testKey() ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
}

var issued = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func check(now time.Time, inUse uint64) protocol.BundleCheck {
	return protocol.BundleCheck{Key: testKey().Public().(ed25519.PublicKey), Client: "acme", InUse: inUse, Now: now}
}

func TestBundleRoundTrip(t *testing.T) {
	s := mustCompile(t, "testdata/decide.yaml")
	b, err := NewBundle(s, 3, issued, testKey())
	if err != nil {
		t.Fatal(err)
	}
	if b.GetClientId() != "acme" || b.GetVersion() != 3 || !b.GetExpiresAt().AsTime().Equal(issued.Add(48*time.Hour)) {
		t.Fatalf("bundle %v", b)
	}
	wire, err := proto.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var got pb.ScopeBundle
	if err := proto.Unmarshal(wire, &got); err != nil {
		t.Fatal(err)
	}
	v, err := Verify(&got, check(issued.Add(time.Hour), 2))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(v.Canonical(), s.Canonical()) {
		t.Fatal("verified scope differs")
	}
	info := v.Bundle()
	if info.Version != 3 || !info.IssuedAt.Equal(issued) || !info.ExpiresAt.Equal(issued.Add(48*time.Hour)) || info.KeyID != protocol.KeyID(testKey().Public().(ed25519.PublicKey)) {
		t.Fatalf("bundle info %+v", info)
	}
	req := Request{Agent: "tester", Workflow: "w_auto", Action: "p.read"}
	req.Now = issued.Add(47 * time.Hour)
	if d := v.Decide(req); d.Effect != Allow {
		t.Fatalf("before expiry: %+v", d)
	}
	// After the bundle's expiry a site keeps deciding offline only to deny.
	req.Now = issued.Add(48 * time.Hour)
	if d := v.Decide(req); d.Effect != Deny || d.Rule != RuleExpired || !strings.Contains(d.Reason, "scope bundle v3 expired at 2026-03-03T09:00:00Z") {
		t.Fatalf("at expiry: %+v", d)
	}
}

func TestVerifyErrors(t *testing.T) {
	s := mustCompile(t, "testdata/decide.yaml")
	fresh := func(t *testing.T) *pb.ScopeBundle {
		b, err := NewBundle(s, 5, issued, testKey())
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	resign := func(t *testing.T, b *pb.ScopeBundle) {
		if err := protocol.SignBundle(testKey(), b); err != nil {
			t.Fatal(err)
		}
	}
	now := issued.Add(time.Hour)
	tests := []struct {
		name  string
		mod   func(t *testing.T, b *pb.ScopeBundle)
		check protocol.BundleCheck
		is    error
		want  string
	}{
		{"tampered payload", func(_ *testing.T, b *pb.ScopeBundle) {
			b.Payload = bytes.Replace(b.Payload, []byte("autonomous"), []byte("approve"), 1)
		},
			check(now, 0), protocol.ErrBundleSignature, "signature does not verify"},
		{"another key", nil, protocol.BundleCheck{Key: ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey), Client: "acme", Now: now},
			protocol.ErrBundleSignature, "signed by another control plane"},
		{"another client", nil, protocol.BundleCheck{Key: testKey().Public().(ed25519.PublicKey), Client: "globex", Now: now},
			protocol.ErrBundleClient, `bundle names "acme", this site serves "globex"`},
		{"expired", nil, check(issued.Add(49*time.Hour), 0), protocol.ErrBundleExpired, "fetch a fresh one"},
		{"rollback", nil, check(now, 5), protocol.ErrBundleRollback, "offered v5, in use v5"},
		{"older", nil, check(now, 9), protocol.ErrBundleRollback, "offered v5, in use v9"},
		{"payload of another client", func(t *testing.T, b *pb.ScopeBundle) {
			b.Payload = bytes.Replace(b.Payload, []byte(`"client": "acme"`), []byte(`"client": "globex"`), 1)
			resign(t, b)
		}, check(now, 0), protocol.ErrBundleMalformed, `payload is the scope of client "globex"`},
		{"validity beyond the scope's", func(t *testing.T, b *pb.ScopeBundle) {
			b.ExpiresAt = timestamppb.New(issued.Add(30 * 24 * time.Hour))
			resign(t, b)
		}, check(now, 0), protocol.ErrBundleMalformed, "the scope allows at most 2d offline"},
		{"payload that does not compile", func(t *testing.T, b *pb.ScopeBundle) {
			b.Payload = bytes.Replace(b.Payload, []byte(`"mode": "shadow"`), []byte(`"mode": "reckless"`), 1)
			resign(t, b)
		}, check(now, 0), ErrInvalidScope, `bundle payload:`},
		{"payload with an unknown key", func(t *testing.T, b *pb.ScopeBundle) {
			b.Payload = bytes.Replace(b.Payload, []byte(`"client": "acme",`), []byte(`"client": "acme", "superuser": true,`), 1)
			resign(t, b)
		}, check(now, 0), ErrInvalidScope, `unknown field "superuser"`},
		{"empty", func(_ *testing.T, b *pb.ScopeBundle) { proto.Reset(b) }, check(now, 0), protocol.ErrBundleMalformed, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := fresh(t)
			if tt.mod != nil {
				tt.mod(t, b)
			}
			s, err := Verify(b, tt.check)
			if s != nil || !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Verify = %v, %v; want %v containing %q", s, err, tt.is, tt.want)
			}
		})
	}
	if _, err := NewBundle(nil, 1, issued, testKey()); err == nil {
		t.Fatal("NewBundle(nil) succeeded")
	}
	if _, err := NewBundle(s, 1, issued, ed25519.PrivateKey{1}); err == nil {
		t.Fatal("NewBundle with a bad key succeeded")
	}
	if _, err := NewBundle(s, 0, issued, testKey()); !errors.Is(err, protocol.ErrBundleMalformed) {
		t.Fatalf("NewBundle v0: %v", err)
	}
}

// TestBundleGolden pins the canonical bytes and the signed bundle of the
// reference packs: a change to either breaks runners in the field, so it
// must be deliberate (go test -run TestBundleGolden -update).
func TestBundleGolden(t *testing.T) {
	s := mustCompile(t, "packs")
	b, err := NewBundle(s, 1, issued, testKey())
	if err != nil {
		t.Fatal(err)
	}
	wire, err := proto.MarshalOptions{Deterministic: true}.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []struct {
		path string
		data []byte
	}{{filepath.Join("testdata", "packs.canonical.json"), s.Canonical()}, {filepath.Join("testdata", "bundle", "packs-v1.pb"), wire}} {
		if *update {
			if err := os.MkdirAll(filepath.Dir(g.path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(g.path, g.data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(g.path)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if !bytes.Equal(want, g.data) {
			t.Fatalf("%s changed; if deliberate, run go test -run TestBundleGolden -update", g.path)
		}
	}
}
