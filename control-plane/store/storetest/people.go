package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/store"
)

func testUsers(t *testing.T, s store.Store) {
	c := ctx(t)
	if n, err := s.CountUsers(c); err != nil || n != 0 {
		t.Fatalf("CountUsers on empty store = %d, %v; want 0", n, err)
	}
	u := store.User{Name: "ann", Role: "admin", SetupHash: "h1", SetupExpires: t0.Add(time.Hour), CreatedAt: t0}
	if err := s.CreateUser(c, u); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(c, u); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second CreateUser: %v, want ErrConflict", err)
	}
	if err := s.CreateUser(c, store.User{Name: "bob", Role: "client_viewer", Client: "acme", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	u.PasswordHash, u.SetupHash, u.SetupExpires, u.Disabled = "$argon2id$x", "", time.Time{}, true
	if err := s.UpdateUser(c, u); err != nil {
		t.Fatal(err)
	}
	got, err := s.User(c, "ann")
	if err != nil {
		t.Fatal(err)
	}
	if got.PasswordHash != "$argon2id$x" || got.SetupHash != "" || !got.Disabled || got.Role != "admin" || !got.CreatedAt.Equal(t0) {
		t.Errorf("User after update = %+v", got)
	}
	if err := s.UpdateUser(c, store.User{Name: "nobody", Role: "admin"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateUser of unknown: %v, want ErrNotFound", err)
	}
	if _, err := s.User(c, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("User unknown: %v, want ErrNotFound", err)
	}
	page, err := s.Users(c, 1, 10)
	if err != nil || len(page) != 1 || page[0].Name != "bob" || page[0].Client != "acme" {
		t.Errorf("Users(offset 1) = %+v, %v; want [bob]", page, err)
	}
	if n, _ := s.CountUsers(c); n != 2 {
		t.Errorf("CountUsers = %d, want 2", n)
	}
}

func testSessions(t *testing.T, s store.Store) {
	c := ctx(t)
	if err := s.CreateUser(c, store.User{Name: "ann", Role: "admin", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	se := store.Session{Hash: "s1", User: "ann", CSRF: "c1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := s.CreateSession(c, se); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(c, se); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate session: %v, want ErrConflict", err)
	}
	got, err := s.Session(c, "s1", t0.Add(time.Minute))
	if err != nil || got.User != "ann" || got.CSRF != "c1" || !got.ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("Session = %+v, %v", got, err)
	}
	if _, err := s.Session(c, "s1", t0.Add(time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired session: %v, want ErrNotFound", err)
	}
	if err := s.CreateSession(c, store.Session{Hash: "s2", User: "ann", CSRF: "c2", CreatedAt: t0, ExpiresAt: t0.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeleteExpiredSessions(c, t0.Add(time.Hour)); err != nil || n != 1 {
		t.Errorf("DeleteExpiredSessions = %d, %v; want 1", n, err)
	}
	if err := s.DeleteSession(c, "s2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(c, "s2", t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted session: %v, want ErrNotFound", err)
	}
}

func testAPITokens(t *testing.T, s store.Store) {
	c := ctx(t)
	for _, n := range []string{"ann", "bob"} {
		if err := s.CreateUser(c, store.User{Name: n, Role: "supervisor", CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tk := range []store.APIToken{{ID: "t1", Hash: "h1", User: "ann", Name: "laptop", CreatedAt: t0}, {ID: "t2", Hash: "h2", User: "bob", CreatedAt: t0}} {
		if err := s.CreateAPIToken(c, tk); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateAPIToken(c, store.APIToken{ID: "t3", Hash: "h1", User: "ann"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate hash: %v, want ErrConflict", err)
	}
	got, err := s.APITokenByHash(c, "h1")
	if err != nil || got.ID != "t1" || got.User != "ann" || got.Name != "laptop" {
		t.Fatalf("APITokenByHash = %+v, %v", got, err)
	}
	if l, _ := s.APITokens(c, "ann"); len(l) != 1 {
		t.Errorf("APITokens(ann) = %d tokens, want 1", len(l))
	}
	if l, _ := s.APITokens(c, ""); len(l) != 2 {
		t.Errorf("APITokens(all) = %d tokens, want 2", len(l))
	}
	if err := s.DeleteAPIToken(c, "t1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAPIToken(c, "t1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	if _, err := s.APITokenByHash(c, "h1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoked token: %v, want ErrNotFound", err)
	}
}

func testEscalationStates(t *testing.T, s store.Store) {
	c := ctx(t)
	st, err := s.EscalationState(c, "acme", "e1")
	if err != nil || st.ClaimedBy != "" || !st.ResolvedAt.IsZero() {
		t.Fatalf("fresh state = %+v, %v", st, err)
	}
	if err := s.ClaimEscalation(c, "acme", "e1", "ann", t0); err != nil {
		t.Fatal(err)
	}
	if err := s.ClaimEscalation(c, "acme", "e1", "ann", t0); err != nil {
		t.Errorf("reclaim by holder: %v", err)
	}
	if err := s.ClaimEscalation(c, "acme", "e1", "bob", t0); !errors.Is(err, store.ErrConflict) {
		t.Errorf("claim by other: %v, want ErrConflict", err)
	}
	if err := s.ResolveEscalation(c, "acme", "e1", "bob", "x", t0); !errors.Is(err, store.ErrConflict) {
		t.Errorf("resolve by non-holder: %v, want ErrConflict", err)
	}
	if err := s.ResolveEscalation(c, "acme", "e1", "ann", "reset by phone", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.ResolveEscalation(c, "acme", "e1", "ann", "again", t0); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second resolve: %v, want ErrConflict", err)
	}
	st, err = s.EscalationState(c, "acme", "e1")
	if err != nil || st.ClaimedBy != "ann" || st.ResolvedBy != "ann" || st.Note != "reset by phone" || !st.ResolvedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("state = %+v, %v", st, err)
	}
	// Another client's escalation with the same id is independent.
	if err := s.ResolveEscalation(c, "globex", "e1", "bob", "", t0); err != nil {
		t.Errorf("resolve unclaimed of another client: %v", err)
	}
}

func testLookups(t *testing.T, s store.Store) {
	c := ctx(t)
	for i, id := range []string{"a", "b", "c"} {
		if _, err := s.PutItem(c, store.Item{Kind: store.KindApprovalRequest, Client: "acme", Site: "hq", ID: id, Payload: []byte{byte(i)}, ReceivedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := s.ItemsPage(c, store.KindApprovalRequest, "acme", 1, 1)
	if err != nil || len(page) != 1 || page[0].ID != "b" {
		t.Fatalf("ItemsPage(1,1) = %+v, %v; want [b]", page, err)
	}
	it, err := s.Item(c, store.KindApprovalRequest, "acme", "c")
	if err != nil || it.Site != "hq" || it.Payload[0] != 2 {
		t.Errorf("Item = %+v, %v", it, err)
	}
	if _, err := s.Item(c, store.KindEscalation, "acme", "c"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Item of other kind: %v, want ErrNotFound", err)
	}
	if _, err := s.AddGoal(c, store.Goal{Client: "acme", Site: "hq", ID: "g1", Payload: []byte("p")}); err != nil {
		t.Fatal(err)
	}
	g, err := s.Goal(c, "acme", "g1")
	if err != nil || g.Site != "hq" || string(g.Payload) != "p" || g.Cursor == 0 {
		t.Errorf("Goal = %+v, %v", g, err)
	}
	if _, err := s.Goal(c, "globex", "g1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Goal of other client: %v, want ErrNotFound", err)
	}
	if _, err := s.Decision(c, "acme", "a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Decision before one: %v, want ErrNotFound", err)
	}
	if _, err := s.AddDecision(c, store.Decision{Client: "acme", Site: "hq", ApprovalID: "a", Payload: []byte("d")}); err != nil {
		t.Fatal(err)
	}
	if d, err := s.Decision(c, "acme", "a"); err != nil || string(d.Payload) != "d" || d.Site != "hq" {
		t.Errorf("Decision = %+v, %v", d, err)
	}
}
