package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/store"
)

// fleetHash is a fleet token's hash in these tests (64 hex digits, as
// control-plane/enroll makes them).
const fleetHash = "f1ee70000000000000000000000000000000000000000000000000000000000a"

func fleetSite(name string, at time.Time) store.Site {
	return store.Site{Identity: store.Identity{Tenant: "msp", Client: "acme", Site: name}, CertSerial: "s-" + name,
		CertNotAfter: at.Add(90 * 24 * time.Hour), EnrolledAt: at, AuditKey: make([]byte, 32)}
}

func createFleet(t *testing.T, s store.Store, hash string, uses int, ttl time.Duration) {
	t.Helper()
	if err := s.CreateToken(ctx(t), store.Token{Hash: hash, Identity: store.Identity{Tenant: "msp", Client: "acme"}, Fleet: true,
		MaxUses: uses, CreatedAt: t0, ExpiresAt: t0.Add(ttl)}); err != nil {
		t.Fatal(err)
	}
}

// testFleetTokens: a fleet token enrolls new sites up to its uses, never an
// existing site, not after expiry or revocation; one-site tokens are
// revocable too; the token list and the site's enrollment show it.
func testFleetTokens(t *testing.T, s store.Store) {
	c := ctx(t)
	for name, bad := range map[string]store.Token{
		"fleet with site":  {Hash: "x1", Identity: siteA1, Fleet: true, MaxUses: 2, ExpiresAt: t0},
		"zero uses":        {Hash: "x2", Identity: store.Identity{Tenant: "msp", Client: "acme"}, Fleet: true, ExpiresAt: t0},
		"too many uses":    {Hash: "x3", Identity: store.Identity{Tenant: "msp", Client: "acme"}, Fleet: true, MaxUses: store.MaxFleetUses + 1, ExpiresAt: t0},
		"one-site no site": {Hash: "x4", Identity: store.Identity{Tenant: "msp", Client: "acme"}, ExpiresAt: t0},
	} {
		if err := s.CreateToken(c, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("CreateToken(%s) = %v, want ErrInvalid", name, err)
		}
	}
	createFleet(t, s, fleetHash, 2, time.Hour)
	if _, err := s.ConsumeToken(c, fleetHash, t0); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("ConsumeToken(fleet token) = %v, want ErrInvalid", err)
	}
	at := t0.Add(time.Minute)
	tok, err := s.EnrollFleetSite(c, fleetHash, fleetSite("pc1", at), at)
	if err != nil || tok.Uses != 1 || tok.MaxUses != 2 || !tok.Fleet || tok.ID() != store.TokenID(fleetHash) {
		t.Fatalf("first fleet enrollment = %+v, %v", tok, err)
	}
	if got, err := s.Site(c, "acme", "pc1"); err != nil || got.CertSerial != "s-pc1" || len(got.AuditKey) != 32 {
		t.Errorf("enrolled site = %+v, %v", got, err)
	}
	// An existing site, enrolled by this token or any other way, is refused
	// and the use is not counted.
	if err := s.UpsertSite(c, store.Site{Identity: store.Identity{Tenant: "msp", Client: "acme", Site: "server"}, CertSerial: "old", EnrolledAt: t0}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"pc1", "server"} {
		if _, err := s.EnrollFleetSite(c, fleetHash, fleetSite(name, at), at); !errors.Is(err, store.ErrSiteExists) {
			t.Errorf("fleet enrollment of existing %s = %v, want ErrSiteExists", name, err)
		}
	}
	if got, _ := s.Site(c, "acme", "server"); got.CertSerial != "old" {
		t.Errorf("refused enrollment changed the existing site: %+v", got)
	}
	other := fleetSite("pc9", at)
	other.Client = "globex"
	if _, err := s.EnrollFleetSite(c, fleetHash, other, at); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("fleet enrollment for another client = %v, want ErrInvalid", err)
	}
	if tok, err = s.EnrollFleetSite(c, fleetHash, fleetSite("pc2", at), at); err != nil || tok.Uses != 2 {
		t.Fatalf("second fleet enrollment = %+v, %v", tok, err)
	}
	if _, err := s.EnrollFleetSite(c, fleetHash, fleetSite("pc3", at), at); !errors.Is(err, store.ErrTokenExhausted) {
		t.Errorf("third enrollment of a 2-use token = %v, want ErrTokenExhausted", err)
	}
	if _, err := s.Site(c, "acme", "pc3"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("refused site pc3 exists: %v", err)
	}

	// Expiry and revocation.
	const expHash, revHash = "e0000000000000000000000000000000000000000000000000000000000000e1", "a0000000000000000000000000000000000000000000000000000000000000a1"
	createFleet(t, s, expHash, 5, time.Hour)
	if _, err := s.EnrollFleetSite(c, expHash, fleetSite("late", t0.Add(time.Hour)), t0.Add(time.Hour)); !errors.Is(err, store.ErrTokenExpired) {
		t.Errorf("enrollment at expiry = %v, want ErrTokenExpired", err)
	}
	createFleet(t, s, revHash, 5, time.Hour)
	if _, err := s.RevokeToken(c, "acme", "nothex", at); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("RevokeToken(bad id) = %v, want ErrInvalid", err)
	}
	if _, err := s.RevokeToken(c, "globex", store.TokenID(revHash), at); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RevokeToken(other client's token) = %v, want ErrNotFound", err)
	}
	rt, err := s.RevokeToken(c, "acme", store.TokenID(revHash), at)
	if err != nil || !rt.RevokedAt.Equal(at) {
		t.Fatalf("RevokeToken = %+v, %v", rt, err)
	}
	if rt, err = s.RevokeToken(c, "acme", store.TokenID(revHash), at.Add(time.Minute)); err != nil || !rt.RevokedAt.Equal(at) {
		t.Errorf("second RevokeToken = %+v, %v; want the first revocation time kept", rt, err)
	}
	if _, err := s.EnrollFleetSite(c, revHash, fleetSite("pc4", at), at); !errors.Is(err, store.ErrTokenRevoked) {
		t.Errorf("enrollment with a revoked token = %v, want ErrTokenRevoked", err)
	}
	const oneHash = "0000000000000000000000000000000000000000000000000000000000000001"
	if err := s.CreateToken(c, store.Token{Hash: oneHash, Identity: siteA2, CreatedAt: t0.Add(time.Second), ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EnrollFleetSite(c, oneHash, fleetSite("pc5", at), at); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("EnrollFleetSite(one-site token) = %v, want ErrInvalid", err)
	}
	if _, err := s.RevokeToken(c, "acme", store.TokenID(oneHash), at); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConsumeToken(c, oneHash, at); !errors.Is(err, store.ErrTokenRevoked) {
		t.Errorf("ConsumeToken(revoked) = %v, want ErrTokenRevoked", err)
	}

	toks, err := s.Tokens(c, "acme", 10)
	if err != nil || len(toks) != 4 {
		t.Fatalf("Tokens(acme) = %d tokens, %v; want 4", len(toks), err)
	}
	if toks[0].Hash != oneHash {
		t.Errorf("Tokens not newest first: %+v", toks[0])
	}
	for _, tk := range toks {
		if tk.Hash == fleetHash && (tk.Uses != 2 || tk.MaxUses != 2 || !tk.Fleet || tk.Site != "") {
			t.Errorf("listed fleet token = %+v", tk)
		}
	}
	en, err := s.SiteEnrollment(c, "acme", "pc2")
	if err != nil || en.ID != store.TokenID(fleetHash) || !en.Fleet || !en.UsedAt.Equal(at) || en.Uses != 2 {
		t.Errorf("SiteEnrollment(pc2) = %+v, %v", en, err)
	}
	if _, err := s.SiteEnrollment(c, "acme", "server"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SiteEnrollment(site enrolled without a token) = %v, want ErrNotFound", err)
	}
	// A one-site token's enrollment is recorded too.
	const hqHash = "0000000000000000000000000000000000000000000000000000000000000002"
	if err := s.CreateToken(c, store.Token{Hash: hqHash, Identity: siteA1, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConsumeToken(c, hqHash, at); err != nil {
		t.Fatal(err)
	}
	if en, err := s.SiteEnrollment(c, "acme", "hq"); err != nil || en.ID != store.TokenID(hqHash) || en.Fleet {
		t.Errorf("SiteEnrollment(hq) = %+v, %v", en, err)
	}
}

// testFleetRace: many concurrent enrollments with one token on one store
// enroll exactly its uses.
func testFleetRace(t *testing.T, s store.Store) {
	createFleet(t, s, fleetHash, 5, time.Hour)
	if won := FleetRace(t, []store.Store{s}, fleetHash, 20); won != 5 {
		t.Errorf("%d of 20 concurrent enrollments with a 5-use token succeeded, want 5", won)
	}
}

// FleetRace enrolls n sites named race-0 .. race-(n-1) with the fleet token
// of hash (client acme, tenant msp) concurrently, spreading the calls over
// stores (replicas sharing one database), and returns how many succeeded.
// Every failure must be ErrTokenExhausted.
func FleetRace(t *testing.T, stores []store.Store, hash string, n int) int {
	t.Helper()
	c := ctx(t)
	at := t0.Add(time.Minute)
	won := raceWins(t, n, store.ErrTokenExhausted, "concurrent fleet enrollment", func(i int) error {
		_, err := stores[i%len(stores)].EnrollFleetSite(c, hash, fleetSite(fmt.Sprintf("race-%d", i), at), at)
		return err
	})
	sites, err := stores[0].Sites(c, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(sites) != won {
		t.Errorf("%d sites enrolled, but %d enrollments succeeded", len(sites), won)
	}
	tok, err := stores[0].TokenByHash(c, hash)
	if err != nil || tok.Uses != won {
		t.Errorf("token after the race = %+v, %v; want %d uses", tok, err, won)
	}
	return won
}

// CreateFleetToken stores a fleet token with hash for client acme (tenant
// msp) allowing uses enrollments for an hour from the suite's clock.
func CreateFleetToken(t *testing.T, s store.Store, hash string, uses int) {
	t.Helper()
	createFleet(t, s, hash, uses, time.Hour)
}
