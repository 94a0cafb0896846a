package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/store"
)

// testConfig uses cheap argon2 parameters so the tests stay fast.
func testConfig() Config {
	c := DefaultConfig()
	c.Argon2 = Argon2{Memory: 64, Time: 1, Threads: 1}
	c.MaxFailures = 3
	return c
}

func newService(t *testing.T, now func() time.Time) (*Service, *store.SQLite, *bytes.Buffer) {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "cp.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var logs bytes.Buffer
	s, err := New(testConfig(), st, slog.New(slog.NewJSONHandler(&logs, nil)), now)
	if err != nil {
		t.Fatal(err)
	}
	return s, st, &logs
}

func TestPasswordRoundTrip(t *testing.T) {
	h, err := HashPassword(DefaultArgon2(), "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q is not argon2id PHC with the default parameters", h)
	}
	for pw, want := range map[string]bool{"correct horse battery": true, "correct horse batterY": false, "": false} {
		if ok, err := VerifyPassword(h, pw); err != nil || ok != want {
			t.Errorf("VerifyPassword(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=19$m=0,t=1,p=1$AA$AA", "$argon2id$v=19$m=64,t=1,p=1$!!$AA"} {
		if _, err := VerifyPassword(bad, "x"); err == nil {
			t.Errorf("VerifyPassword(%q) accepted a malformed hash", bad)
		}
	}
}

func TestLimiterBoundedMemory(t *testing.T) {
	l := newLimiter(2, time.Minute, 3)
	t0 := time.Unix(0, 0)
	for _, k := range []string{"a", "b", "c", "d"} {
		l.fail(k, t0)
	}
	if n := l.size(); n != 3 {
		t.Fatalf("limiter holds %d keys, want at most 3", n)
	}
	if l.allow("e", t0) {
		t.Error("a new key was allowed while the table is full of live windows (must fail closed)")
	}
	l.fail("a", t0)
	if l.allow("a", t0) {
		t.Error("key with 2 failures allowed; limit is 2")
	}
	if !l.allow("e", t0.Add(time.Minute)) || !l.allow("a", t0.Add(time.Minute)) {
		t.Error("keys not allowed after the window ended")
	}
}

// TestBootstrapSharedKeepsPendingLink: replicas on one store must not void
// the setup link another replica printed; only an expired one is replaced.
func TestBootstrapSharedKeepsPendingLink(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	s, _, _ := newService(t, func() time.Time { return now })
	ctx := context.Background()
	first, err := s.BootstrapShared(ctx)
	if err != nil || !strings.HasPrefix(first, "admin.sws_") {
		t.Fatalf("first BootstrapShared = %q, %v; want a link", first, err)
	}
	if again, err := s.BootstrapShared(ctx); err != nil || again != "" {
		t.Fatalf("second replica's BootstrapShared = %q, %v; want nothing (link pending)", again, err)
	}
	now = now.Add(DefaultConfig().SetupTTL + time.Minute)
	renewed, err := s.BootstrapShared(ctx)
	if err != nil || renewed == "" || renewed == first {
		t.Fatalf("BootstrapShared after expiry = %q, %v; want a new link", renewed, err)
	}
	if _, err := s.CompleteSetup(ctx, renewed, "a long enough passphrase"); err != nil {
		t.Fatalf("renewed link: %v", err)
	}
}

func TestSetupLoginSessionCSRFAndTokens(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	s, _, logs := newService(t, func() time.Time { return now })
	ctx := context.Background()
	setup, err := s.Bootstrap(ctx)
	if err != nil || !strings.HasPrefix(setup, "admin.sws_") {
		t.Fatalf("Bootstrap = %q, %v", setup, err)
	}
	// A restart before setup issues a fresh link and voids the old one.
	old := setup
	if setup, err = s.Bootstrap(ctx); err != nil || setup == "" || setup == old {
		t.Fatalf("second Bootstrap before setup = %q, %v; want a new link", setup, err)
	}
	if _, err := s.CompleteSetup(ctx, old, "a long enough passphrase"); !errors.Is(err, ErrSetup) {
		t.Fatalf("replaced link: %v, want ErrSetup", err)
	}
	if _, _, _, err := s.Login(ctx, "admin", "", "10.0.0.1"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("login before setup: %v, want ErrBadCredentials", err)
	}
	if _, err := s.CompleteSetup(ctx, setup, "short"); !errors.Is(err, ErrWeakPassword) {
		t.Errorf("short password: %v", err)
	}
	const pw = "a long enough passphrase"
	if _, err := s.CompleteSetup(ctx, setup, pw); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CompleteSetup(ctx, setup, pw); !errors.Is(err, ErrSetup) {
		t.Errorf("reused setup link: %v, want ErrSetup", err)
	}
	if again, err := s.Bootstrap(ctx); err != nil || again != "" {
		t.Errorf("Bootstrap after setup = %q, %v; want nothing", again, err)
	}
	cookie, csrf, p, err := s.Login(ctx, "admin", pw, "10.0.0.1")
	if err != nil || p.Role != RoleAdmin {
		t.Fatalf("Login = %+v, %v", p, err)
	}
	req := func(method string, mod func(*http.Request)) (Principal, error) {
		r := httptest.NewRequest(method, "/api/v1/x", nil)
		mod(r)
		return s.Authenticate(r)
	}
	withCookie := func(r *http.Request) { r.AddCookie(&http.Cookie{Name: SessionCookie, Value: cookie}) }
	if p, err := req("GET", withCookie); err != nil || p.User != "admin" {
		t.Errorf("GET with session = %+v, %v", p, err)
	}
	if _, err := req("POST", withCookie); !errors.Is(err, ErrCSRF) {
		t.Errorf("POST with session, no CSRF: %v, want ErrCSRF", err)
	}
	if _, err := req("POST", func(r *http.Request) { withCookie(r); r.Header.Set(CSRFHeader, csrf) }); err != nil {
		t.Errorf("POST with session and CSRF: %v", err)
	}
	c := s.SessionCookie(cookie)
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode {
		t.Errorf("session cookie %+v lacks HttpOnly, Secure or SameSite=Strict", c)
	}
	tok, _, err := s.CreateAPIToken(ctx, "admin", "cli", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	bearer := func(v string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+v) }
	}
	if p, err := req("POST", bearer(tok)); err != nil || p.User != "admin" || p.Cookie {
		t.Errorf("POST with token = %+v, %v", p, err)
	}
	if _, err := req("GET", bearer(tok+"x")); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("wrong token: %v", err)
	}
	now = now.Add(2 * time.Hour)
	if _, err := req("GET", bearer(tok)); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("expired token: %v", err)
	}
	now = now.Add(12 * time.Hour)
	if _, err := req("GET", withCookie); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("expired session: %v", err)
	}
	for _, sec := range []string{pw, cookie, csrf, tok, strings.SplitN(setup, ".", 2)[1]} {
		if strings.Contains(logs.String(), sec) {
			t.Fatalf("a secret appears in the logs:\n%s", logs.String())
		}
	}
}

