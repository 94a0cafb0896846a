package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sitewarden/sitewarden/control-plane/enroll"
)

func TestTokenCreate(t *testing.T) {
	state := t.TempDir()
	var out, errb bytes.Buffer
	code := Run(context.Background(), []string{"token", "create", "--client", "acme", "--site", "hq", "--ttl", "2h",
		"--state", state, "--address", "cp.example:7443"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	tok, err := enroll.DecodeToken(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if tok.Address != "cp.example:7443" || tok.Client != "acme" || tok.Site != "hq" {
		t.Errorf("token = %+v", tok)
	}
	if strings.Contains(errb.String(), out.String()) {
		t.Error("the token was echoed on stderr")
	}
	p, err := openPlane(context.Background(), state)
	if err != nil {
		t.Fatal(err)
	}
	defer p.store.Close()
	if tok.Pin != p.ca.Pin() {
		t.Error("token pins another CA than the state directory's")
	}
	code = Run(context.Background(), []string{"token", "create", "--client", "bad/name", "--site", "hq", "--state", state}, &out, &errb)
	if code != exitUsage {
		t.Errorf("bad client name: exit %d, want %d", code, exitUsage)
	}
}

// TestTokenFleetCreateListRevoke: a fleet token carries no site, lists with
// its uses, and revokes by the ID create printed; usage errors exit 2.
func TestTokenFleetCreateListRevoke(t *testing.T) {
	state := t.TempDir()
	ctx := context.Background()
	var out, errb bytes.Buffer
	if code := Run(ctx, []string{"token", "create", "--client", "acme", "--fleet", "--uses", "40", "--ttl", "240h",
		"--state", state, "--address", "cp.example:7443"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	tok, err := enroll.DecodeToken(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !tok.Fleet || tok.Site != "" || tok.Client != "acme" {
		t.Errorf("fleet token = %+v", tok)
	}
	id := enroll.TokenID(tok)
	if !strings.Contains(errb.String(), id) || !strings.Contains(errb.String(), "40 new sites") {
		t.Errorf("stderr does not name the token ID and its uses: %s", errb.String())
	}
	out.Reset()
	if code := Run(ctx, []string{"token", "list", "--client", "acme", "--state", state, "-o", "json"}, &out, &errb); code != 0 {
		t.Fatalf("list: exit %d: %s", code, errb.String())
	}
	var rows []tokenRow
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil || len(rows) != 1 {
		t.Fatalf("list = %s, %v", out.String(), err)
	}
	if r := rows[0]; r.ID != id || r.Kind != "fleet" || r.MaxUses != 40 || r.Uses != 0 || r.State != "usable" {
		t.Errorf("listed token = %+v", r)
	}
	if strings.Contains(out.String(), enroll.SecretHash(tok.Secret)) {
		t.Error("token list shows the secret's hash")
	}
	out.Reset()
	if code := Run(ctx, []string{"token", "revoke", "--client", "acme", id, "--state", state}, &out, &errb); code != 0 || !strings.Contains(out.String(), "revoked") {
		t.Fatalf("revoke: exit %d: %s %s", code, out.String(), errb.String())
	}
	out.Reset()
	if code := Run(ctx, []string{"token", "list", "--client", "acme", "--state", state}, &out, &errb); code != 0 || !strings.Contains(out.String(), "revoked") {
		t.Errorf("list after revoke: exit %d: %s", code, out.String())
	}
	errb.Reset()
	if code := Run(ctx, []string{"token", "revoke", "--client", "globex", id, "--state", state}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "token list") {
		t.Errorf("revoke another client's token: exit %d: %s", code, errb.String())
	}
	for name, args := range map[string][]string{
		"fleet and site":     {"token", "create", "--client", "acme", "--fleet", "--uses", "2", "--site", "hq"},
		"fleet no uses":      {"token", "create", "--client", "acme", "--fleet"},
		"too many uses":      {"token", "create", "--client", "acme", "--fleet", "--uses", "10001"},
		"uses without fleet": {"token", "create", "--client", "acme", "--site", "hq", "--uses", "3"},
		"bad id":             {"token", "revoke", "--client", "acme", "xyz"},
	} {
		if code := Run(ctx, append(args, "--state", state), &out, &errb); code != exitUsage {
			t.Errorf("%s: exit %d, want %d", name, code, exitUsage)
		}
	}
	errb.Reset()
	if code := Run(ctx, []string{"token", "create", "--client", "acme", "--fleet", "--uses", "2", "--ttl", "721h", "--state", state}, &out, &errb); code == 0 || !strings.Contains(errb.String(), "720h") {
		t.Errorf("ttl above 30 days: exit %d: %s", code, errb.String())
	}
}
