package enroll

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/store"
)

func TestCreateFleetToken(t *testing.T) {
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "cp.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ca, err := LoadOrCreateCA(t.TempDir(), now)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := CreateFleetToken(context.Background(), st, ca, "127.0.0.1:7443", "msp", "acme", 40, 720*time.Hour, now)
	if err != nil || !tok.Fleet || tok.Site != "" || tok.Client != "acme" {
		t.Fatalf("CreateFleetToken = %+v, %v", tok, err)
	}
	got, err := st.TokenByHash(context.Background(), SecretHash(tok.Secret))
	if err != nil || !got.Fleet || got.MaxUses != 40 || got.Tenant != "msp" || got.ID() != TokenID(tok) {
		t.Errorf("stored fleet token = %+v, %v", got, err)
	}
	for name, f := range map[string]func() error{
		"0 uses": func() error {
			_, err := CreateFleetToken(context.Background(), st, ca, "a:1", "msp", "acme", 0, time.Hour, now)
			return err
		},
		"10001 uses": func() error {
			_, err := CreateFleetToken(context.Background(), st, ca, "a:1", "msp", "acme", 10001, time.Hour, now)
			return err
		},
		"ttl > 30d": func() error {
			_, err := CreateFleetToken(context.Background(), st, ca, "a:1", "msp", "acme", 2, 721*time.Hour, now)
			return err
		},
		"bad client": func() error {
			_, err := CreateFleetToken(context.Background(), st, ca, "a:1", "msp", "a/b", 2, time.Hour, now)
			return err
		},
		"no address": func() error {
			_, err := CreateFleetToken(context.Background(), st, ca, "", "msp", "acme", 2, time.Hour, now)
			return err
		},
	} {
		if f() == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

// TestEnrollFleetNeedsSiteName posts to the enrollment handler as a runner
// that predates fleet tokens (no site) and as one with an invalid name:
// both are refused with what to do, and nothing is enrolled.
func TestEnrollFleetNeedsSiteName(t *testing.T) {
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "cp.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ca, err := LoadOrCreateCA(t.TempDir(), now)
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	var logs bytes.Buffer
	srv, err := NewServer(Config{Tenant: "msp", CertValidity: time.Hour}, st, ca, pub, slog.New(slog.NewJSONHandler(&logs, nil)), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	tok, err := CreateFleetToken(context.Background(), st, ca, "127.0.0.1:7443", "msp", "acme", 2, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	post := func(site string) (int, ErrorResponse) {
		b, _ := json.Marshal(Request{TokenSecret: tok.Secret, CSR: csr, AuditKey: pub, Site: site})
		resp, err := http.Post(hs.URL+PathEnroll, "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var er ErrorResponse
		_ = json.NewDecoder(resp.Body).Decode(&er)
		return resp.StatusCode, er
	}
	if code, er := post(""); code != http.StatusBadRequest || er.Code != CodeSiteName || !strings.Contains(er.Error, "upgrade the runner") {
		t.Errorf("no site: %d %+v", code, er)
	}
	if code, er := post("my pc"); code != http.StatusBadRequest || er.Code != CodeSiteName || !strings.Contains(er.Error, "SITE_NAME") {
		t.Errorf("invalid site: %d %+v", code, er)
	}
	if sites, _ := st.Sites(context.Background(), "acme"); len(sites) != 0 {
		t.Errorf("refused requests enrolled %+v", sites)
	}
	if code, er := post("pc1"); code != http.StatusOK {
		t.Errorf("valid site: %d %+v", code, er)
	}
	if !strings.Contains(logs.String(), TokenID(tok)) || strings.Contains(logs.String(), SecretHash(tok.Secret)) {
		t.Errorf("log must name the token by ID only: %s", logs.String())
	}
}