func TestLoginRateLimit(t *testing.T) {
	s, _, _ := newService(t, nil)
	ctx := context.Background()
	setup, _ := s.Bootstrap(ctx)
	const pw = "a long enough passphrase"
	if _, err := s.CompleteSetup(ctx, setup, pw); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, _, _, err := s.Login(ctx, "admin", "wrong password!", "10.0.0.1"); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	// Per (account, address): even the right password from that address is refused.
	if _, _, _, err := s.Login(ctx, "admin", pw, "10.0.0.1"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("after 3 failures: %v, want ErrRateLimited", err)
	}
	// Per IP: 12 failures over many accounts block the address.
	for i := range 12 {
		_, _, _, _ = s.Login(ctx, "nobody"+string(rune('a'+i)), "x", "10.0.0.9")
	}
	if _, _, _, err := s.Login(ctx, "someone-else", "x", "10.0.0.9"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("address after 12 failures: %v, want ErrRateLimited", err)
	}
}

// setupAdmin completes the admin's setup and returns its password.
func setupAdmin(t *testing.T, s *Service) string {
	t.Helper()
	ctx := context.Background()
	setup, err := s.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const pw = "a long enough passphrase"
	if _, err := s.CompleteSetup(ctx, setup, pw); err != nil {
		t.Fatal(err)
	}
	return pw
}

// TestLoginAttackerCannotLockOut: failures from other addresses, however
// many (below the account ceiling), must not stop the person logging in
// from theirs; the attacking addresses themselves are throttled.
func TestLoginAttackerCannotLockOut(t *testing.T) {
	s, _, _ := newService(t, nil)
	ctx := context.Background()
	pw := setupAdmin(t, s)
	for a := range 10 {
		ip := fmt.Sprintf("203.0.113.%d", a)
		for i := range 3 {
			if _, _, _, err := s.Login(ctx, "admin", "wrong password!", ip); !errors.Is(err, ErrBadCredentials) {
				t.Fatalf("attacker %s failure %d: %v", ip, i, err)
			}
		}
		if _, _, _, err := s.Login(ctx, "admin", "wrong password!", ip); !errors.Is(err, ErrRateLimited) {
			t.Fatalf("attacker %s after 3 failures: %v, want ErrRateLimited", ip, err)
		}
	}
	if _, _, p, err := s.Login(ctx, "admin", pw, "10.0.0.1"); err != nil || p.User != "admin" {
		t.Fatalf("real user after 30 failures from other addresses: %+v, %v; want logged in", p, err)
	}
}

