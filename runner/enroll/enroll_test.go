package enroll

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRenewDue(t *testing.T) {
	nb := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	na := nb.Add(90 * time.Hour)
	for _, tt := range []struct {
		at   time.Duration
		want bool
	}{{0, false}, {59 * time.Hour, false}, {61 * time.Hour, true}, {100 * time.Hour, true}} {
		if got := RenewDue(nb, na, nb.Add(tt.at)); got != tt.want {
			t.Errorf("RenewDue at +%s = %v, want %v", tt.at, got, tt.want)
		}
	}
}

func selfSigned(t *testing.T, ca bool, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "x"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), BasicConstraintsValid: true, IsCA: ca,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key
}

func TestVerifyPinned(t *testing.T) {
	ca, caKey := selfSigned(t, true, nil, nil)
	leaf, _ := selfSigned(t, false, ca, caKey)
	other, otherKey := selfSigned(t, true, nil, nil)
	otherLeaf, _ := selfSigned(t, false, other, otherKey)
	pin := PinOf(ca)
	if err := verifyPinned([]*x509.Certificate{leaf, ca}, "127.0.0.1", pin); err != nil {
		t.Errorf("good chain: %v", err)
	}
	for name, chain := range map[string][]*x509.Certificate{
		"empty":                             nil,
		"leaf only":                         {leaf},
		"other CA":                          {otherLeaf, other},
		"leaf of other, pinned CA appended": {otherLeaf, ca},
	} {
		if err := verifyPinned(chain, "127.0.0.1", pin); !errors.Is(err, ErrWrongCA) {
			t.Errorf("%s: %v, want ErrWrongCA", name, err)
		}
	}
	if err := verifyPinned([]*x509.Certificate{leaf, ca}, "cp.example", pin); !errors.Is(err, ErrWrongCA) {
		t.Errorf("wrong host: %v, want ErrWrongCA", err)
	}
}

func TestLoadNotEnrolled(t *testing.T) {
	if _, err := Load(t.TempDir()); !errors.Is(err, ErrNotEnrolled) {
		t.Errorf("Load(empty) = %v, want ErrNotEnrolled", err)
	}
}

func TestLoadOrCreateAuditKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	a, err := LoadOrCreateAuditKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, AuditKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("%s mode = %04o, want 0600", AuditKeyFile, fi.Mode().Perm())
	}
	b, err := LoadOrCreateAuditKey(dir)
	if err != nil || !a.Equal(b) {
		t.Fatalf("second load returned another key (%v)", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, AuditKeyFile+".tmp-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestAuditKeyFormat: the file is the raw 32-byte seed, the format the
// runner has always kept in audit.key.
func TestAuditKeyFormat(t *testing.T) {
	dir := t.TempDir()
	seed := bytes.Repeat([]byte{9}, ed25519.SeedSize)
	if err := os.WriteFile(filepath.Join(dir, AuditKeyFile), seed, 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := LoadOrCreateAuditKey(dir)
	if err != nil || !k.Equal(ed25519.NewKeyFromSeed(seed)) {
		t.Fatalf("existing seed file: %v, or another key", err)
	}
	dir = t.TempDir()
	k, err = LoadOrCreateAuditKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if raw, _ := os.ReadFile(filepath.Join(dir, AuditKeyFile)); !bytes.Equal(raw, k.Seed()) {
		t.Errorf("created file holds %d bytes, want the key's 32-byte seed", len(raw))
	}
}

// TestLoadOrCreateAuditKeyRace: concurrent first starts agree on one key.
func TestLoadOrCreateAuditKeyRace(t *testing.T) {
	dir := t.TempDir()
	keys := make([]ed25519.PrivateKey, 8)
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys[i], errs[i] = LoadOrCreateAuditKey(dir)
		}()
	}
	wg.Wait()
	for i := range keys {
		if errs[i] != nil || !keys[i].Equal(keys[0]) {
			t.Fatalf("caller %d: %v, or a different key", i, errs[i])
		}
	}
}

func TestLoadAuditKeyRefuses(t *testing.T) {
	for name, content := range map[string][]byte{
		"empty":      {},
		"short":      make([]byte, ed25519.SeedSize-1),
		"long":       make([]byte, ed25519.SeedSize+1),
		"pem or hex": []byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI...\n-----END PRIVATE KEY-----\n"),
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, AuditKeyFile), content, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadOrCreateAuditKey(dir); !errors.Is(err, ErrBadAuditKey) {
			t.Errorf("%s: %v, want ErrBadAuditKey", name, err)
		}
		if got, _ := os.ReadFile(filepath.Join(dir, AuditKeyFile)); string(got) != string(content) {
			t.Errorf("%s: the bad key file was overwritten", name)
		}
	}
	if runtime.GOOS != "windows" {
		dir := t.TempDir()
		if _, err := LoadOrCreateAuditKey(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(dir, AuditKeyFile), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadOrCreateAuditKey(dir); !errors.Is(err, ErrBadAuditKey) || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("world-readable key: %v, want ErrBadAuditKey saying chmod 600", err)
		}
	}
}

func TestRenewAddresses(t *testing.T) {
	tests := []struct {
		addrs    []string
		enrolled string
		want     []string
	}{
		{nil, "a:1", []string{"a:1"}},
		{[]string{"b:1", "", "c:1", "b:1"}, "a:1", []string{"b:1", "c:1", "a:1"}},
		{[]string{"a:1", "b:1"}, "a:1", []string{"a:1", "b:1"}},
	}
	for _, tt := range tests {
		if got := renewAddresses(tt.addrs, tt.enrolled); !slices.Equal(got, tt.want) {
			t.Errorf("renewAddresses(%q, %q) = %q, want %q", tt.addrs, tt.enrolled, got, tt.want)
		}
	}
}
