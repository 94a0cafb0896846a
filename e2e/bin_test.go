package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// binDir is where the tests find the real binaries: $SITEWARDEN_BIN when
// 'make test' built them, otherwise a directory TestMain builds them into.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	binDir = os.Getenv("SITEWARDEN_BIN")
	if binDir == "" {
		dir, err := os.MkdirTemp("", "sitewarden-e2e-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		for out, pkg := range map[string]string{
			"sitewarden": "../control-plane", "sitewarden-runner": "../runner",
			"plugins/sitewarden-plugin-directory": "../plugins/directory", "plugins/sitewarden-plugin-host": "../plugins/host",
		} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(dir, out), pkg)
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Run(); err != nil {
				fmt.Fprintf(os.Stderr, "e2e: build %s: %v\n", pkg, err)
				return 1
			}
		}
		binDir = dir
	}
	return m.Run()
}

// bin returns the path of a built binary, failing the test when it is missing.
func bin(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(binDir, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("binary %s missing (%v); run 'make build' or unset SITEWARDEN_BIN", name, err)
	}
	return p
}
