package web

import (
	"net/http"
	"net/url"

	"github.com/sitewarden/sitewarden/control-plane/api"
	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/store"
)

// maxTokenClients bounds how many clients the enrollment token page lists
// when no client is chosen; the client filter reaches the others.
const maxTokenClients = 50

// tokenSitesShown bounds the enrolled sites listed under one fleet token.
const tokenSitesShown = 20

const tokensPath = "/sites/enrollment-tokens"

func (s *Server) tokenPages() []Page {
	return []Page{
		{Method: "GET", Pattern: tokensPath, Perm: auth.PermEnroll, h: s.enrollTokens},
		{Method: "POST", Pattern: tokensPath + "/{client}/{id}/revoke", Perm: auth.PermEnroll, h: s.revokeEnrollToken},
	}
}

// tokenRow is one enrollment token as the page lists it: the API's view
// (its ID, never the secret or the hash) and, for a fleet token, the sites
// it enrolled.
type tokenRow struct {
	api.EnrollTokenView
	Sites      []store.TokenSite
	MoreSites  int    // enrolled sites not listed
	RevokePath string // the revoke form's action
}

type tokenGroup struct {
	Client string
	Tokens []tokenRow
}

type tokensData struct {
	Client    string
	Clients   []string
	Groups    []tokenGroup
	Truncated bool // more clients than maxTokenClients: choose one
}

// tokensURL is the token page narrowed to client ("" for every client).
func tokensURL(client string) string {
	if client == "" {
		return tokensPath
	}
	return tokensPath + "?" + url.Values{"client": {client}}.Encode()
}

func (s *Server) enrollTokens(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ctx := r.Context()
	client, err := clientFilter(r, p)
	if err != nil {
		return err
	}
	d := tokensData{Client: client}
	if d.Clients, err = s.d.Store.Clients(ctx); err != nil {
		return err
	}
	clients := []string{client}
	if client == "" {
		clients = d.Clients
		if len(clients) > maxTokenClients {
			clients, d.Truncated = clients[:maxTokenClients], true
		}
	}
	for _, c := range clients {
		views, err := s.d.Actions.EnrollTokens(ctx, p, c)
		if err != nil {
			return err
		}
		if len(views) == 0 {
			continue
		}
		sites, err := s.d.Store.TokenSites(ctx, c, tokenSitesShown)
		if err != nil {
			return err
		}
		g := tokenGroup{Client: c}
		for _, v := range views {
			row := tokenRow{EnrollTokenView: v, RevokePath: tokensPath + "/" + url.PathEscape(c) + "/" + url.PathEscape(v.ID) + "/revoke"}
			if v.Kind == "fleet" {
				row.Sites = sites[v.ID]
				row.MoreSites = max(v.Uses-len(row.Sites), 0)
			}
			g.Tokens = append(g.Tokens, row)
		}
		d.Groups = append(d.Groups, g)
	}
	return s.render(w, r, p, "tokens", "Enrollment tokens", d)
}

// revokeEnrollToken revokes a token through the API's shared action (the
// same checks, log line and idempotence as DELETE on the API).
func (s *Server) revokeEnrollToken(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	client := r.PathValue("client")
	v, err := s.d.Actions.RevokeEnrollToken(r.Context(), p, client, r.PathValue("id"))
	if err != nil {
		return err
	}
	s.redirect(w, r, tokensURL(client), "token "+v.ID+" of "+client+" revoked: it enrolls nothing more")
	return nil
}
