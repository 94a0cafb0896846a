package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/protocol"
)

// FleetEnrollFunc creates a fleet token for a client, enrolling up to uses
// new sites until ttl from now, and returns it encoded with its expiry.
type FleetEnrollFunc func(ctx context.Context, client string, uses int, ttl time.Duration) (string, time.Time, error)

// WithFleetEnroll lets the server issue fleet tokens
// (POST /api/v1/enrollment-tokens with "fleet": true).
func WithFleetEnroll(f FleetEnrollFunc) Option {
	return func(s *Server) { s.fleetEnroll = f }
}

// EnrollTokenView is an enrollment token as the API lists it: its ID (the
// first hex digits of its secret's hash), never the secret or the hash.
type EnrollTokenView struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"` // site or fleet
	Client    string    `json:"client"`
	Site      string    `json:"site,omitempty"`
	Uses      int       `json:"uses"`
	MaxUses   int       `json:"max_uses"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	// State is usable, used, expired or revoked at the time of the answer.
	State string `json:"state"`
}

// NewEnrollTokenView returns t as the API and the CLI list it, in its state
// at now.
func NewEnrollTokenView(t store.Token, now time.Time) EnrollTokenView {
	return EnrollTokenView{ID: t.ID(), Kind: t.Kind(), Client: t.Client, Site: t.Site, Uses: t.Uses, MaxUses: t.MaxUses,
		CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, RevokedAt: t.RevokedAt, State: t.State(now)}
}

// EnrollmentView names the token that enrolled a site.
type EnrollmentView struct {
	TokenID    string    `json:"token_id"`
	Kind       string    `json:"kind"` // site or fleet
	EnrolledAt time.Time `json:"enrolled_at"`
}

// tokenIDOf returns the ID of an encoded token (store.TokenID of its
// secret's hash); "" when it does not decode.
func tokenIDOf(encoded string) string {
	t, err := protocol.DecodeToken(encoded)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(t.Secret)
	return store.TokenID(hex.EncodeToString(sum[:]))
}

// EnrollTokens lists a client's enrollment tokens, newest first.
func (s *Server) EnrollTokens(ctx context.Context, p auth.Principal, client string) ([]EnrollTokenView, error) {
	if err := check(p, auth.PermEnroll, client); err != nil {
		return nil, err
	}
	ts, err := s.st.Tokens(ctx, client, s.cfg.MaxPage)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := make([]EnrollTokenView, 0, len(ts))
	for _, t := range ts {
		out = append(out, NewEnrollTokenView(t, now))
	}
	return out, nil
}

// RevokeEnrollToken revokes a client's enrollment token (fleet or
// one-site) at once.
func (s *Server) RevokeEnrollToken(ctx context.Context, p auth.Principal, client, id string) (EnrollTokenView, error) {
	if err := check(p, auth.PermEnroll, client); err != nil {
		return EnrollTokenView{}, err
	}
	t, err := s.st.RevokeToken(ctx, client, id, s.now())
	switch {
	case errors.Is(err, store.ErrInvalid):
		return EnrollTokenView{}, apiErr(http.StatusBadRequest, "invalid", "token id must be 16 hex digits", "list the client's tokens: GET /api/v1/enrollment-tokens?client="+client)
	case err != nil:
		return EnrollTokenView{}, err
	}
	s.log.Info("enrollment token revoked", "token_id", t.ID(), "client", client, "fleet", t.Fleet, "uses", t.Uses, "user", p.User)
	return NewEnrollTokenView(t, s.now()), nil
}

func (s *Server) listEnrollTokens(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	client, err := clientOf(r, p)
	if err != nil {
		return err
	}
	out, err := s.EnrollTokens(r.Context(), p, client)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, Page[EnrollTokenView]{Items: out})
	return nil
}

func (s *Server) revokeEnrollToken(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	client, err := clientOf(r, p)
	if err != nil {
		return err
	}
	v, err := s.RevokeEnrollToken(r.Context(), p, client, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// siteEnrollment returns who enrolled a site; nil when nothing is
// recorded.
func (s *Server) siteEnrollment(ctx context.Context, client, site string) (*EnrollmentView, error) {
	ti, err := s.st.SiteEnrollment(ctx, client, site)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	v := &EnrollmentView{TokenID: ti.ID, Kind: "site", EnrolledAt: ti.UsedAt}
	if ti.Fleet {
		v.Kind = "fleet"
	}
	return v, nil
}
