package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/store"
)

// Store is what auth needs of the control plane's store.
type Store interface {
	CreateUser(ctx context.Context, u store.User) error
	UpdateUser(ctx context.Context, u store.User) error
	User(ctx context.Context, name string) (store.User, error)
	CountUsers(ctx context.Context) (int, error)
	CreateSession(ctx context.Context, s store.Session) error
	Session(ctx context.Context, hash string, now time.Time) (store.Session, error)
	DeleteSession(ctx context.Context, hash string) error
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)
	CreateAPIToken(ctx context.Context, t store.APIToken) error
	APITokenByHash(ctx context.Context, hash string) (store.APIToken, error)
}

var _ Store = store.Store(nil)

// Cookie and header names.
const (
	SessionCookie = "sw_session"
	CSRFHeader    = "X-CSRF-Token"
	tokenPrefix   = "swt_"
	setupPrefix   = "sws_"
)

// Config tunes accounts and sessions.
type Config struct {
	Argon2         Argon2
	SessionTTL     time.Duration
	SetupTTL       time.Duration
	MaxFailures    int           // failed logins per (account, IP) in a window; 4x that per IP
	FailureWindow  time.Duration // length of that window
	MaxLimiterKeys int           // bound on the memory of each limiter
	// AccountCeiling is how many failed logins per account, from all
	// addresses together, a window allows before only the account's known
	// addresses (KnownAddressTTL) may still try; 0 disables the ceiling.
	AccountCeiling int
	// KnownAddressTTL is how long an address an account logged in from
	// stays known to it (exempt from AccountCeiling).
	KnownAddressTTL time.Duration
	AdminName       string // the account first start creates
	InsecureCookies bool   // omit Secure (tests over plain HTTP only)
}

// DefaultConfig returns production settings.
func DefaultConfig() Config {
	return Config{Argon2: DefaultArgon2(), SessionTTL: 12 * time.Hour, SetupTTL: 24 * time.Hour,
		MaxFailures: 5, FailureWindow: 15 * time.Minute, MaxLimiterKeys: 10000, AccountCeiling: 100,
		KnownAddressTTL: 30 * 24 * time.Hour, AdminName: "admin"}
}

// Validate reports a setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Argon2.Memory < 8 || c.Argon2.Time == 0 || c.Argon2.Threads == 0:
		return errors.New("auth config: argon2 needs memory >= 8 KiB, time >= 1, threads >= 1")
	case c.SessionTTL <= 0 || c.SetupTTL <= 0 || c.FailureWindow <= 0:
		return errors.New("auth config: session, setup and failure window durations must be positive")
	case c.MaxFailures <= 0 || c.MaxLimiterKeys <= 0:
		return errors.New("auth config: max failures and max limiter keys must be positive")
	case c.AccountCeiling < 0:
		return errors.New("auth config: account ceiling must be 0 (off) or positive")
	case c.AccountCeiling > 0 && c.KnownAddressTTL <= 0:
		return errors.New("auth config: known address TTL must be positive when the account ceiling is on")
	case c.AdminName == "":
		return errors.New("auth config: admin name is empty")
	}
	return nil
}

// Principal is an authenticated person.
type Principal struct {
	User   string
	Role   Role
	Client string // for RoleClientViewer: the one client it may read
	// CSRF is the session's CSRF token; empty for API-token requests.
	CSRF string
	// Cookie is true when the request was authenticated by a session cookie.
	Cookie bool
}

// CanSeeClient reports whether p may read the client's data.
func (p Principal) CanSeeClient(client string) bool {
	return p.Role != RoleClientViewer || p.Client == client
}

// Service authenticates people. Safe for concurrent use.
type Service struct {
	cfg Config
	st  Store
	log *slog.Logger
	now func() time.Time
	// byIP counts failures per address, byPair per (account, address),
	// byAccount per account from all addresses (the ceiling); known holds
	// (account, address) pairs that logged in.
	byIP, byPair, byAccount *limiter
	known                   *knownSet
	dummyHash               string
}

