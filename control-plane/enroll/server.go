package enroll

import (
	"crypto/ed25519"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/protocol"
)

// HTTP paths of the enrollment endpoint.
const (
	PathEnroll = "/v1/enroll"
	PathRenew  = "/v1/renew"
)

// Request is the body of an enroll or renew call.
type Request struct {
	// TokenSecret is the token's secret, base64url (enroll only).
	TokenSecret []byte `json:"token_secret,omitempty"`
	// CSR is the DER certificate request.
	CSR []byte `json:"csr"`
	// AuditKey is the site's audit log public key (ed25519, 32 bytes,
	// base64): required at enrollment, optional at renewal (a renewal that
	// sends one replaces the key held). The sync server verifies the site's
	// checkpoint signatures with it.
	AuditKey []byte `json:"audit_key,omitempty"`
	// Site is the name of the site to enroll with a fleet token (the
	// runner's site_name or host name; protocol.ValidName). A one-site
	// token names its own site and ignores it.
	Site string `json:"site,omitempty"`
}

// Response is the body of a successful call.
type Response struct {
	Certificate string `json:"certificate"` // PEM
	CA          string `json:"ca"`          // PEM
	// ScopeKey is the control plane's scope-signing ed25519 public key: the
	// runner verifies every scope bundle with it.
	ScopeKey []byte `json:"scope_key"`
}

// ErrorResponse is the body of a refused call.
type ErrorResponse struct {
	Code  string `json:"code"`
	Error string `json:"error"`
}

// Error codes of ErrorResponse.
const (
	CodeUnknownToken = "unknown_token"
	CodeTokenUsed    = "token_used"
	CodeTokenExpired = "token_expired"
	// CodeTokenRevoked: the token was revoked ('sitewarden token revoke').
	CodeTokenRevoked = "token_revoked"
	// CodeTokenExhausted: a fleet token has enrolled all the sites it may.
	CodeTokenExhausted = "token_exhausted"
	// CodeSiteExists: a fleet token was asked to enroll an existing site.
	CodeSiteExists = "site_exists"
	// CodeSiteName: a fleet token needs a valid site name in the request.
	CodeSiteName     = "site_name"
	CodeBadRequest   = "bad_request"
	CodeUnauthorized = "unauthorized"
	CodeInternal     = "internal"
)

// Config configures the enrollment endpoint.
type Config struct {
	// Tenant names the MSP this control plane serves.
	Tenant string
	// CertValidity is how long a site certificate is valid.
	CertValidity time.Duration
}

// DefaultConfig returns the embedded defaults.
func DefaultConfig() Config {
	return Config{Tenant: "default", CertValidity: 90 * 24 * time.Hour}
}

// Validate checks c.
func (c Config) Validate() error {
	if !ValidName(c.Tenant) {
		return fmt.Errorf("enroll config: tenant %q: use 1-63 letters, digits, '-', '_' or '.'", c.Tenant)
	}
	if c.CertValidity < time.Minute {
		return fmt.Errorf("enroll config: certificate validity %s is below one minute", c.CertValidity)
	}
	return nil
}

// Server serves enrollment and renewal over HTTPS.
type Server struct {
	cfg      Config
	store    store.Store
	ca       *CA
	scopeKey ed25519.PublicKey
	log      *slog.Logger
	now      func() time.Time
}

// NewServer returns an enrollment server that hands out scopeKey (the
// scope-signing public key) with every certificate. now may be nil
// (time.Now).
func NewServer(cfg Config, s store.Store, ca *CA, scopeKey ed25519.PublicKey, log *slog.Logger, now func() time.Time) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(scopeKey) != ed25519.PublicKeySize {
		return nil, errors.New("enroll server: scope-signing public key is missing or not ed25519")
	}
	if now == nil {
		now = time.Now
	}
	return &Server{cfg: cfg, store: s, ca: ca, scopeKey: scopeKey, log: log, now: now}, nil
}

// TLSConfig returns the TLS configuration for the enrollment listener:
// TLS 1.3, cert as the serving certificate, client certificates verified
// against the CA when presented (renewal needs one, enrollment none).
func (s *Server) TLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    s.ca.Pool(),
		NextProtos:   []string{"http/1.1"},
	}
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathEnroll, s.enroll)
	mux.HandleFunc("POST "+PathRenew, s.renew)
	return mux
}

