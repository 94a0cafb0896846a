package enroll

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/store"
)

var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func TestIdentityRoundTripAndNames(t *testing.T) {
	ca, err := LoadOrCreateCA(t.TempDir(), now)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	id := store.Identity{Tenant: "msp", Client: "acme", Site: "hq-1"}
	cert, err := ca.SignSite(csr, id, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got, err := IdentityFromCert(cert)
	if err != nil || got != id {
		t.Errorf("IdentityFromCert = %+v, %v", got, err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("site cert does not verify: %v", err)
	}
	for _, bad := range []string{"", "a/b", "a b", "ü", string(make([]byte, 64))} {
		if _, err := ca.SignSite(csr, store.Identity{Tenant: "msp", Client: bad, Site: "hq"}, now, time.Hour); !errors.Is(err, ErrNoIdentity) {
			t.Errorf("client %q: %v, want ErrNoIdentity", bad, err)
		}
	}
	if _, err := ca.SignSite([]byte("junk"), id, now, time.Hour); !errors.Is(err, ErrBadCSR) {
		t.Errorf("junk CSR: %v, want ErrBadCSR", err)
	}
}

func TestCAPersists(t *testing.T) {
	dir := t.TempDir()
	a, err := LoadOrCreateCA(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreateCA(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if a.Pin() != b.Pin() {
		t.Error("reloading the CA changed its pin")
	}
	if fi, err := os.Stat(filepath.Join(dir, caKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("CA key mode = %v, %v", fi.Mode(), err)
	}
	if err := os.Remove(filepath.Join(dir, caKeyFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateCA(dir, now); err == nil {
		t.Error("a CA certificate without its key loaded")
	}
}

func TestCreateTokenStoresOnlyTheHash(t *testing.T) {
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "cp.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ca, err := LoadOrCreateCA(t.TempDir(), now)
	if err != nil {
		t.Fatal(err)
	}
	id := store.Identity{Tenant: "msp", Client: "acme", Site: "hq"}
	tok, err := CreateToken(context.Background(), st, ca, "127.0.0.1:7443", id, 24*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Pin != ca.Pin() || !tok.Expires.Equal(now.Add(24*time.Hour)) {
		t.Errorf("token = %+v", tok)
	}
	got, err := st.ConsumeToken(context.Background(), SecretHash(tok.Secret), now)
	if err != nil || got.Identity != id {
		t.Errorf("stored token = %+v, %v", got, err)
	}
	for _, ttl := range []time.Duration{0, -time.Hour, 800 * time.Hour} {
		if _, err := CreateToken(context.Background(), st, ca, "a:1", id, ttl, now); err == nil {
			t.Errorf("ttl %s accepted", ttl)
		}
	}
}