// TestLoginAccountCeiling: past the per-account ceiling (a distributed
// guess), only addresses the account logged in from may still try.
func TestLoginAccountCeiling(t *testing.T) {
	s := newServiceWith(t, func(c *Config) { c.AccountCeiling = 6 })
	ctx := context.Background()
	pw := setupAdmin(t, s)
	if _, _, _, err := s.Login(ctx, "admin", pw, "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	for a := range 3 {
		for range 2 {
			_, _, _, _ = s.Login(ctx, "admin", "wrong password!", fmt.Sprintf("203.0.113.%d", a))
		}
	}
	if _, _, _, err := s.Login(ctx, "admin", pw, "10.0.0.50"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("new address past the ceiling: %v, want ErrRateLimited", err)
	}
	if _, _, _, err := s.Login(ctx, "admin", pw, "10.0.0.1"); err != nil {
		t.Fatalf("known address past the ceiling: %v, want logged in", err)
	}
	// The known address is still throttled by its own failures.
	for range 3 {
		_, _, _, _ = s.Login(ctx, "admin", "wrong password!", "10.0.0.1")
	}
	if _, _, _, err := s.Login(ctx, "admin", pw, "10.0.0.1"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("known address after its own 3 failures: %v, want ErrRateLimited", err)
	}
}

// TestLoginLimitersBoundedMemory: many attacking addresses fill no table
// beyond MaxLimiterKeys, and a full (account, address) table does not lock
// the person out.
func TestLoginLimitersBoundedMemory(t *testing.T) {
	s := newServiceWith(t, func(c *Config) { c.MaxLimiterKeys = 4 })
	ctx := context.Background()
	pw := setupAdmin(t, s)
	if _, _, _, err := s.Login(ctx, "admin", pw, "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	for a := range 20 {
		_, _, _, _ = s.Login(ctx, "admin", "wrong password!", fmt.Sprintf("203.0.113.%d", a))
	}
	for name, n := range map[string]int{"ip": s.byIP.size(), "pair": s.byPair.size(), "account": s.byAccount.size(), "known": s.known.size()} {
		if n > 4 {
			t.Errorf("%s table holds %d keys, want at most 4", name, n)
		}
	}
	if _, _, _, err := s.Login(ctx, "admin", pw, "10.0.0.1"); err != nil {
		t.Fatalf("known address with full tables: %v, want logged in", err)
	}
	// Full tables record no new keys, but a known address's own failures
	// still count: it gets no unlimited guesses.
	for range 3 {
		_, _, _, _ = s.Login(ctx, "admin", "wrong password!", "10.0.0.1")
	}
	if _, _, _, err := s.Login(ctx, "admin", pw, "10.0.0.1"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("known address after its own 3 failures with full tables: %v, want ErrRateLimited", err)
	}
}

func TestKnownSetBounded(t *testing.T) {
	k := newKnownSet(time.Hour, 2, time.Minute, 2)
	t0 := time.Unix(0, 0)
	k.add("a", t0)
	k.add("b", t0.Add(time.Second))
	k.add("c", t0.Add(2*time.Second))
	if n := k.size(); n != 2 {
		t.Fatalf("known set holds %d keys, want 2", n)
	}
	at := t0.Add(3 * time.Second)
	if a, _ := k.state("a", at); a {
		t.Error("full known set did not drop the oldest entry")
	}
	if b, _ := k.state("b", at); !b {
		t.Error("known set dropped a newer entry")
	}
	k.fail("c", at)
	k.fail("c", at)
	if c, over := k.state("c", at); !c || !over {
		t.Errorf("known entry with 2 failures: known %v over %v; want both", c, over)
	}
	if _, over := k.state("c", at.Add(time.Minute)); over {
		t.Error("known entry still over after its failure window")
	}
	if c, _ := k.state("c", t0.Add(2*time.Second+time.Hour)); c {
		t.Error("known entry outlived its TTL")
	}
}