func (s *Server) readRequest(w http.ResponseWriter, r *http.Request) (Request, bool) {
	var req Request
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "request body is not an enrollment request: "+err.Error())
		return req, false
	}
	return req, true
}

func (s *Server) enroll(w http.ResponseWriter, r *http.Request) {
	req, ok := s.readRequest(w, r)
	if !ok {
		return
	}
	if len(req.AuditKey) != ed25519.PublicKeySize {
		writeError(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf(
			"the request carries no ed25519 audit public key (%d bytes, want %d); upgrade the runner, then enroll with the same token", len(req.AuditKey), ed25519.PublicKeySize))
		return
	}
	now := s.now()
	hash := SecretHash(req.TokenSecret)
	if len(req.TokenSecret) != 0 {
		if t, err := s.store.TokenByHash(r.Context(), hash); err == nil && t.Fleet {
			s.enrollFleet(w, r, req, t, now)
			return
		}
	}
	tok, err := s.store.ConsumeToken(r.Context(), hash, now)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.log.Warn("enrollment refused", "reason", CodeUnknownToken, "remote", r.RemoteAddr)
		writeError(w, http.StatusUnauthorized, CodeUnknownToken,
			"this control plane never issued this token (it was altered, forged, or made by another control plane); create a new one with 'sitewarden token create'")
		return
	case errors.Is(err, store.ErrTokenUsed):
		s.log.Warn("enrollment refused", "reason", CodeTokenUsed, "client", tok.Client, "site", tok.Site, "remote", r.RemoteAddr)
		writeError(w, http.StatusConflict, CodeTokenUsed, fmt.Sprintf(
			"this token already enrolled site %s/%s at %s; a token works once: create a new one with 'sitewarden token create'",
			tok.Client, tok.Site, tok.UsedAt.Format(time.RFC3339)))
		return
	case errors.Is(err, store.ErrTokenExpired):
		s.log.Warn("enrollment refused", "reason", CodeTokenExpired, "client", tok.Client, "site", tok.Site, "remote", r.RemoteAddr)
		writeError(w, http.StatusGone, CodeTokenExpired, fmt.Sprintf(
			"this token expired at %s; create a new one with 'sitewarden token create'", tok.ExpiresAt.Format(time.RFC3339)))
		return
	case errors.Is(err, store.ErrTokenRevoked):
		s.log.Warn("enrollment refused", "reason", CodeTokenRevoked, "token_id", tok.ID(), "client", tok.Client, "site", tok.Site, "remote", r.RemoteAddr)
		writeError(w, http.StatusGone, CodeTokenRevoked, fmt.Sprintf(
			"this token was revoked at %s; ask the MSP for a new one ('sitewarden token create')", tok.RevokedAt.Format(time.RFC3339)))
		return
	case err != nil:
		s.log.Error("enrollment failed", "err", err)
		writeError(w, http.StatusInternalServerError, CodeInternal, "the control plane could not read its store; try again, and check its log")
		return
	}
	s.issue(w, r, req, tok.Identity, now, "site enrolled")
}

