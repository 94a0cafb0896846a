package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sitewarden/sitewarden/control-plane/cli"
)

// TestScopePublishNeedsTheSharedKey: with --store, publishing from a state
// directory that holds no scope signing key refuses before touching the
// database, and says which server command creates the key. A new key here
// would sign a scope no site trusts.
func TestScopePublishNeedsTheSharedKey(t *testing.T) {
	state := t.TempDir()
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), []string{"scope", "publish", "--state", state,
		"--store", "postgres://nobody@127.0.0.1:1/none", "--client", "example", filepath.Join("..", "..", "policies", "packs")}, &out, &errb)
	if code != 1 {
		t.Fatalf("exit %d, want 1: %s", code, errb.String())
	}
	for _, want := range []string{"scope-signing.key", "start 'sitewarden server --state " + state + " --store URL' once first"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("error %q lacks %q", errb.String(), want)
		}
	}
	if ents, err := os.ReadDir(state); err != nil || len(ents) != 0 {
		t.Errorf("state directory changed: %v %v", ents, err)
	}
}
