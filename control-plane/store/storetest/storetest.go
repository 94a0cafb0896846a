// Package storetest is the contract suite every store.Store implementation
// must pass: call Run from the implementation's tests with a function that
// opens a fresh, empty store.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/store"
)

// Open returns a new, empty store; Run closes it.
type Open func(t *testing.T) store.Store

// Run runs the contract suite against stores made by open.
func Run(t *testing.T, open Open) {
	tests := []contractCase[store.Store]{
		{"Sites", testSites},
		{"TokenConsumeOnce", testTokens},
		{"TokenConcurrentConsume", testTokenRace},
		{"FleetTokens", testFleetTokens},
		{"FleetTokenConcurrentEnroll", testFleetRace},
		{"ScopeVersionsOnlyGrow", testScopes},
		{"GoalsCursorAndIsolation", testGoals},
		{"ItemsIdempotent", testItems},
		{"Decisions", testDecisions},
		{"Checkpoints", testCheckpoints},
		{"AuditMirror", testAudit},
		{"EmptyKeysRefused", testInvalid},
		{"Users", testUsers},
		{"SessionsExpire", testSessions},
		{"APITokens", testAPITokens},
		{"EscalationClaimResolve", testEscalationStates},
		{"ItemGoalDecisionLookups", testLookups},
	}
	runCases(t, open, tests)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

var (
	siteA1 = store.Identity{Tenant: "msp", Client: "acme", Site: "hq"}
	siteA2 = store.Identity{Tenant: "msp", Client: "acme", Site: "branch"}
	siteB1 = store.Identity{Tenant: "msp", Client: "globex", Site: "hq"}
	t0     = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
)

func testSites(t *testing.T, s store.Store) {
	c := ctx(t)
	if _, err := s.Site(c, "acme", "hq"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Site before enrollment: %v, want ErrNotFound", err)
	}
	if err := s.TouchSite(c, siteA1, t0, "v1", nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("TouchSite before enrollment: %v, want ErrNotFound", err)
	}
	for _, id := range []store.Identity{siteA1, siteA2, siteB1} {
		if err := s.UpsertSite(c, store.Site{Identity: id, CertSerial: "01", CertNotAfter: t0.Add(time.Hour), EnrolledAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.TouchSite(c, siteA1, t0.Add(time.Minute), "1.2.3", []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertSite(c, store.Site{Identity: siteA1, CertSerial: "02", CertNotAfter: t0.Add(2 * time.Hour), EnrolledAt: t0}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Site(c, "acme", "hq")
	if err != nil {
		t.Fatal(err)
	}
	if got.CertSerial != "02" || !got.CertNotAfter.Equal(t0.Add(2*time.Hour)) || got.RunnerVersion != "1.2.3" ||
		!got.LastSeen.Equal(t0.Add(time.Minute)) || string(got.Health) != "\x01\x02" || got.Tenant != "msp" {
		t.Errorf("Site = %+v; renewal must keep last-seen and health", got)
	}
	if len(got.AuditKey) != 0 {
		t.Errorf("AuditKey = %x, want none (none was given)", got.AuditKey)
	}
	key := bytes.Repeat([]byte{7}, 32)
	if err := s.UpsertSite(c, store.Site{Identity: siteA1, CertSerial: "03", CertNotAfter: t0.Add(3 * time.Hour), EnrolledAt: t0, AuditKey: key}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertSite(c, store.Site{Identity: siteA1, CertSerial: "04", CertNotAfter: t0.Add(4 * time.Hour), EnrolledAt: t0}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Site(c, "acme", "hq"); err != nil || !bytes.Equal(got.AuditKey, key) || got.CertSerial != "04" {
		t.Errorf("after a renewal without a key: serial %s, AuditKey %x, %v; want 04 and the enrolled key kept", got.CertSerial, got.AuditKey, err)
	}
	key2 := bytes.Repeat([]byte{8}, 32)
	if err := s.UpsertSite(c, store.Site{Identity: siteA1, CertSerial: "05", CertNotAfter: t0.Add(5 * time.Hour), EnrolledAt: t0, AuditKey: key2}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Site(c, "acme", "hq"); err != nil || !bytes.Equal(got.AuditKey, key2) {
		t.Errorf("after re-enrollment with a new key: AuditKey %x, %v; want the new key", got.AuditKey, err)
	}
	if got, err := s.Site(c, "acme", "branch"); err != nil || len(got.AuditKey) != 0 {
		t.Errorf("another site's AuditKey = %x, %v; want none", got.AuditKey, err)
	}
	list, err := s.Sites(c, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Site != "branch" || list[1].Site != "hq" {
		t.Errorf("Sites(acme) = %+v, want branch, hq", list)
	}
}

func testTokens(t *testing.T, s store.Store) {
	c := ctx(t)
	tok := store.Token{Hash: "h1", Identity: siteA1, CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour)}
	if err := s.CreateToken(c, tok); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateToken(c, tok); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate CreateToken: %v, want ErrConflict", err)
	}
	if _, err := s.ConsumeToken(c, "nope", t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown token: %v, want ErrNotFound", err)
	}
	got, err := s.ConsumeToken(c, "h1", t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got.Identity != siteA1 || !got.UsedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("ConsumeToken = %+v", got)
	}
	if _, err := s.ConsumeToken(c, "h1", t0.Add(2*time.Hour)); !errors.Is(err, store.ErrTokenUsed) {
		t.Errorf("second ConsumeToken: %v, want ErrTokenUsed", err)
	}
	exp := store.Token{Hash: "h2", Identity: siteA2, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := s.CreateToken(c, exp); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConsumeToken(c, "h2", t0.Add(time.Hour)); !errors.Is(err, store.ErrTokenExpired) {
		t.Errorf("token at its expiry: %v, want ErrTokenExpired", err)
	}
	if _, err := s.ConsumeToken(c, "h2", t0.Add(time.Minute)); err != nil {
		t.Errorf("expired attempt must leave the token unused: %v", err)
	}
}

func testTokenRace(t *testing.T, s store.Store) {
	c := ctx(t)
	if err := s.CreateToken(c, store.Token{Hash: "race", Identity: siteA1, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	const n = 8
	won := raceWins(t, n, store.ErrTokenUsed, "concurrent consume", func(i int) error {
		_, err := s.ConsumeToken(c, "race", t0)
		return err
	})
	if won != 1 {
		t.Errorf("%d of %d concurrent consumes succeeded, want exactly 1", won, n)
	}
}

func testScopes(t *testing.T, s store.Store) {
	c := ctx(t)
	if _, err := s.LatestScope(c, "acme"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("LatestScope empty: %v", err)
	}
	for _, v := range []uint64{1, 2, 5} {
		if err := s.PutScope(c, store.ScopeVersion{Client: "acme", Version: v, Bundle: []byte(fmt.Sprint("a", v)), CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutScope(c, store.ScopeVersion{Client: "globex", Version: 1, Bundle: []byte("b1")}); err != nil {
		t.Fatal(err)
	}
	for _, v := range []uint64{5, 3} {
		if err := s.PutScope(c, store.ScopeVersion{Client: "acme", Version: v, Bundle: []byte("x")}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("PutScope v%d after v5: %v, want ErrConflict", v, err)
		}
	}
	if err := s.PutScope(c, store.ScopeVersion{Client: "acme", Version: 0}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("PutScope v0: %v, want ErrInvalid", err)
	}
	got, err := s.LatestScope(c, "acme")
	if err != nil || got.Version != 5 || string(got.Bundle) != "a5" {
		t.Errorf("LatestScope(acme) = %+v, %v; want v5", got, err)
	}
	got, err = s.LatestScope(c, "globex")
	if err != nil || got.Version != 1 || string(got.Bundle) != "b1" {
		t.Errorf("LatestScope(globex) = %+v, %v; want v1", got, err)
	}
}

func testGoals(t *testing.T, s store.Store) {
	c := ctx(t)
	var cursors []uint64
	for i, g := range []store.Goal{
		{Client: "acme", Site: "hq", ID: "g1", Payload: []byte("1")},
		{Client: "globex", Site: "hq", ID: "g1", Payload: []byte("b")},
		{Client: "acme", Site: "branch", ID: "g2", Payload: []byte("2")},
		{Client: "acme", Site: "hq", ID: "g3", Payload: []byte("3")},
	} {
		cur, err := s.AddGoal(c, g)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && cur <= cursors[i-1] {
			t.Errorf("cursor %d after %d: cursors must grow", cur, cursors[i-1])
		}
		cursors = append(cursors, cur)
	}
	again, err := s.AddGoal(c, store.Goal{Client: "acme", Site: "hq", ID: "g1", Payload: []byte("changed")})
	if err != nil || again != cursors[0] {
		t.Errorf("re-adding g1 = %d, %v; want the first cursor %d", again, err, cursors[0])
	}
	got, err := s.GoalsAfter(c, "acme", "hq", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "g1" || string(got[0].Payload) != "1" || got[1].ID != "g3" {
		t.Errorf("GoalsAfter(acme/hq, 0) = %+v; want g1 (unchanged), g3", got)
	}
	got, err = s.GoalsAfter(c, "acme", "hq", got[0].Cursor, 10)
	if err != nil || len(got) != 1 || got[0].ID != "g3" {
		t.Errorf("GoalsAfter(acme/hq, g1) = %+v, %v; want g3", got, err)
	}
	got, err = s.GoalsAfter(c, "acme", "hq", 0, 1)
	if err != nil || len(got) != 1 {
		t.Errorf("limit 1 gave %d goals, %v", len(got), err)
	}
	got, err = s.GoalsAfter(c, "globex", "hq", 0, 10)
	if err != nil || len(got) != 1 || string(got[0].Payload) != "b" {
		t.Errorf("GoalsAfter(globex/hq) = %+v, %v; want only globex's goal", got, err)
	}
}

func testItems(t *testing.T, s store.Store) {
	c := ctx(t)
	for _, k := range []store.Kind{store.KindEscalation, store.KindApprovalRequest, store.KindOutcome} {
		it := store.Item{Kind: k, Client: "acme", Site: "hq", ID: "x1", Payload: []byte("first"), ReceivedAt: t0}
		applied, err := s.PutItem(c, it)
		if err != nil || !applied {
			t.Fatalf("PutItem %s = %v, %v; want applied", k, applied, err)
		}
		it.Payload = []byte("second")
		applied, err = s.PutItem(c, it)
		if err != nil || applied {
			t.Errorf("PutItem %s again = %v, %v; want not applied", k, applied, err)
		}
		if applied, err := s.PutItem(c, store.Item{Kind: k, Client: "globex", Site: "hq", ID: "x1", Payload: []byte("b")}); err != nil || !applied {
			t.Errorf("same id for another client = %v, %v; want applied", applied, err)
		}
		got, err := s.Items(c, k, "acme", 10)
		if err != nil || len(got) != 1 || string(got[0].Payload) != "first" || !got[0].ReceivedAt.Equal(t0) || got[0].Site != "hq" {
			t.Errorf("Items(%s, acme) = %+v, %v", k, got, err)
		}
	}
	if _, err := s.PutItem(c, store.Item{Kind: "bogus", Client: "acme", Site: "hq", ID: "1"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("bogus kind: %v, want ErrInvalid", err)
	}
}

func testDecisions(t *testing.T, s store.Store) {
	c := ctx(t)
	c1, err := s.AddDecision(c, store.Decision{Client: "acme", Site: "hq", ApprovalID: "a1", Payload: []byte("yes")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddDecision(c, store.Decision{Client: "globex", Site: "hq", ApprovalID: "a1", Payload: []byte("b")}); err != nil {
		t.Fatal(err)
	}
	again, err := s.AddDecision(c, store.Decision{Client: "acme", Site: "hq", ApprovalID: "a1", Payload: []byte("no")})
	if err != nil || again != c1 {
		t.Errorf("second decision for a1 = %d, %v; want %d (first stands)", again, err, c1)
	}
	got, err := s.DecisionsAfter(c, "acme", "hq", 0, 10)
	if err != nil || len(got) != 1 || string(got[0].Payload) != "yes" {
		t.Errorf("DecisionsAfter(acme) = %+v, %v", got, err)
	}
	got, err = s.DecisionsAfter(c, "acme", "hq", c1, 10)
	if err != nil || len(got) != 0 {
		t.Errorf("DecisionsAfter(acme, %d) = %+v, %v; want none", c1, got, err)
	}
}

func testCheckpoints(t *testing.T, s store.Store) {
	c := ctx(t)
	if _, err := s.LatestCheckpoint(c, "acme", "hq"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("LatestCheckpoint empty: %v", err)
	}
	cp := store.Checkpoint{Client: "acme", Site: "hq", Size: 10, Root: []byte("r10"), Note: []byte("n"), Cosigned: []byte("c"), WitnessedAt: t0}
	if err := s.PutCheckpoint(c, cp); err != nil {
		t.Fatal(err)
	}
	if err := s.PutCheckpoint(c, cp); err != nil {
		t.Errorf("same checkpoint again: %v, want nil", err)
	}
	bad := cp
	bad.Root = []byte("other")
	if err := s.PutCheckpoint(c, bad); !errors.Is(err, store.ErrConflict) {
		t.Errorf("same size, other root: %v, want ErrConflict", err)
	}
	small := cp
	small.Size = 5
	if err := s.PutCheckpoint(c, small); !errors.Is(err, store.ErrConflict) {
		t.Errorf("smaller checkpoint: %v, want ErrConflict", err)
	}
	bigger := cp
	bigger.Size, bigger.Root = 20, []byte("r20")
	if err := s.PutCheckpoint(c, bigger); err != nil {
		t.Fatal(err)
	}
	got, err := s.LatestCheckpoint(c, "acme", "hq")
	if err != nil || got.Size != 20 || string(got.Root) != "r20" || string(got.Cosigned) != "c" {
		t.Errorf("LatestCheckpoint = %+v, %v", got, err)
	}
	if _, err := s.LatestCheckpoint(c, "globex", "hq"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another client's checkpoint: %v, want ErrNotFound", err)
	}
}

func testAudit(t *testing.T, s store.Store) {
	c := ctx(t)
	recs := [][]byte{[]byte("r0"), []byte("r1"), []byte("r2")}
	if err := s.AppendAudit(c, "acme", "hq", 0, recs[:2]); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(c, "acme", "hq", 1, recs[1:]); err != nil {
		t.Fatalf("overlapping resend: %v", err)
	}
	if err := s.AppendAudit(c, "acme", "hq", 5, recs[:1]); !errors.Is(err, store.ErrConflict) {
		t.Errorf("gap: %v, want ErrConflict", err)
	}
	if err := s.AppendAudit(c, "acme", "hq", 2, [][]byte{[]byte("rewritten"), []byte("r3")}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("rewrite: %v, want ErrConflict", err)
	}
	n, err := s.AuditSize(c, "acme", "hq")
	if err != nil || n != 3 {
		t.Errorf("AuditSize = %d, %v; want 3 (a refused batch writes nothing)", n, err)
	}
	got, err := s.AuditRecords(c, "acme", "hq", 1, 10)
	if err != nil || len(got) != 2 || string(got[0]) != "r1" || string(got[1]) != "r2" {
		t.Errorf("AuditRecords(1) = %q, %v", got, err)
	}
	if n, err := s.AuditSize(c, "globex", "hq"); err != nil || n != 0 {
		t.Errorf("AuditSize(globex) = %d, %v; want 0", n, err)
	}
}

func testInvalid(t *testing.T, s store.Store) {
	c := ctx(t)
	for name, err := range map[string]error{
		"UpsertSite":  s.UpsertSite(c, store.Site{Identity: store.Identity{Tenant: "msp", Client: "acme"}}),
		"CreateToken": s.CreateToken(c, store.Token{Identity: siteA1}),
		"PutScope":    s.PutScope(c, store.ScopeVersion{Version: 1}),
		"AppendAudit": s.AppendAudit(c, "", "hq", 0, nil),
	} {
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s with an empty key: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := s.AddGoal(c, store.Goal{Client: "acme", Site: "hq"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("AddGoal without id: %v, want ErrInvalid", err)
	}
}

// raceWins runs fn(0..n-1) concurrently and returns how many succeeded;
// every failure must be loser (the error a race's loser gets), or the test
// fails naming what raced.
func raceWins(t *testing.T, n int, loser error, what string, fn func(i int) error) int {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = fn(i) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, loser):
			t.Errorf("%s: %v, want nil or %v", what, err, loser)
		}
	}
	return won
}

// contractCase is one named test of a contract suite over stores of type S.
type contractCase[S any] struct {
	name string
	fn   func(*testing.T, S)
}

// runCases runs each case as a subtest on a fresh store from open, closed
// after it.
func runCases[S interface{ Close() error }](t *testing.T, open func(*testing.T) S, cases []contractCase[S]) {
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			tt.fn(t, s)
		})
	}
}
