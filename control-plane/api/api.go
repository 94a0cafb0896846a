package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/store"
)

// Sync topics the runners fetch; they equal syncserver.StreamGoals and
// syncserver.StreamApprovals (a test checks it).
const (
	TopicGoals     = "goals"
	TopicApprovals = "approvals"
)

// Notifier tells connected sites that a topic has a new version.
type Notifier interface {
	Notify(client, site, topic string, version uint64) int
}

// EnrollFunc creates a one-time enrollment token for a site and returns it
// encoded with its expiry.
type EnrollFunc func(ctx context.Context, client, site string, ttl time.Duration) (string, time.Time, error)

// Config tunes the API.
type Config struct {
	MaxBody      int64 // bytes per request body
	DefaultPage  int
	MaxPage      int
	MaxEnrollTTL time.Duration
	// MaxFleetTTL bounds a fleet token's life.
	MaxFleetTTL time.Duration
}

// DefaultConfig returns production settings.
func DefaultConfig() Config {
	return Config{MaxBody: 64 << 10, DefaultPage: 50, MaxPage: 500, MaxEnrollTTL: 7 * 24 * time.Hour, MaxFleetTTL: 30 * 24 * time.Hour}
}

// Validate reports a setting that cannot work.
func (c Config) Validate() error {
	if c.MaxBody <= 0 || c.DefaultPage <= 0 || c.MaxPage < c.DefaultPage || c.MaxEnrollTTL <= 0 || c.MaxFleetTTL < 0 {
		return errors.New("api config: body and page sizes and enroll TTL must be positive, default page <= max page")
	}
	return nil
}

// Server serves the API.
type Server struct {
	cfg    Config
	st     store.Store
	auth   *auth.Service
	notify Notifier
	enroll EnrollFunc
	log    *slog.Logger
	now    func() time.Time
	mux    *http.ServeMux
	gov    *governance // samples and scope proposals (review.go); nil: off

	// fleetEnroll issues fleet tokens (WithFleetEnroll); nil: off.
	fleetEnroll FleetEnrollFunc
}

type handler func(w http.ResponseWriter, r *http.Request, p auth.Principal) error

// Route is one endpoint: method, path pattern and the permission it needs
// ("" for public endpoints).
type Route struct {
	Method, Pattern string
	Perm            auth.Permission
	h               handler
}

// New returns an API server; now may be nil.
func New(cfg Config, st store.Store, a *auth.Service, n Notifier, enroll EnrollFunc, log *slog.Logger, now func() time.Time, opts ...Option) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	s := &Server{cfg: cfg, st: st, auth: a, notify: n, enroll: enroll, log: log, now: now, mux: http.NewServeMux()}
	for _, o := range opts {
		o(s)
	}
	if err := s.setupGovernance(); err != nil {
		return nil, err
	}
	for _, rt := range s.Routes() {
		s.mux.HandleFunc(rt.Method+" "+rt.Pattern, s.wrap(rt))
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { s.writeErr(w, r, errNoSuchPath) })
	return s, nil
}

