package policies

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReferencePacks runs the packs' own policy tests.
func TestReferencePacks(t *testing.T) {
	var out bytes.Buffer
	sum, err := RunTests(DefaultConfig(), &out, "packs")
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Files != 5 || sum.Passed < 35 || sum.Failed != 0 {
		t.Fatalf("summary %+v: want 5 files, at least 35 passing cases", sum)
	}
}

// TestDocExamples compiles the YAML examples of docs/policy.md, so the
// language reference cannot drift from the language.
func TestDocExamples(t *testing.T) {
	doc := string(mustRead(t, filepath.Join("..", "docs", "policy.md")))
	blocks := 0
	for _, part := range strings.Split(doc, "```yaml\n")[1:] {
		body, _, ok := strings.Cut(part, "```")
		if !ok {
			t.Fatal("unterminated yaml block in docs/policy.md")
		}
		blocks++
		switch {
		case strings.Contains(body, "kind: ScopeTest\n"):
			dir := t.TempDir()
			test := strings.Replace(body, "scope: [account.yaml]", "scope: ["+filepath.Join(mustAbs(t, "packs"), "account.yaml")+"]", 1)
			if err := os.WriteFile(filepath.Join(dir, "doc_test.yaml"), []byte(test), 0o644); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if _, err := RunTests(DefaultConfig(), &out, filepath.Join(dir, "doc_test.yaml")); err != nil {
				t.Errorf("test example fails: %v\n%s", err, out.String())
			}
		case strings.Contains(body, "kind: Scope"):
			if _, err := Compile(DefaultConfig(), Source{Name: "docs/policy.md example", Data: []byte(body)}); err != nil {
				t.Errorf("scope example does not compile: %v", err)
			}
		default:
			t.Errorf("yaml block of unknown kind:\n%s", body)
		}
	}
	if blocks != 2 {
		t.Fatalf("found %d yaml blocks, want 2", blocks)
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}
