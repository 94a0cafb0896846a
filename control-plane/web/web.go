package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/api"
	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/store"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Actions are the state changes and detail reads the UI shares with the
// JSON API (implemented by *api.Server): each checks the principal's
// permission and client itself.
type Actions interface {
	Escalation(ctx context.Context, p auth.Principal, client, id string) (api.EscalationView, *pb.Escalation, error)
	ClaimEscalation(ctx context.Context, p auth.Principal, client, id string) (api.EscalationView, error)
	ResolveEscalation(ctx context.Context, p auth.Principal, client, id, note string) (api.EscalationView, error)
	ReturnEscalation(ctx context.Context, p auth.Principal, client, id, guidance string) (api.EscalationView, *pb.Goal, error)
	Approval(ctx context.Context, p auth.Principal, client, id string) (api.ApprovalView, *pb.ApprovalRequest, error)
	Decide(ctx context.Context, p auth.Principal, client, id string, verdict pb.Verdict, note string) (api.ApprovalView, error)
	CreateEnrollToken(ctx context.Context, p auth.Principal, req api.EnrollRequest) (string, time.Time, error)
	EnrollTokens(ctx context.Context, p auth.Principal, client string) ([]api.EnrollTokenView, error)
	RevokeEnrollToken(ctx context.Context, p auth.Principal, client, id string) (api.EnrollTokenView, error)
	GoalDetail(ctx context.Context, p auth.Principal, client, id string) (api.GoalView, *pb.Goal, *pb.Outcome, error)
	ExportAudit(ctx context.Context, p auth.Principal, client, site string, from, to time.Time, w io.Writer, progress func(done, total uint64)) (api.ExportSummary, error)
}

var _ Actions = (*api.Server)(nil)

// Sessions authenticates people (implemented by *auth.Service).
type Sessions interface {
	Authenticate(r *http.Request) (auth.Principal, error)
	Login(ctx context.Context, name, password, ip string) (cookie, csrf string, p auth.Principal, err error)
	Logout(ctx context.Context, r *http.Request) error
	CompleteSetup(ctx context.Context, setup, password string) (string, error)
	SessionCookie(value string) *http.Cookie
	ClearCookie() *http.Cookie
}

var _ Sessions = (*auth.Service)(nil)

// Store is what the pages read directly: the aggregates, the site page's
// reads and a few rows. Both stores implement it: the server serves the UI
// only over a store that does (control-plane/cli/apiserver.go).
type Store interface {
	store.Stats
	store.SiteDetail
	AuditRecords(ctx context.Context, client, site string, from uint64, limit int) ([][]byte, error)
	LatestScope(ctx context.Context, client string) (store.ScopeVersion, error)
	TokenSites(ctx context.Context, client string, perToken int) (map[string][]store.TokenSite, error)
}

var (
	_ Store = (*store.SQLite)(nil)
	_ Store = (*store.Postgres)(nil)
)

// AccuracyFunc returns graded-sample accuracy per client and workflow for
// a period (client "" for all). Filled by the samples feature (store.Review);
// nil shows "no graded samples yet".
type AccuracyFunc func(ctx context.Context, client string, from, to time.Time) ([]store.Accuracy, error)

// Config tunes the UI.
type Config struct {
	// OnlineWindow: a site seen within it counts as online.
	OnlineWindow time.Duration
	// PageSize is the rows per list page.
	PageSize int
	// RefreshBudget bounds the rows RefreshStats indexes per page view;
	// the rest is indexed by the next views.
	RefreshBudget int
	// MaxForm bounds a form body, in bytes.
	MaxForm int64
	// MinutesSaved is the time-saved assumption of the client report:
	// minutes of a person's work per goal the agent resolved, by workflow
	// ("*" for any other).
	MinutesSaved map[string]float64
	// InsecureCookies omits Secure on the login cookie (plain-HTTP tests).
	InsecureCookies bool
}

// DefaultConfig returns production settings.
func DefaultConfig() Config {
	return Config{OnlineWindow: 2 * time.Minute, PageSize: 50, RefreshBudget: 20000, MaxForm: 64 << 10,
		MinutesSaved: map[string]float64{"*": 15}}
}

// Validate reports a setting that cannot work.
func (c Config) Validate() error {
	if c.OnlineWindow <= 0 || c.PageSize <= 0 || c.PageSize > 500 || c.RefreshBudget <= 0 || c.MaxForm <= 0 {
		return errors.New("web config: online window, page size (1-500), refresh budget and form size must be positive")
	}
	if _, ok := c.MinutesSaved["*"]; !ok {
		return errors.New(`web config: MinutesSaved needs a "*" entry (minutes saved per resolved goal of any workflow)`)
	}
	return nil
}

// Deps are the UI's collaborators. Accuracy and Now may be nil.
type Deps struct {
	Actions  Actions
	Sessions Sessions
	Store    Store
	Accuracy AccuracyFunc
	Log      *slog.Logger
	Now      func() time.Time
}

// Server serves the UI.
type Server struct {
	cfg   Config
	d     Deps
	now   func() time.Time
	log   *slog.Logger
	pages map[string]*template.Template
	mux   *http.ServeMux
}