// enrollFleet enrolls a new site named by the request with the fleet token
// tok: the certificate is signed first, then the store checks the token
// again and records site, use and enrollment in one transaction
// (store.FleetTokens.EnrollFleetSite), so that replicas racing on one
// token never enroll more sites than it allows.
func (s *Server) enrollFleet(w http.ResponseWriter, r *http.Request, req Request, tok store.Token, now time.Time) {
	refuse := func(status int, code, msg string) {
		s.log.Warn("fleet enrollment refused", "reason", code, "token_id", tok.ID(), "client", tok.Client, "site", req.Site, "remote", r.RemoteAddr)
		writeError(w, status, code, msg)
	}
	if req.Site == "" {
		refuse(http.StatusBadRequest, CodeSiteName, "this is a fleet token, and the runner sent no site name: upgrade the runner, or enroll with a one-site token ('sitewarden token create --client C --site S')")
		return
	}
	if !ValidName(req.Site) {
		refuse(http.StatusBadRequest, CodeSiteName, fmt.Sprintf("site name %q is not valid (%s); set site_name in the runner's config.yaml (MSI property SITE_NAME)", req.Site, protocol.NameRule))
		return
	}
	id := store.Identity{Tenant: tok.Tenant, Client: tok.Client, Site: req.Site}
	cert, err := s.ca.SignSite(req.CSR, id, now, s.cfg.CertValidity)
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
		return
	}
	serial := hex.EncodeToString(cert.SerialNumber.Bytes())
	site := store.Site{Identity: id, CertSerial: serial, CertNotAfter: cert.NotAfter, EnrolledAt: now, AuditKey: req.AuditKey}
	after, err := s.store.EnrollFleetSite(r.Context(), tok.Hash, site, now)
	switch {
	case errors.Is(err, store.ErrSiteExists):
		refuse(http.StatusConflict, CodeSiteExists, fmt.Sprintf(
			"site %s/%s is already enrolled, and a fleet token never re-keys or takes over an existing site: give this machine another name (site_name in config.yaml, MSI property SITE_NAME, SITEWARDEN_SITE_NAME in /etc/default/sitewarden-runner), or, if it replaces that site, enroll it with a one-site token ('sitewarden token create --client %s --site %s')",
			id.Client, id.Site, id.Client, id.Site))
		return
	case errors.Is(err, store.ErrTokenExhausted):
		refuse(http.StatusConflict, CodeTokenExhausted, fmt.Sprintf(
			"this fleet token has enrolled the %d sites it allows; create a new one with 'sitewarden token create --client %s --fleet --uses N'", tok.MaxUses, tok.Client))
		return
	case errors.Is(err, store.ErrTokenExpired):
		refuse(http.StatusGone, CodeTokenExpired, fmt.Sprintf(
			"this fleet token expired at %s; create a new one with 'sitewarden token create --client %s --fleet'", tok.ExpiresAt.Format(time.RFC3339), tok.Client))
		return
	case errors.Is(err, store.ErrTokenRevoked):
		refuse(http.StatusGone, CodeTokenRevoked, "this fleet token was revoked; ask the MSP for a new one ('sitewarden token create --fleet')")
		return
	case err != nil:
		s.log.Error("fleet enrollment failed", "token_id", tok.ID(), "err", err)
		writeError(w, http.StatusInternalServerError, CodeInternal, "the control plane could not record the site; try again, and check its log")
		return
	}
	s.log.Info("site enrolled with fleet token", "token_id", tok.ID(), "tenant", id.Tenant, "client", id.Client, "site", id.Site,
		"serial", serial, "not_after", cert.NotAfter, "uses", after.Uses, "max_uses", after.MaxUses, "remote", r.RemoteAddr)
	s.respond(w, cert.Raw)
}

func (s *Server) renew(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		writeError(w, http.StatusUnauthorized, CodeUnauthorized, "renewal needs the site's current certificate; enroll again with a new token if it has expired")
		return
	}
	id, err := IdentityFromCert(r.TLS.VerifiedChains[0][0])
	if err != nil {
		writeError(w, http.StatusUnauthorized, CodeUnauthorized, err.Error())
		return
	}
	req, ok := s.readRequest(w, r)
	if !ok {
		return
	}
	if len(req.AuditKey) != 0 && len(req.AuditKey) != ed25519.PublicKeySize {
		writeError(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("audit key has %d bytes, want %d (ed25519)", len(req.AuditKey), ed25519.PublicKeySize))
		return
	}
	s.issue(w, r, req, id, s.now(), "site certificate renewed")
}

func (s *Server) issue(w http.ResponseWriter, r *http.Request, req Request, id store.Identity, now time.Time, msg string) {
	cert, err := s.ca.SignSite(req.CSR, id, now, s.cfg.CertValidity)
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
		return
	}
	serial := hex.EncodeToString(cert.SerialNumber.Bytes())
	if err := s.store.UpsertSite(r.Context(), store.Site{Identity: id, CertSerial: serial, CertNotAfter: cert.NotAfter, EnrolledAt: now, AuditKey: req.AuditKey}); err != nil {
		s.log.Error("record site", "err", err)
		writeError(w, http.StatusInternalServerError, CodeInternal, "the control plane could not record the site; try again, and check its log")
		return
	}
	s.log.Info(msg, "tenant", id.Tenant, "client", id.Client, "site", id.Site, "serial", serial, "not_after", cert.NotAfter)
	s.respond(w, cert.Raw)
}

// respond writes the success answer for the site certificate der.
func (s *Server) respond(w http.ResponseWriter, der []byte) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(Response{
		Certificate: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		CA:          string(s.ca.PEM()),
		ScopeKey:    s.scopeKey,
	})
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(ErrorResponse{Code: code, Error: msg})
}