// New returns a Service; now may be nil for time.Now.
func New(cfg Config, st Store, log *slog.Logger, now func() time.Time) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	dummy, err := HashPassword(cfg.Argon2, "not-a-password-of-anyone")
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, st: st, log: log, now: now, dummyHash: dummy,
		byIP:      newLimiter(cfg.MaxFailures*4, cfg.FailureWindow, cfg.MaxLimiterKeys),
		byPair:    newLimiter(cfg.MaxFailures, cfg.FailureWindow, cfg.MaxLimiterKeys),
		byAccount: newLimiter(max(cfg.AccountCeiling, 1), cfg.FailureWindow, cfg.MaxLimiterKeys),
		known:     newKnownSet(max(cfg.KnownAddressTTL, time.Second), cfg.MaxFailures, cfg.FailureWindow, cfg.MaxLimiterKeys)}, nil
}

func secret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never happens on supported systems
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashSecret is the at-rest form of a session, token or setup secret.
func HashSecret(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// Bootstrap creates the admin account on first start (no accounts yet)
// and returns a one-time setup secret for it. While that admin is the only
// account and has no password, each call replaces the secret with a new one
// (a restart prints a fresh link; the old one stops working). Otherwise it
// returns "".
func (s *Service) Bootstrap(ctx context.Context) (string, error) {
	return s.bootstrap(ctx, true)
}

// BootstrapShared is Bootstrap for a store shared by several control-plane
// replicas: a pending, unexpired setup secret is left alone (another
// replica printed it; replacing it would void that link) and "" is
// returned; only an expired one is replaced.
func (s *Service) BootstrapShared(ctx context.Context) (string, error) {
	return s.bootstrap(ctx, false)
}

func (s *Service) bootstrap(ctx context.Context, renewPending bool) (string, error) {
	n, err := s.st.CountUsers(ctx)
	if err != nil || n > 1 {
		return "", err
	}
	sec := setupPrefix + secret()
	now := s.now()
	if n == 1 {
		u, err := s.st.User(ctx, s.cfg.AdminName)
		if errors.Is(err, store.ErrNotFound) || (err == nil && u.PasswordHash != "") {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		if !renewPending && u.SetupHash != "" && u.SetupExpires.After(now) {
			return "", nil
		}
		u.SetupHash, u.SetupExpires = HashSecret(sec), now.Add(s.cfg.SetupTTL)
		if err := s.st.UpdateUser(ctx, u); err != nil {
			return "", fmt.Errorf("renew admin setup link: %w", err)
		}
		return s.cfg.AdminName + "." + sec, nil
	}
	err = s.st.CreateUser(ctx, store.User{Name: s.cfg.AdminName, Role: string(RoleAdmin), SetupHash: HashSecret(sec), SetupExpires: now.Add(s.cfg.SetupTTL), CreatedAt: now})
	if err != nil {
		return "", fmt.Errorf("create first admin: %w", err)
	}
	return s.cfg.AdminName + "." + sec, nil
}

// CreateUser adds an account with a one-time setup secret (returned) and no
// password; the person sets one through the setup link.
func (s *Service) CreateUser(ctx context.Context, name string, role Role, client string) (string, error) {
	if !role.Valid() {
		return "", ErrInvalidRole
	}
	if role == RoleClientViewer && client == "" {
		return "", errors.New("a client_viewer needs a client: pass the client it may read")
	}
	sec := setupPrefix + secret()
	now := s.now()
	if err := s.st.CreateUser(ctx, store.User{Name: name, Role: string(role), Client: client, SetupHash: HashSecret(sec), SetupExpires: now.Add(s.cfg.SetupTTL), CreatedAt: now}); err != nil {
		return "", err
	}
	return name + "." + sec, nil
}

// CompleteSetup sets the password of the account named by a setup secret
// ("name.sws_...") and spends the secret.
func (s *Service) CompleteSetup(ctx context.Context, setup, password string) (string, error) {
	name, sec, ok := strings.Cut(setup, ".")
	if !ok || name == "" {
		return "", ErrSetup
	}
	if err := checkPassword(password); err != nil {
		return "", err
	}
	u, err := s.st.User(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return "", ErrSetup
	}
	if err != nil {
		return "", err
	}
	if u.SetupHash == "" || subtle.ConstantTimeCompare([]byte(u.SetupHash), []byte(HashSecret(sec))) != 1 || !s.now().Before(u.SetupExpires) {
		return "", ErrSetup
	}
	if u.PasswordHash, err = HashPassword(s.cfg.Argon2, password); err != nil {
		return "", err
	}
	u.SetupHash, u.SetupExpires = "", time.Time{}
	if err := s.st.UpdateUser(ctx, u); err != nil {
		return "", err
	}
	s.log.Info("account set up", "user", name)
	return name, nil
}

// Login checks a password and opens a session; it returns the cookie
// secret and the session's CSRF token. Failures are counted per address,
// per (account, address) and per account (the ceiling); over a limit it
// returns ErrRateLimited without checking. Failures from other addresses
// never lock an account out of an address it logged in from before. An
// "address" is addressKey(ip): IPv6 addresses count per /64.
func (s *Service) Login(ctx context.Context, name, password, ip string) (cookie, csrf string, p Principal, err error) {
	now, addr := s.now(), addressKey(ip)
	if !s.loginAllowed(name, addr, now) {
		s.log.Warn("login rate limited", "user", name, "ip", ip)
		return "", "", Principal{}, ErrRateLimited
	}
	u, err := s.st.User(ctx, name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", "", Principal{}, err
	}
	hash := u.PasswordHash
	if hash == "" {
		hash = s.dummyHash // same work for unknown accounts
	}
	ok, verr := VerifyPassword(hash, password)
	if err != nil || verr != nil || !ok || u.PasswordHash == "" || u.Disabled {
		s.byIP.fail(addr, now)
		if err == nil {
			// Only existing accounts get per-account windows, so guessed
			// names cannot fill those limiters; the per-IP one bounds them.
			s.byPair.fail(pairKey(name, addr), now)
			s.known.fail(pairKey(name, addr), now)
			if s.cfg.AccountCeiling > 0 {
				s.byAccount.fail(name, now)
			}
		}
		s.log.Warn("login failed", "user", name, "ip", ip)
		return "", "", Principal{}, ErrBadCredentials
	}
	s.byPair.reset(pairKey(name, addr))
	s.known.add(pairKey(name, addr), now)
	cookie, csrf = secret(), secret()
	if err := s.st.CreateSession(ctx, store.Session{Hash: HashSecret(cookie), User: name, CSRF: csrf, CreatedAt: now, ExpiresAt: now.Add(s.cfg.SessionTTL)}); err != nil {
		return "", "", Principal{}, err
	}
	if _, err := s.st.DeleteExpiredSessions(ctx, now); err != nil {
		s.log.Warn("delete expired sessions", "err", err)
	}
	s.log.Info("login", "user", name, "ip", ip)
	return cookie, csrf, Principal{User: name, Role: Role(u.Role), Client: u.Client, CSRF: csrf, Cookie: true}, nil
}

// pairKey keys the (account, address) limiter and known set; NUL appears
// in neither.
func pairKey(name, addr string) string { return name + "\x00" + addr }

// loginAllowed applies the limits. An address the account logged in from
// before (known) is exempt from the account ceiling and from full tables,
// and throttled by its own failures, which the known set always records;
// so neither a botnet nor a flood of addresses can lock the person out of
// where they usually sign in. With the ceiling on, a full (account,
// address) table lets new pairs through: the ceiling bounds their guesses.
// addr is addressKey of the client's address.
func (s *Service) loginAllowed(name, addr string, now time.Time) bool {
	pk := pairKey(name, addr)
	known, knownOver := s.known.state(pk, now)
	known = known && s.cfg.AccountCeiling > 0
	switch {
	case known && (knownOver || s.byIP.over(addr, now)), !known && !s.byIP.allow(addr, now):
		return false
	case s.cfg.AccountCeiling > 0 && s.byPair.over(pk, now), s.cfg.AccountCeiling == 0 && !s.byPair.allow(pk, now):
		return false
	case s.cfg.AccountCeiling > 0 && !known && !s.byAccount.allow(name, now):
		return false
	}
	return true
}

// SessionCookie returns the cookie carrying a session secret.
func (s *Service) SessionCookie(value string) *http.Cookie {
	return &http.Cookie{Name: SessionCookie, Value: value, Path: "/", HttpOnly: true, Secure: !s.cfg.InsecureCookies,
		SameSite: http.SameSiteStrictMode, MaxAge: int(s.cfg.SessionTTL / time.Second)}
}

// ClearCookie returns a cookie that removes the session cookie.
func (s *Service) ClearCookie() *http.Cookie {
	return &http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: !s.cfg.InsecureCookies,
		SameSite: http.SameSiteStrictMode, MaxAge: -1}
}

// Logout ends the request's cookie session, if any.
func (s *Service) Logout(ctx context.Context, r *http.Request) error {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return nil
	}
	return s.st.DeleteSession(ctx, HashSecret(c.Value))
}

