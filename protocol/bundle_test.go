package protocol

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

func testKey(seed byte) ed25519.PrivateKey {
	s := make([]byte, ed25519.SeedSize)
	s[0] = seed
	return ed25519.NewKeyFromSeed(s)
}

func signedBundle(t *testing.T, priv ed25519.PrivateKey) *pb.ScopeBundle {
	t.Helper()
	issued := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	b := &pb.ScopeBundle{
		ClientId: "acme", Version: 5, Payload: []byte("kind: Scope\n"),
		IssuedAt: timestamppb.New(issued), ExpiresAt: timestamppb.New(issued.Add(7 * 24 * time.Hour)),
	}
	if err := SignBundle(priv, b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifyBundle(t *testing.T) {
	priv := testKey(1)
	pub := priv.Public().(ed25519.PublicKey)
	now := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	ok := BundleCheck{Key: pub, Client: "acme", InUse: 4, Now: now}
	tests := []struct {
		name   string
		mutate func(*pb.ScopeBundle)
		check  func(*BundleCheck)
		want   error
		hint   string
	}{
		{name: "valid"},
		{name: "payload altered", mutate: func(b *pb.ScopeBundle) { b.Payload = []byte("kind: Scope\nextra: 1\n") }, want: ErrBundleSignature, hint: "altered"},
		{name: "version altered", mutate: func(b *pb.ScopeBundle) { b.Version = 6 }, want: ErrBundleSignature},
		{name: "expiry extended", mutate: func(b *pb.ScopeBundle) { b.ExpiresAt = timestamppb.New(now.Add(365 * 24 * time.Hour)) }, want: ErrBundleSignature},
		{name: "client altered", mutate: func(b *pb.ScopeBundle) { b.ClientId = "globex" }, want: ErrBundleSignature},
		{name: "other key", mutate: func(b *pb.ScopeBundle) { _ = SignBundle(testKey(2), b) }, want: ErrBundleSignature},
		{name: "no key configured", check: func(c *BundleCheck) { c.Key = nil }, want: ErrBundleSignature},
		{name: "wrong client", check: func(c *BundleCheck) { c.Client = "globex" }, want: ErrBundleClient, hint: "this site serves"},
		{name: "expired", check: func(c *BundleCheck) { c.Now = now.Add(30 * 24 * time.Hour) }, want: ErrBundleExpired, hint: "fetch a fresh one"},
		{name: "exactly at expiry", check: func(c *BundleCheck) { c.Now = time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC) }, want: ErrBundleExpired},
		{name: "same version", check: func(c *BundleCheck) { c.InUse = 5 }, want: ErrBundleRollback},
		{name: "rollback", check: func(c *BundleCheck) { c.InUse = 9 }, want: ErrBundleRollback, hint: "in use v9"},
		{name: "version zero", mutate: func(b *pb.ScopeBundle) { b.Version = 0 }, want: ErrBundleMalformed},
		{name: "no times", mutate: func(b *pb.ScopeBundle) { b.IssuedAt = nil }, want: ErrBundleMalformed},
		{name: "expires before issued", mutate: func(b *pb.ScopeBundle) { b.ExpiresAt, b.IssuedAt = b.IssuedAt, b.ExpiresAt }, want: ErrBundleMalformed},
		{name: "oversize payload", mutate: func(b *pb.ScopeBundle) { b.Payload = make([]byte, MaxBundlePayload+1) }, want: ErrBundleMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := signedBundle(t, priv)
			if tt.mutate != nil {
				tt.mutate(b)
			}
			c := ok
			if tt.check != nil {
				tt.check(&c)
			}
			err := VerifyBundle(b, c)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("VerifyBundle() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("VerifyBundle() = %v, want %v", err, tt.want)
			}
			if tt.hint != "" && !strings.Contains(err.Error(), tt.hint) {
				t.Errorf("error %q lacks hint %q", err, tt.hint)
			}
		})
	}
}

func TestVerifyBundleSurvivesTheWire(t *testing.T) {
	priv := testKey(1)
	b := signedBundle(t, priv)
	raw, err := proto.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var got pb.ScopeBundle
	if err := proto.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	err = VerifyBundle(&got, BundleCheck{Key: priv.Public().(ed25519.PublicKey), Client: "acme", Now: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
}

// FuzzVerifyBundle decodes arbitrary bytes as a bundle and verifies it: it
// must never panic, and must never accept a bundle it did not sign.
func FuzzVerifyBundle(f *testing.F) {
	seedGolden(f, true, FrameScopeBundle)
	priv := testKey(1)
	pub := priv.Public().(ed25519.PublicKey)
	f.Fuzz(func(t *testing.T, raw []byte) {
		var b pb.ScopeBundle
		if proto.Unmarshal(raw, &b) != nil {
			return
		}
		err := VerifyBundle(&b, BundleCheck{Key: pub, Client: b.GetClientId(), Now: b.GetIssuedAt().AsTime()})
		if err == nil {
			t.Fatalf("accepted a bundle the test key never signed: %v", &b)
		}
	})
}
