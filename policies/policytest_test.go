package policies

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const testHead = "apiVersion: sitewarden.dev/v1\nkind: ScopeTest\nscope: [scope.yaml]\n"

func TestRunTestsErrors(t *testing.T) {
	scope := string(mustRead(t, "testdata/decide.yaml"))
	okCase := "cases:\n  - name: read\n    request: {agent: tester, workflow: w_auto, action: p.read}\n    expect: {effect: allow, rule: allow-all-p}\n"
	tests := []struct {
		name, body string
		is         error
		want       string
	}{
		{"unknown key", testHead + "casez: []\n", ErrInvalidTest, `t_test.yaml:4:1: invalid policy test: unknown field "casez"`},
		{"wrong kind", strings.Replace(testHead, "ScopeTest", "Scope", 1) + okCase, ErrInvalidTest, "want apiVersion sitewarden.dev/v1 and kind ScopeTest"},
		{"no scope", "apiVersion: sitewarden.dev/v1\nkind: ScopeTest\n" + okCase, ErrInvalidTest, "'scope' lists no scope files"},
		{"no cases", testHead, ErrInvalidTest, "no cases"},
		{"bad effect", testHead + strings.Replace(okCase, "effect: allow", "effect: permit", 1), ErrInvalidTest,
			`case 1 (read): expect.effect "permit", want allow, deny or needs_approval`},
		{"unnamed case", testHead + strings.Replace(okCase, "name: read", "name: ''", 1), ErrInvalidTest, "case 1 has no name"},
		{"bad now", testHead + "now: yesterday\n" + okCase, ErrInvalidTest, `now "yesterday": want RFC 3339`},
		{"bad request now", testHead + strings.Replace(okCase, "action: p.read}", "action: p.read, now: soon}", 1), ErrInvalidTest, `case "read": now "soon"`},
		{"two documents", testHead + okCase + "---\n" + testHead + okCase, ErrInvalidTest, "one test document per file"},
		{"scope does not compile", strings.Replace(testHead, "scope.yaml", "missing.yaml", 1) + okCase, nil, "missing.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"scope.yaml": scope, "t_test.yaml": tt.body})
			var out bytes.Buffer
			_, err := RunTests(DefaultConfig(), &out, filepath.Join(dir, "t_test.yaml"))
			if err == nil || (tt.is != nil && !errors.Is(err, tt.is)) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("RunTests = %v; want %v containing %q", err, tt.is, tt.want)
			}
		})
	}
}

func TestRunTestsCounts(t *testing.T) {
	scope := string(mustRead(t, "testdata/decide.yaml"))
	body := testHead + `cases:
  - name: read
    request: {agent: tester, workflow: w_auto, action: p.read}
    expect: {effect: allow, rule: allow-all-p, mode: autonomous}
  - name: wrong rule
    request: {agent: tester, workflow: w_auto, action: p.read}
    expect: {effect: allow, rule: some-other-rule}
  - name: wrong mode
    request: {agent: tester, workflow: w_shadow, action: p.read}
    expect: {effect: allow, mode: autonomous}
  - name: numbers from YAML compare as CEL ints
    request: {agent: tester, workflow: w_auto, action: q.three, target: {count: 6}}
    expect: {effect: allow, rule: q-three-when-count}
`
	dir := writeFiles(t, map[string]string{"scope.yaml": scope, "t_test.yaml": body})
	var out bytes.Buffer
	sum, err := RunTests(DefaultConfig(), &out, dir)
	if !errors.Is(err, ErrTestsFailed) || sum != (TestSummary{Files: 1, Passed: 2, Failed: 2}) {
		t.Fatalf("RunTests = %+v, %v\n%s", sum, err, out.String())
	}
	for _, want := range []string{
		"PASS " + filepath.Join(dir, "t_test.yaml") + ": read: allow by allow-all-p\n",
		": wrong rule: got allow by allow-all-p, want allow by some-other-rule (allowed by rule allow-all-p: everything of p)\n",
		": wrong mode: got allow by allow-all-p in mode shadow, want allow in mode autonomous",
		"FAIL: 2 of 4 cases failed (1 files)\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := RunTests(DefaultConfig(), &out, t.TempDir()); !errors.Is(err, ErrInvalidTest) {
		t.Fatalf("empty directory: %v", err)
	}
	if _, err := RunTests(DefaultConfig(), &out, filepath.Join(dir, "nope_test.yaml")); err == nil {
		t.Fatal("missing file accepted")
	}
}