// handler serves one page for an authenticated principal (the zero
// Principal on public pages).
type handler func(w http.ResponseWriter, r *http.Request, p auth.Principal) error

// Page is one route of the UI. Perm "" makes it public; Nav names its
// entry in the navigation bar (GET pages only).
type Page struct {
	Method, Pattern string
	Perm            auth.Permission
	Nav             string
	h               handler
}

// New returns the UI server.
func New(cfg Config, d Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Actions == nil || d.Sessions == nil || d.Store == nil || d.Log == nil {
		return nil, errors.New("web: actions, sessions, store and log are required")
	}
	s := &Server{cfg: cfg, d: d, now: d.Now, log: d.Log, mux: http.NewServeMux()}
	if s.now == nil {
		s.now = time.Now
	}
	var err error
	if s.pages, err = parseTemplates(); err != nil {
		return nil, err
	}
	for _, pg := range s.Pages() {
		s.mux.HandleFunc(pg.Method+" "+pg.Pattern, s.wrap(pg))
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	return s, nil
}

// csp allows only this origin: no inline script or style, no framing.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin") // "no-referrer" makes browsers send Origin: null on form posts
	if !strings.HasPrefix(r.URL.Path, "/static/") {
		h.Set("Cache-Control", "no-store")
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) wrap(pg Page) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxForm)
		var p auth.Principal
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if !sameOrigin(r) {
				s.fail(w, r, p, errCrossOrigin)
				return
			}
			if err := r.ParseForm(); err != nil {
				s.fail(w, r, p, errBadForm)
				return
			}
			if r.Header.Get(auth.CSRFHeader) == "" {
				r.Header.Set(auth.CSRFHeader, r.PostForm.Get("csrf"))
			}
		}
		if pg.Perm != "" {
			var err error
			if p, err = s.d.Sessions.Authenticate(r); err != nil {
				if errors.Is(err, auth.ErrUnauthenticated) && r.Method == http.MethodGet {
					http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
					return
				}
				s.fail(w, r, p, err)
				return
			}
			if !auth.Allowed(p.Role, pg.Perm) {
				s.fail(w, r, p, errForbidden)
				return
			}
		}
		if err := pg.h(w, r, p); err != nil {
			s.fail(w, r, p, err)
		}
		s.log.Debug("page served", "method", r.Method, "pattern", pg.Pattern, "ms", s.now().Sub(start).Milliseconds())
	}
}

// sameOrigin refuses a state change sent from another origin (a second
// line behind SameSite cookies and the CSRF token).
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return o == "" // browsers send Origin on POST; "null" is an opaque origin
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// view is what every template gets.
type view struct {
	Title   string
	User    auth.Principal
	CSRF    string
	Nav     []navItem
	Active  string
	Flash   string
	Data    any
	Elapsed string
}

type navItem struct{ Label, Path string }

func (s *Server) nav(p auth.Principal) []navItem {
	var out []navItem
	for _, pg := range s.Pages() {
		if pg.Nav != "" && pg.Method == http.MethodGet && p.User != "" && auth.Allowed(p.Role, pg.Perm) {
			out = append(out, navItem{pg.Nav, pg.Pattern})
		}
	}
	return out
}

// render writes page name with data inside the layout.
func (s *Server) render(w http.ResponseWriter, r *http.Request, p auth.Principal, name, title string, data any) error {
	return s.renderStatus(w, r, p, http.StatusOK, name, title, data)
}

func (s *Server) renderStatus(w http.ResponseWriter, r *http.Request, p auth.Principal, status int, name, title string, data any) error {
	t, ok := s.pages[name]
	if !ok {
		return fmt.Errorf("web: no template %q", name)
	}
	v := view{Title: title, User: p, CSRF: p.CSRF, Nav: s.nav(p), Active: "/" + strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)[0],
		Flash: r.URL.Query().Get("done"), Data: data}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := buf.WriteTo(w)
	return err
}

// redirect answers a form post with 303 to target, showing done there.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, target, done string) {
	if done != "" {
		sep := "?"
		if strings.Contains(target, "?") {
			sep = "&"
		}
		target += sep + "done=" + url.QueryEscape(done)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// fail renders an error page with the error's status; internal errors are
// logged and shown without detail.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, p auth.Principal, err error) {
	status, msg := statusOf(err)
	if status >= 500 {
		s.log.Error("web request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if rerr := s.renderStatus(w, r, p, status, "error", http.StatusText(status), errorData{Status: status, Message: msg}); rerr != nil {
		s.log.Error("render error page", "err", rerr)
		http.Error(w, http.StatusText(status), status)
	}
}

type errorData struct {
	Status  int
	Message string
}

// statusOf maps an error to an HTTP status and a message fit to show.
func statusOf(err error) (int, string) {
	var we *webError
	if errors.As(err, &we) {
		return we.status, we.msg
	}
	return api.StatusOf(err)
}

func parseTemplates() (map[string]*template.Template, error) {
	base, err := template.New("base").Funcs(funcs()).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("web templates: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, fmt.Errorf("web template %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// randomToken returns a 256-bit URL-safe random value.
func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never happens on supported systems
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func equalTokens(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
