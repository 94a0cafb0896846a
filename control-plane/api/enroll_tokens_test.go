package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/api"
	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/enroll"
	"github.com/sitewarden/sitewarden/control-plane/store"
)

// TestFleetEnrollTokens creates a fleet token through the API, lists it
// (ID and uses, never the secret or its hash), shows which token enrolled a
// site, and revokes it; bad requests get 400 with a hint.
func TestFleetEnrollTokens(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	admin := e.tokens[auth.RoleAdmin]
	var created struct {
		Token, ID string
		Fleet     bool
	}
	if code, body := e.do("POST", "/api/v1/enrollment-tokens", admin, `{"client":"acme","fleet":true,"uses":40,"ttl":"240h"}`, &created); code != 201 {
		t.Fatalf("create fleet token: %d %s", code, body)
	}
	tok, err := enroll.DecodeToken(created.Token)
	if err != nil || !tok.Fleet || tok.Site != "" || created.ID != enroll.TokenID(tok) || !created.Fleet {
		t.Fatalf("created = %+v (decoded %+v, %v)", created, tok, err)
	}
	for name, body := range map[string]string{
		"fleet with site": `{"client":"acme","site":"hq","fleet":true,"uses":2}`,
		"no uses":         `{"client":"acme","fleet":true}`,
		"too many uses":   `{"client":"acme","fleet":true,"uses":10001}`,
		"ttl over 30d":    `{"client":"acme","fleet":true,"uses":2,"ttl":"721h"}`,
	} {
		if code, resp := e.do("POST", "/api/v1/enrollment-tokens", admin, body, nil); code != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", name, code, resp)
		}
	}
	// A runner enrolls pc1 with it (the store's side of the enroll server).
	hash := enroll.SecretHash(tok.Secret)
	if _, err := e.st.EnrollFleetSite(ctx, hash, store.Site{Identity: store.Identity{Tenant: "msp", Client: "acme", Site: "pc1"}, CertSerial: "02", EnrolledAt: t0}, t0); err != nil {
		t.Fatal(err)
	}
	var site api.SiteView
	if code, body := e.do("GET", "/api/v1/sites/acme/pc1", admin, "", &site); code != 200 || site.EnrolledBy == nil ||
		site.EnrolledBy.TokenID != created.ID || site.EnrolledBy.Kind != "fleet" {
		t.Errorf("site show = %d %s", code, body)
	}
	var list api.Page[api.EnrollTokenView]
	code, body := e.do("GET", "/api/v1/enrollment-tokens?client=acme", admin, "", &list)
	if code != 200 || len(list.Items) != 1 || list.Items[0].ID != created.ID || list.Items[0].Uses != 1 || list.Items[0].MaxUses != 40 ||
		list.Items[0].State != "usable" || list.Items[0].Kind != "fleet" {
		t.Errorf("list = %d %s", code, body)
	}
	if strings.Contains(body, hash) || strings.Contains(body, created.Token) {
		t.Error("the token list shows the secret's hash or the token")
	}
	var rv api.EnrollTokenView
	if code, body := e.do("POST", "/api/v1/enrollment-tokens/acme/"+created.ID+"/revoke", admin, "", &rv); code != 200 || rv.State != "revoked" {
		t.Errorf("revoke = %d %s", code, body)
	}
	if _, err := e.st.EnrollFleetSite(ctx, hash, store.Site{Identity: store.Identity{Tenant: "msp", Client: "acme", Site: "pc2"}, EnrolledAt: t0}, t0.Add(time.Minute)); err == nil {
		t.Error("a revoked fleet token enrolled a site")
	}
	if code, _ := e.do("POST", "/api/v1/enrollment-tokens/globex/"+created.ID+"/revoke", admin, "", nil); code != http.StatusNotFound {
		t.Errorf("revoke under another client: %d, want 404", code)
	}
	if code, _ := e.do("POST", "/api/v1/enrollment-tokens/acme/nothex/revoke", admin, "", nil); code != http.StatusBadRequest {
		t.Errorf("revoke a malformed id: %d, want 400", code)
	}
	if logs := e.logs.String(); !strings.Contains(logs, "enrollment token revoked") || strings.Contains(logs, created.Token) || strings.Contains(logs, hash) {
		t.Errorf("log: want the revocation by token id, never the token or its hash: %s", logs)
	}
}
