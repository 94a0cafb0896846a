package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/store"
)

// SetupRequest sets the password of an account from its setup link.
type SetupRequest struct {
	Setup    string `json:"setup"`
	Password string `json:"password"`
}

func (s *Server) setup(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	var req SetupRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	name, err := s.auth.CompleteSetup(r.Context(), req.Setup, req.Password)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"user": name})
	return nil
}

// LoginRequest opens a cookie session.
type LoginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// SessionView says who is signed in; CSRFToken is set on login and on GET
// /api/v1/session for cookie sessions.
type SessionView struct {
	User      string `json:"user"`
	Role      string `json:"role"`
	Client    string `json:"client,omitempty"`
	CSRFToken string `json:"csrf_token,omitempty"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	var req LoginRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	cookie, csrf, p, err := s.auth.Login(r.Context(), req.User, req.Password, remoteIP(r))
	if err != nil {
		return err
	}
	http.SetCookie(w, s.auth.SessionCookie(cookie))
	writeJSON(w, http.StatusOK, SessionView{User: p.User, Role: string(p.Role), Client: p.Client, CSRFToken: csrf})
	return nil
}

func (s *Server) whoami(w http.ResponseWriter, _ *http.Request, p auth.Principal) error {
	writeJSON(w, http.StatusOK, SessionView{User: p.User, Role: string(p.Role), Client: p.Client, CSRFToken: p.CSRF})
	return nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	if err := s.auth.Logout(r.Context(), r); err != nil {
		return err
	}
	http.SetCookie(w, s.auth.ClearCookie())
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// EnrollRequest asks for an enrollment token: a one-time token for Site,
// or with Fleet a token enrolling up to Uses new sites of Client.
type EnrollRequest struct {
	Client string `json:"client"`
	Site   string `json:"site,omitempty"`
	TTL    string `json:"ttl,omitempty"` // Go duration, default 24h
	Fleet  bool   `json:"fleet,omitempty"`
	Uses   int    `json:"uses,omitempty"` // fleet: 1-10000
}

func (s *Server) createEnrollToken(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req EnrollRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	tok, exp, err := s.CreateEnrollToken(r.Context(), p, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"token": tok, "id": tokenIDOf(tok), "expires_at": exp, "fleet": req.Fleet})
	return nil
}

// TokenRequest creates an API token for the caller.
type TokenRequest struct {
	Name string `json:"name"`
	TTL  string `json:"ttl,omitempty"` // Go duration; empty: no expiry
}

// TokenView is an API token without its secret.
type TokenView struct {
	ID        string    `json:"id"`
	User      string    `json:"user"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

func tokenView(t store.APIToken) TokenView {
	return TokenView{ID: t.ID, User: t.User, Name: t.Name, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt}
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req TokenRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	var ttl time.Duration
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 {
			return apiErr(http.StatusBadRequest, "invalid", "ttl must be a positive duration like 720h", "")
		}
		ttl = d
	}
	sec, t, err := s.auth.CreateAPIToken(r.Context(), p.User, req.Name, ttl)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"token": sec, "info": tokenView(t), "note": "the token is shown once; store it now"})
	return nil
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	user := p.User
	if auth.Allowed(p.Role, auth.PermAdmin) && r.URL.Query().Get("all") == "true" {
		user = ""
	}
	ts, err := s.st.APITokens(r.Context(), user)
	if err != nil {
		return err
	}
	out := make([]TokenView, 0, len(ts))
	for _, t := range ts {
		out = append(out, tokenView(t))
	}
	writeJSON(w, http.StatusOK, Page[TokenView]{Items: out})
	return nil
}

func (s *Server) deleteToken(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id := r.PathValue("id")
	ts, err := s.st.APITokens(r.Context(), "")
	if err != nil {
		return err
	}
	for _, t := range ts {
		if t.ID != id {
			continue
		}
		if t.User != p.User && !auth.Allowed(p.Role, auth.PermAdmin) {
			return errNotFound // do not reveal other people's tokens
		}
		if err := s.st.DeleteAPIToken(r.Context(), id); err != nil {
			return err
		}
		s.log.Info("api token revoked", "token_id", id, "user", p.User)
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return errNotFound
}

// UserView is an account without its secrets.
type UserView struct {
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	Client    string    `json:"client,omitempty"`
	Disabled  bool      `json:"disabled"`
	SetUp     bool      `json:"set_up"`
	CreatedAt time.Time `json:"created_at"`
}

func userView(u store.User) UserView {
	return UserView{Name: u.Name, Role: u.Role, Client: u.Client, Disabled: u.Disabled, SetUp: u.PasswordHash != "", CreatedAt: u.CreatedAt}
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	off, lim, err := s.pageArgs(r)
	if err != nil {
		return err
	}
	us, err := s.st.Users(r.Context(), off, lim+1)
	if err != nil {
		return err
	}
	out := make([]UserView, 0, len(us))
	for _, u := range us {
		out = append(out, userView(u))
	}
	writeJSON(w, http.StatusOK, page(out, off, lim))
	return nil
}

// UserRequest creates an account.
type UserRequest struct {
	Name   string `json:"name"`
	Role   string `json:"role"`
	Client string `json:"client,omitempty"`
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req UserRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Name == "" || len(req.Name) > 64 {
		return apiErr(http.StatusBadRequest, "invalid", "name must be 1-64 characters", "")
	}
	setup, err := s.auth.CreateUser(r.Context(), req.Name, auth.Role(req.Role), req.Client)
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return apiErr(http.StatusConflict, "exists", "an account named "+req.Name+" exists", "pick another name")
		}
		return apiErr(http.StatusBadRequest, "invalid", err.Error(), "")
	}
	s.log.Info("account created", "user", req.Name, "role", req.Role, "by", p.User)
	writeJSON(w, http.StatusCreated, map[string]string{"user": req.Name, "setup": setup,
		"note": "give the setup value to the person once; they set a password with POST /api/v1/setup"})
	return nil
}

// UserPatch changes an account; absent fields stay.
type UserPatch struct {
	Role     *string `json:"role,omitempty"`
	Client   *string `json:"client,omitempty"`
	Disabled *bool   `json:"disabled,omitempty"`
}

func (s *Server) updateUser(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req UserPatch
	if err := decode(r, &req); err != nil {
		return err
	}
	u, err := s.st.User(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	if req.Role != nil {
		if !auth.Role(*req.Role).Valid() {
			return toError(auth.ErrInvalidRole)
		}
		u.Role = *req.Role
	}
	if req.Client != nil {
		u.Client = *req.Client
	}
	if req.Disabled != nil {
		u.Disabled = *req.Disabled
	}
	if u.Role == string(auth.RoleClientViewer) && u.Client == "" {
		return apiErr(http.StatusBadRequest, "invalid", "a client_viewer needs a client", "set client")
	}
	if err := s.st.UpdateUser(r.Context(), u); err != nil {
		return err
	}
	s.log.Info("account changed", "user", u.Name, "role", u.Role, "disabled", u.Disabled, "by", p.User)
	writeJSON(w, http.StatusOK, userView(u))
	return nil
}
