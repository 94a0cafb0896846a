package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/api"
	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/store"
)

// TestScopeProposalReachesSite: a scope change proposed through the API by
// one person and approved by a second is signed with the control plane's
// scope key, stored, pushed over QUIC to the client's connected runner,
// which verifies it against the key it pinned at enrollment and puts it in
// use; the proposer's own approval is refused and changes nothing.
func TestScopeProposalReachesSite(t *testing.T) {
	p := startPlane(t, 0)
	s := startSite(t, p, "acme", "hq", siteOpts{})
	eventually(t, 10*time.Second, "connected", s.client.Connected)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	acfg := auth.DefaultConfig()
	acfg.Argon2 = auth.Argon2{Memory: 64, Time: 1, Threads: 1}
	a, err := auth.New(acfg, p.store, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{}
	for name, role := range map[string]auth.Role{"ann": auth.RoleSupervisor, "lee": auth.RoleGovernanceLead} {
		if err := p.store.CreateUser(ctx, store.User{Name: name, Role: string(role), CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if tokens[name], _, err = a.CreateAPIToken(ctx, name, "e2e", 0); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := api.New(api.DefaultConfig(), p.store, a, p.sync, nil, log, nil, api.WithGovernance(api.Governance{Review: p.store, ScopeKey: p.scopeKey}))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	call := func(who, method, path string, body any, out any) int {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, hs.URL+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+tokens[who])
		resp, err := hs.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if out != nil {
			_ = json.Unmarshal(raw, out)
		}
		return resp.StatusCode
	}
	propose := func(files ...string) api.ProposalView {
		t.Helper()
		req := api.ProposalRequest{Client: "acme"}
		for _, f := range files {
			b, err := os.ReadFile("../policies/packs/" + f)
			if err != nil {
				t.Fatal(err)
			}
			req.Files = append(req.Files, store.ScopeFile{Name: f, Text: strings.Replace(string(b), "client: example", "client: acme", 1)})
		}
		var v api.ProposalView
		if code := call("ann", "POST", "/api/v1/scopes/proposals", req, &v); code != 201 || v.TestsFailed != 0 {
			t.Fatalf("propose %v: %d %+v", files, code, v)
		}
		return v
	}

	v1 := propose("disk.yaml")
	if code := call("ann", "POST", "/api/v1/scopes/proposals/"+v1.ID+"/approve", api.NoteRequest{}, nil); code != 403 {
		t.Errorf("the proposer's approval: %d, want 403", code)
	}
	time.Sleep(300 * time.Millisecond)
	if got := s.scope.InUse(); got != 0 {
		t.Fatalf("scope in use after a refused approval = v%d, want none", got)
	}
	var done api.ProposalView
	if code := call("lee", "POST", "/api/v1/scopes/proposals/"+v1.ID+"/approve", api.NoteRequest{Note: "ok"}, &done); code != 200 || done.Version != 1 {
		t.Fatalf("approval: %d %+v", code, done)
	}
	eventually(t, 10*time.Second, "approved scope v1 in use on the site", func() bool { return s.scope.InUse() == 1 })

	v2 := propose("disk.yaml", "service.yaml")
	if v2.BaseVersion != 1 || v2.Widens == 0 {
		t.Fatalf("second proposal = %+v", v2)
	}
	if code := call("lee", "POST", "/api/v1/scopes/proposals/"+v2.ID+"/approve", api.NoteRequest{}, nil); code != 200 {
		t.Fatalf("approve v2: %d", code)
	}
	eventually(t, 10*time.Second, "approved scope v2 in use on the site", func() bool { return s.scope.InUse() == 2 })
}
