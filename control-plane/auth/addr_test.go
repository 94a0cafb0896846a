package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/sitewarden/sitewarden/control-plane/store"
)

func TestAddressKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":                        "192.0.2.7",
		"::ffff:192.0.2.7":                 "192.0.2.7", // IPv4-mapped stays a /32
		"2001:db8:1:2:aaaa:bbbb:cccc:dddd": "2001:db8:1:2::/64",
		"2001:db8:1:2::1":                  "2001:db8:1:2::/64",
		"2001:db8:1:3::1":                  "2001:db8:1:3::/64",
		"2001:DB8:1:2::1":                  "2001:db8:1:2::/64",
		"fe80::1%eth0":                     "fe80::/64",
		"::1":                              "::/64",
		"not an address":                   "not an address",
		"":                                 "",
	} {
		if got := addressKey(in); got != want {
			t.Errorf("addressKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// newServiceWith is newService with cfg changed by edit.
func newServiceWith(t *testing.T, edit func(*Config)) *Service {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "cp.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := testConfig()
	edit(&cfg)
	s, err := New(cfg, st, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestLoginIPv6Slash64: failures from many addresses in one IPv6 /64
// share one per-address window and one (account, address) window, and get
// throttled; another /64 does not; IPv4 addresses stay separate.
func TestLoginIPv6Slash64(t *testing.T) {
	s := newServiceWith(t, func(*Config) {})
	ctx := context.Background()
	pw := setupAdmin(t, s)
	// Per address (12 failures with MaxFailures 3), each from a fresh
	// address in 2001:db8:a:b::/64.
	for i := range 12 {
		ip := fmt.Sprintf("2001:db8:a:b:%x::%x", i, i+1)
		if _, _, _, err := s.Login(ctx, fmt.Sprintf("nobody%d", i), "x", ip); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("failure %d from %s: %v", i, ip, err)
		}
	}
	if _, _, _, err := s.Login(ctx, "admin", pw, "2001:db8:a:b:ffff:ffff:ffff:fffe"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("a 13th address in the /64: %v, want ErrRateLimited", err)
	}
	if _, _, p, err := s.Login(ctx, "admin", pw, "2001:db8:a:c::1"); err != nil || p.User != "admin" {
		t.Fatalf("the next /64: %+v, %v; want logged in", p, err)
	}
	// Per (account, address): 3 failures at admin from 3 addresses of one
	// /64 stop a 4th address there, even with the right password.
	for i := range 3 {
		_, _, _, _ = s.Login(ctx, "admin", "wrong password!", fmt.Sprintf("2001:db8:d::%x", i+1))
	}
	if _, _, _, err := s.Login(ctx, "admin", pw, "2001:db8:d::99"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("a 4th address after 3 failures in its /64: %v, want ErrRateLimited", err)
	}
	// IPv4 unchanged: 12 failures from 12 addresses of one /24 block none
	// of the others.
	for i := range 12 {
		_, _, _, _ = s.Login(ctx, fmt.Sprintf("nobody%d", i), "x", fmt.Sprintf("198.51.100.%d", i+1))
	}
	if _, _, _, err := s.Login(ctx, "admin", pw, "198.51.100.200"); err != nil {
		t.Fatalf("another IPv4 address in the /24: %v, want logged in", err)
	}
	// IPv4-mapped IPv6 is the IPv4 address: its own /32, shared with the
	// plain form (a dual-stack listener reports either).
	for i := range 12 {
		_, _, _, _ = s.Login(ctx, fmt.Sprintf("nobody%d", i), "x", "::ffff:203.0.113.1")
	}
	if _, _, _, err := s.Login(ctx, "admin", pw, "203.0.113.1"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("203.0.113.1 after 12 failures as ::ffff:203.0.113.1: %v, want ErrRateLimited", err)
	}
	if _, _, _, err := s.Login(ctx, "admin", pw, "::ffff:203.0.113.2"); err != nil {
		t.Fatalf("the next IPv4-mapped address: %v, want logged in", err)
	}
}

// TestLoginIPv6KnownSlash64: an account's known address is its /64, so a
// person whose privacy address rotated is still known past the ceiling;
// a different /64 is not.
func TestLoginIPv6KnownSlash64(t *testing.T) {
	s := newServiceWith(t, func(c *Config) { c.AccountCeiling = 6 })
	ctx := context.Background()
	pw := setupAdmin(t, s)
	if _, _, _, err := s.Login(ctx, "admin", pw, "2001:db8:1:1:1111:2222:3333:4444"); err != nil {
		t.Fatal(err)
	}
	for a := range 3 {
		for range 2 {
			_, _, _, _ = s.Login(ctx, "admin", "wrong password!", fmt.Sprintf("2001:db8:bad:%x::1", a))
		}
	}
	if _, _, _, err := s.Login(ctx, "admin", pw, "2001:db8:1:2::1"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("a new /64 past the ceiling: %v, want ErrRateLimited", err)
	}
	if _, _, _, err := s.Login(ctx, "admin", pw, "2001:db8:1:1:aaaa:bbbb:cccc:dddd"); err != nil {
		t.Fatalf("a new address in the known /64 past the ceiling: %v, want logged in", err)
	}
}

// TestLoginIPv6CannotFillTables: any number of addresses from one /64 take
// one key in each table, so they cannot fill the bounded tables and lock
// out other networks.
func TestLoginIPv6CannotFillTables(t *testing.T) {
	s := newServiceWith(t, func(c *Config) { c.MaxLimiterKeys = 4 })
	ctx := context.Background()
	pw := setupAdmin(t, s)
	for i := range 2000 {
		ip := fmt.Sprintf("2001:db8:66:77:%x:%x::1", i>>8, i&0xff)
		_, _, _, _ = s.Login(ctx, "admin", "wrong password!", ip)
		_, _, _, _ = s.Login(ctx, fmt.Sprintf("guess%d", i), "x", ip)
	}
	for name, n := range map[string]int{"ip": s.byIP.size(), "pair": s.byPair.size(), "account": s.byAccount.size()} {
		if n != 1 {
			t.Errorf("%s table holds %d keys after one /64's attack, want 1", name, n)
		}
	}
	if _, _, _, err := s.Login(ctx, "admin", "wrong password!", "2001:db8:66:77::5"); !errors.Is(err, ErrRateLimited) {
		t.Errorf("the attacking /64: %v, want ErrRateLimited", err)
	}
	for _, ip := range []string{"2001:db8:66:78::1", "192.0.2.1", "2001:db8:99::1"} {
		if _, _, p, err := s.Login(ctx, "admin", pw, ip); err != nil || p.User != "admin" {
			t.Errorf("%s after the attack: %+v, %v; want logged in", ip, p, err)
		}
	}
}
