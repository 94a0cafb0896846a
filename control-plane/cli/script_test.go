package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/sitewarden/sitewarden/control-plane/cli"
)

// TestMain lets testscript run the sitewarden command in-process: scripts
// call it as `exec sitewarden ...`.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"sitewarden": func() { os.Exit(cli.Run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// TestScript runs every testdata/script/*.txtar. Scripts see $REPO, the
// module root, to reach shipped files such as policies/packs.
func TestScript(t *testing.T) {
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("testdata", "script"),
		Setup: func(env *testscript.Env) error {
			env.Setenv("REPO", repo)
			return nil
		},
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
	})
}