// Routes lists every endpoint.
func (s *Server) Routes() []Route {
	return append([]Route{
		{"POST", "/api/v1/setup", "", s.setup},
		{"POST", "/api/v1/session", "", s.login},
		{"GET", "/api/v1/session", auth.PermRead, s.whoami},
		{"DELETE", "/api/v1/session", auth.PermRead, s.logout},
		{"GET", "/api/v1/sites", auth.PermRead, s.listSites},
		{"GET", "/api/v1/sites/{client}/{site}", auth.PermRead, s.showSite},
		{"GET", "/api/v1/escalations", auth.PermRead, s.listEscalations},
		{"GET", "/api/v1/escalations/{client}/{id}", auth.PermRead, s.showEscalation},
		{"POST", "/api/v1/escalations/{client}/{id}/claim", auth.PermEscalationsWrite, s.claimEscalation},
		{"POST", "/api/v1/escalations/{client}/{id}/resolve", auth.PermEscalationsWrite, s.resolveEscalation},
		{"GET", "/api/v1/approvals", auth.PermRead, s.listApprovals},
		{"GET", "/api/v1/approvals/{client}/{id}", auth.PermRead, s.showApproval},
		{"POST", "/api/v1/approvals/{client}/{id}/approve", auth.PermApprovalsDecide, s.approve},
		{"POST", "/api/v1/approvals/{client}/{id}/deny", auth.PermApprovalsDecide, s.deny},
		{"POST", "/api/v1/goals", auth.PermGoalsSubmit, s.submitGoal},
		{"GET", "/api/v1/goals/{client}/{id}", auth.PermRead, s.showGoal},
		{"POST", "/api/v1/enrollment-tokens", auth.PermEnroll, s.createEnrollToken},
		{"GET", "/api/v1/enrollment-tokens", auth.PermEnroll, s.listEnrollTokens},
		{"POST", "/api/v1/enrollment-tokens/{client}/{id}/revoke", auth.PermEnroll, s.revokeEnrollToken},
		{"GET", "/api/v1/tokens", auth.PermOwnTokens, s.listTokens},
		{"POST", "/api/v1/tokens", auth.PermOwnTokens, s.createToken},
		{"DELETE", "/api/v1/tokens/{id}", auth.PermOwnTokens, s.deleteToken},
		{"GET", "/api/v1/users", auth.PermAdmin, s.listUsers},
		{"POST", "/api/v1/users", auth.PermAdmin, s.createUser},
		{"PATCH", "/api/v1/users/{name}", auth.PermAdmin, s.updateUser},
	}, append(s.uiRoutes(), s.reviewRoutes()...)...)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	s.mux.ServeHTTP(w, r)
}

func (s *Server) wrap(rt Route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
		var p auth.Principal
		if rt.Perm != "" {
			var err error
			if p, err = s.auth.Authenticate(r); err != nil {
				s.writeErr(w, r, err)
				return
			}
			if !auth.Allowed(p.Role, rt.Perm) {
				s.writeErr(w, r, errForbidden)
				return
			}
		}
		if err := rt.h(w, r, p); err != nil {
			s.writeErr(w, r, err)
		}
	}
}

func (s *Server) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	ae := toError(err)
	if ae.Status >= 500 {
		s.log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, ae.Status, map[string]*Error{"error": ae})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads exactly one JSON object into v, rejecting unknown fields.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errTooLarge
		}
		return apiErr(http.StatusBadRequest, "bad_json", fmt.Sprintf("request body: %v", err), "send one JSON object with the fields docs/api.md lists")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apiErr(http.StatusBadRequest, "bad_json", "request body has data after the JSON object", "send exactly one JSON object")
	}
	return nil
}

// Page is one page of a list.
type Page[T any] struct {
	Items         []T    `json:"items"`
	NextPageToken string `json:"next_page_token,omitempty"`
}

// pageArgs reads limit and page_token (an opaque offset).
func (s *Server) pageArgs(r *http.Request) (offset, limit int, err error) {
	limit = s.cfg.DefaultPage
	if v := r.URL.Query().Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > s.cfg.MaxPage {
			return 0, 0, errBadPage
		}
	}
	if v := r.URL.Query().Get("page_token"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil {
			return 0, 0, errBadPage
		}
		if offset, err = strconv.Atoi(string(b)); err != nil || offset < 0 {
			return 0, 0, errBadPage
		}
	}
	return offset, limit, nil
}

// page builds a page from up to limit+1 fetched items.
func page[T any](items []T, offset, limit int) Page[T] {
	p := Page[T]{Items: items}
	if p.Items == nil {
		p.Items = []T{}
	}
	if len(items) > limit {
		p.Items = items[:limit]
		p.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(offset + limit)))
	}
	return p
}

// client returns the client a request is about (path value or ?client=)
// after checking p may see it. A client viewer defaults to its client.
func clientOf(r *http.Request, p auth.Principal) (string, error) {
	c := r.PathValue("client")
	if c == "" {
		c = r.URL.Query().Get("client")
	}
	if c == "" && p.Role == auth.RoleClientViewer {
		c = p.Client
	}
	if c == "" {
		return "", errClientReq
	}
	if !p.CanSeeClient(c) {
		return "", errForbidden
	}
	return c, nil
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
