package web

import (
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/sitewarden/sitewarden/control-plane/auth"
)

// Pages lists every route of the UI; a feature adds its method here
// (doc.go, "How to add a page").
func (s *Server) Pages() []Page {
	return slices.Concat(
		s.sessionPages(),
		s.overviewPages(),
		s.escalationPages(),
		s.approvalPages(),
		s.sitePages(),
		s.tokenPages(),
		s.auditPages(),
		s.reportPages(),
		s.samplePages(),
		s.scopePages(),
	)
}

func (s *Server) sessionPages() []Page {
	return []Page{
		{Method: "GET", Pattern: "/login", h: s.loginForm},
		{Method: "POST", Pattern: "/login", h: s.login},
		{Method: "GET", Pattern: "/setup", h: s.setupForm},
		{Method: "POST", Pattern: "/setup", h: s.setup},
		{Method: "POST", Pattern: "/logout", Perm: auth.PermRead, h: s.logout},
	}
}

// loginCookie carries the double-submit token of the login and setup
// forms, which come before any session.
const loginCookie = "sw_login"

type loginData struct {
	Token, Next, User, Error string
}

func (s *Server) preSessionToken(w http.ResponseWriter) string {
	tok := randomToken()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: tok, Path: "/", HttpOnly: true, Secure: !s.cfg.InsecureCookies,
		SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	return tok
}

func checkPreSession(r *http.Request) error {
	c, err := r.Cookie(loginCookie)
	if err != nil || !equalTokens(c.Value, r.PostForm.Get("token")) {
		return errLoginCSRF
	}
	return nil
}

// localPath keeps a redirect target on this site.
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	if p, err := s.d.Sessions.Authenticate(r); err == nil {
		http.Redirect(w, r, localPath(r.URL.Query().Get("next")), http.StatusSeeOther)
		_ = p
		return nil
	}
	return s.render(w, r, auth.Principal{}, "login", "Sign in", loginData{Token: s.preSessionToken(w), Next: localPath(r.URL.Query().Get("next"))})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	if err := checkPreSession(r); err != nil {
		return err
	}
	user, next := r.PostForm.Get("user"), localPath(r.PostForm.Get("next"))
	cookie, _, _, err := s.d.Sessions.Login(r.Context(), user, r.PostForm.Get("password"), remoteIP(r))
	if err != nil {
		msg := "wrong account name or password"
		status := http.StatusUnauthorized
		switch {
		case errors.Is(err, auth.ErrRateLimited):
			msg, status = "too many failed sign-ins; wait 15 minutes", http.StatusTooManyRequests
		case !errors.Is(err, auth.ErrBadCredentials):
			return err
		}
		return s.renderStatus(w, r, auth.Principal{}, status, "login", "Sign in", loginData{Token: s.preSessionToken(w), Next: next, User: user, Error: msg})
	}
	http.SetCookie(w, s.d.Sessions.SessionCookie(cookie))
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	if err := s.d.Sessions.Logout(r.Context(), r); err != nil {
		return err
	}
	http.SetCookie(w, s.d.Sessions.ClearCookie())
	s.redirect(w, r, "/login", "signed out")
	return nil
}

func (s *Server) setupForm(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	return s.render(w, r, auth.Principal{}, "setup", "Set your password", loginData{Token: s.preSessionToken(w)})
}

func (s *Server) setup(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	if err := checkPreSession(r); err != nil {
		return err
	}
	pw := r.PostForm.Get("password")
	fail := func(msg string) error {
		return s.renderStatus(w, r, auth.Principal{}, http.StatusBadRequest, "setup", "Set your password", loginData{Token: s.preSessionToken(w), Error: msg})
	}
	if pw != r.PostForm.Get("password2") {
		return fail("the two passwords differ")
	}
	name, err := s.d.Sessions.CompleteSetup(r.Context(), strings.TrimPrefix(strings.TrimSpace(r.PostForm.Get("setup")), "#"), pw)
	switch {
	case errors.Is(err, auth.ErrWeakPassword):
		return fail(err.Error())
	case errors.Is(err, auth.ErrSetup):
		return fail("the setup link is wrong, used or expired; ask an admin for a new one")
	case err != nil:
		return err
	}
	s.redirect(w, r, "/login?next=/", "password set for "+name+"; sign in")
	return nil
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