// CreateAPIToken issues a CLI token for user. The secret is returned once;
// only its hash is stored.
func (s *Service) CreateAPIToken(ctx context.Context, user, name string, ttl time.Duration) (string, store.APIToken, error) {
	now := s.now()
	id := secret()[:12]
	sec := tokenPrefix + id + "_" + secret()
	t := store.APIToken{ID: id, Hash: HashSecret(sec), User: user, Name: name, CreatedAt: now}
	if ttl > 0 {
		t.ExpiresAt = now.Add(ttl)
	}
	if err := s.st.CreateAPIToken(ctx, t); err != nil {
		return "", store.APIToken{}, err
	}
	s.log.Info("api token created", "user", user, "token_id", id)
	return sec, t, nil
}

// Authenticate finds who sent r: a bearer API token or a session cookie.
// A cookie request that is not GET/HEAD must carry the session's CSRF token.
func (s *Service) Authenticate(r *http.Request) (Principal, error) {
	ctx, now := r.Context(), s.now()
	var p Principal
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || !strings.HasPrefix(tok, tokenPrefix) {
			return Principal{}, ErrUnauthenticated
		}
		t, err := s.st.APITokenByHash(ctx, HashSecret(tok))
		if errors.Is(err, store.ErrNotFound) || (err == nil && !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)) {
			return Principal{}, ErrUnauthenticated
		}
		if err != nil {
			return Principal{}, err
		}
		p.User = t.User
	} else {
		c, err := r.Cookie(SessionCookie)
		if err != nil || c.Value == "" {
			return Principal{}, ErrUnauthenticated
		}
		se, err := s.st.Session(ctx, HashSecret(c.Value), now)
		if errors.Is(err, store.ErrNotFound) {
			return Principal{}, ErrUnauthenticated
		}
		if err != nil {
			return Principal{}, err
		}
		p.User, p.CSRF, p.Cookie = se.User, se.CSRF, true
		if r.Method != http.MethodGet && r.Method != http.MethodHead &&
			subtle.ConstantTimeCompare([]byte(r.Header.Get(CSRFHeader)), []byte(se.CSRF)) != 1 {
			return Principal{}, ErrCSRF
		}
	}
	u, err := s.st.User(ctx, p.User)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled) {
		return Principal{}, ErrUnauthenticated
	}
	if err != nil {
		return Principal{}, err
	}
	p.Role, p.Client = Role(u.Role), u.Client
	return p, nil
}
