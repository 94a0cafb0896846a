package store_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/control-plane/store/pgtest"
)

// tokenSitesStore is what testTokenSites needs of either engine.
type tokenSitesStore interface {
	store.Store
	TokenSites(ctx context.Context, client string, perToken int) (map[string][]store.TokenSite, error)
}

// testTokenSites: the sites a fleet token enrolled are listed per token,
// newest first and at most perToken; another client's enrollments and
// tokens that enrolled nothing are absent.
func testTokenSites(t *testing.T, s tokenSitesStore) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	hashes := map[string]string{
		"acme":   "a1ee70000000000000000000000000000000000000000000000000000000000a",
		"globex": "b1ee70000000000000000000000000000000000000000000000000000000000b",
	}
	idle := "c1ee70000000000000000000000000000000000000000000000000000000000c"
	for client, h := range hashes {
		for _, hash := range []string{h, idle} {
			if client == "globex" && hash == idle {
				continue
			}
			if err := s.CreateToken(ctx, store.Token{Hash: hash, Identity: store.Identity{Tenant: "msp", Client: client}, Fleet: true,
				MaxUses: 10, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	enroll := func(client, site string, at time.Time) {
		t.Helper()
		st := store.Site{Identity: store.Identity{Tenant: "msp", Client: client, Site: site}, CertSerial: "s-" + site, EnrolledAt: at, AuditKey: make([]byte, 32)}
		if _, err := s.EnrollFleetSite(ctx, hashes[client], st, at); err != nil {
			t.Fatal(err)
		}
	}
	for i, site := range []string{"pc1", "pc2", "pc3"} {
		enroll("acme", site, t0.Add(time.Duration(i+1)*time.Minute))
	}
	enroll("globex", "gx1", t0.Add(time.Minute))

	got, err := s.TokenSites(ctx, "acme", 2)
	if err != nil {
		t.Fatal(err)
	}
	id := store.TokenID(hashes["acme"])
	if len(got) != 1 || len(got[id]) != 2 || got[id][0].Site != "pc3" || got[id][1].Site != "pc2" ||
		!got[id][0].EnrolledAt.Equal(t0.Add(3*time.Minute)) || got[id][0].TokenID != id {
		t.Errorf("TokenSites(acme, 2) = %+v, want pc3 then pc2 under %s only", got, id)
	}
	if got, err := s.TokenSites(ctx, "acme", 0); err != nil || len(got[id]) != 3 {
		t.Errorf("TokenSites(acme, default) = %+v, %v, want 3 sites", got, err)
	}
	if got, err := s.TokenSites(ctx, "globex", 5); err != nil || len(got) != 1 || len(got[store.TokenID(hashes["globex"])]) != 1 {
		t.Errorf("TokenSites(globex) = %+v, %v, want gx1 only", got, err)
	}
	if got, err := s.TokenSites(ctx, "initech", 5); err != nil || len(got) != 0 {
		t.Errorf("TokenSites(initech) = %+v, %v, want none", got, err)
	}
	if _, err := s.TokenSites(ctx, "", 5); err == nil {
		t.Error("TokenSites without a client succeeded")
	}
}

func TestTokenSitesSQLite(t *testing.T) {
	s, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "cp.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	testTokenSites(t, s)
}

func TestTokenSitesPostgres(t *testing.T) {
	s := openPG(t, pgtest.Start(t, pgtest.Options{}).CreateDatabase(t))
	defer s.Close()
	testTokenSites(t, s)
}
