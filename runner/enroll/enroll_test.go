package enroll

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestDecodeTokenSeed(t *testing.T) {
	b, err := os.ReadFile("testdata/tokens/valid.txt")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := DecodeToken(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Address != "127.0.0.1:7443" || tok.Client != "acme" || tok.Site != "hq" || len(tok.Secret) != 32 || tok.Secret[31] != 31 ||
		!tok.Expires.Equal(time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("DecodeToken = %+v", tok)
	}
	for _, s := range []string{"", "swt1_", "swt1_%%", "swt2_abc"} {
		if _, err := DecodeToken(s); !errors.Is(err, ErrMalformedToken) {
			t.Errorf("DecodeToken(%q) = %v, want ErrMalformedToken", s, err)
		}
	}
}

func FuzzDecodeToken(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/tokens/*.txt")
	if len(seeds) == 0 {
		f.Fatal("no seeds in testdata/tokens")
	}
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := DecodeToken(s)
		if err == nil && (len(tok.Secret) != 32 || tok.Address == "") {
			t.Fatalf("accepted a token without a 32-byte secret and an address: %+v", tok)
		}
	})
}

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
