package e2e

import (
	"bytes"
	"encoding/json"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/sitewarden/sitewarden"

// listedPackage is the part of 'go list -json' the architecture tests read.
type listedPackage struct {
	ImportPath   string
	Dir          string
	Name         string
	GoFiles      []string
	CgoFiles     []string
	Imports      []string
	Deps         []string
	TestImports  []string
	XTestImports []string
}

// listPackages runs 'go list' on the whole module for one GOOS, so
// Windows-only files are checked too.
func listPackages(t *testing.T, goos string) []listedPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = ".."
	cmd.Env = append(cmd.Environ(), "GOOS="+goos, "GOARCH=amd64")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p listedPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no packages")
	}
	return pkgs
}

func rel(importPath string) string {
	return strings.TrimPrefix(strings.TrimPrefix(importPath, module), "/")
}

func under(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+"/")
}

// designated lists, for each external dependency that must enter through
// one place, the module's packages allowed to import it (DESIGN.md,
// "Dependency direction"). Tests under e2e/ may import anything.
var designated = []struct {
	dep     string
	allowed []string
}{
	{"github.com/quic-go/quic-go", []string{"runner/sync", "control-plane/syncserver"}},
	{"github.com/dgraph-io/badger", []string{"runner/audit"}},
	{"github.com/ollama/ollama", []string{"runner/model"}},
	{"github.com/hashicorp/go-plugin", []string{"plugins/sdk", "runner/pluginhost"}},
	{"github.com/jackc/pgx", []string{"control-plane/store"}},
	{"github.com/prometheus/client_golang", []string{"control-plane/metrics"}},
}

// TestArchitectureDependencies enforces DESIGN.md's dependency rules and
// names every offending import.
func TestArchitectureDependencies(t *testing.T) {
	for _, goos := range []string{"linux", "windows"} {
		for _, p := range listPackages(t, goos) {
			me := rel(p.ImportPath)
			ours := func(deps []string) []string {
				var out []string
				for _, d := range deps {
					if under(d, module) {
						out = append(out, rel(d))
					}
				}
				return out
			}
			deps := ours(p.Deps)
			switch {
			case under(me, "runner"):
				for _, d := range deps {
					if under(d, "control-plane") {
						t.Errorf("[%s] %s depends on %s: runner must never import control-plane", goos, me, d)
					}
				}
			case under(me, "control-plane"):
				for _, d := range deps {
					if under(d, "runner") {
						t.Errorf("[%s] %s depends on %s: control-plane must never import runner", goos, me, d)
					}
				}
			case under(me, "protocol"), under(me, "policies"):
				for _, d := range deps {
					if !under(d, "protocol") && !under(d, "policies") {
						t.Errorf("[%s] %s depends on %s: protocol and policies import no component", goos, me, d)
					}
				}
				for _, d := range deps {
					if under(me, "protocol") && under(d, "policies") {
						t.Errorf("[%s] %s depends on %s: protocol imports nothing of ours", goos, me, d)
					}
				}
			}
			if under(me, "e2e") {
				continue
			}
			imports := slices.Concat(p.Imports, p.TestImports, p.XTestImports)
			for _, imp := range imports {
				for _, rule := range designated {
					if !under(imp, rule.dep) && !strings.HasPrefix(imp, rule.dep) {
						continue
					}
					ok := false
					for _, a := range rule.allowed {
						if under(me, a) {
							ok = true
						}
					}
					if !ok {
						t.Errorf("[%s] %s imports %s: only %s may import %s (DESIGN.md, dependency direction)",
							goos, me, imp, strings.Join(rule.allowed, ", "), rule.dep)
					}
				}
			}
		}
	}
}

// TestArchitecturePackageComments checks that every package has exactly
// one package comment, in one of its non-test files.
func TestArchitecturePackageComments(t *testing.T) {
	seen := map[string]bool{}
	for _, goos := range []string{"linux", "windows"} {
		for _, p := range listPackages(t, goos) {
			if seen[p.ImportPath] {
				continue
			}
			seen[p.ImportPath] = true
			var with []string
			fset := token.NewFileSet()
			for _, name := range slices.Concat(p.GoFiles, p.CgoFiles) {
				f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.PackageClauseOnly|parser.ParseComments)
				if err != nil {
					t.Fatalf("parse %s: %v", name, err)
				}
				if f.Doc != nil && strings.TrimSpace(f.Doc.Text()) != "" {
					with = append(with, name)
				}
			}
			switch len(with) {
			case 1:
			case 0:
				t.Errorf("%s has no package comment; add a doc.go with '// Package %s ...'", rel(p.ImportPath), p.Name)
			default:
				t.Errorf("%s has %d package comments (%s); keep exactly one, in doc.go", rel(p.ImportPath), len(with), strings.Join(with, ", "))
			}
		}
	}
}
