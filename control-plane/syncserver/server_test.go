package syncserver

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/enroll"
	"github.com/sitewarden/sitewarden/control-plane/store"
)

// TestWithoutRoots: the QUIC listener sends the leaf (and any
// intermediate) but not the self-signed CA runners already pinned.
func TestWithoutRoots(t *testing.T) {
	ca, err := enroll.LoadOrCreateCA(t.TempDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.ServerCert([]string{"127.0.0.1"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(cert.Certificate) != 2 {
		t.Fatalf("ServerCert chain has %d certificates, want leaf and CA", len(cert.Certificate))
	}
	got := withoutRoots(cert)
	if len(got.Certificate) != 1 || string(got.Certificate[0]) != string(cert.Certificate[0]) {
		t.Fatalf("withoutRoots kept %d certificates, want the leaf only", len(got.Certificate))
	}
	if len(cert.Certificate) != 2 {
		t.Error("withoutRoots changed its argument's chain")
	}
	leaf, _ := x509.ParseCertificate(got.Certificate[0])
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "127.0.0.1"}); err != nil {
		t.Errorf("leaf alone does not verify against the pinned CA: %v", err)
	}
	if one := withoutRoots(tls.Certificate{Certificate: cert.Certificate[:1]}); len(one.Certificate) != 1 {
		t.Error("a leaf-only chain changed")
	}
}

// TestSeenCoalesces: records queue at most one per site, the newest.
func TestSeenCoalesces(t *testing.T) {
	s := newSeen()
	a := store.Identity{Tenant: "msp", Client: "acme", Site: "hq"}
	b := store.Identity{Tenant: "msp", Client: "acme", Site: "branch"}
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for i := range 100 {
		s.record(a, seenRecord{at: t0.Add(time.Duration(i) * time.Second), runnerVersion: "v"})
	}
	s.record(b, seenRecord{at: t0})
	got := s.take()
	if len(got) != 2 || !got[a].at.Equal(t0.Add(99*time.Second)) {
		t.Errorf("take = %v, want two records, hq's the newest", got)
	}
	if again := s.take(); again != nil {
		t.Errorf("second take = %v, want nothing", again)
	}
}
