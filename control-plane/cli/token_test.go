package cli

import (
	"bytes"
	"context"
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
