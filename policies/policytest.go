package policies

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// TestFile is a policy test file (kind ScopeTest): the scope files it tests
// (paths relative to the test file) and its cases.
type TestFile struct {
	APIVersion string     `yaml:"apiVersion"`
	Kind       string     `yaml:"kind"`
	Scope      []string   `yaml:"scope"`
	Now        string     `yaml:"now,omitempty"`
	Cases      []TestCase `yaml:"cases"`
}

// TestCase is one request and the decision it must get.
type TestCase struct {
	Name    string      `yaml:"name"`
	Request TestRequest `yaml:"request"`
	Expect  TestExpect  `yaml:"expect"`
}

// TestRequest is a Request as written in a test file. Now is RFC 3339; it
// defaults to the file's now.
type TestRequest struct {
	Agent    string         `yaml:"agent"`
	Workflow string         `yaml:"workflow"`
	Action   string         `yaml:"action"`
	Target   map[string]any `yaml:"target,omitempty"`
	Goal     map[string]any `yaml:"goal,omitempty"`
	Now      string         `yaml:"now,omitempty"`
}

// TestExpect is the expected effect and, optionally, rule and mode.
type TestExpect struct {
	Effect string `yaml:"effect"`
	Rule   string `yaml:"rule,omitempty"`
	Mode   string `yaml:"mode,omitempty"`
}

// TestSummary counts the cases RunTests ran.
type TestSummary struct {
	Files, Passed, Failed int
}

// ReadTestFiles expands paths: a file stands for itself, a directory for
// every *_test.yaml (and *_test.yml) in it, recursively, sorted.
func ReadTestFiles(paths ...string) ([]string, error) {
	var out []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("scope test: %w", err)
		}
		if !fi.IsDir() {
			out = append(out, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && isTestFile(d.Name()) {
				found = append(found, path)
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("scope test: %w", err)
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("scope test: %w: no *_test.yaml files under %s", ErrInvalidTest, p)
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

// LoadTestFile decodes a policy test file strictly.
func LoadTestFile(cfg Config, path string) (*TestFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scope test: %w", err)
	}
	var tf *TestFile
	err = parseDocuments(Source{Name: path, Data: data}, cfg.MaxDocumentBytes, ErrInvalidTest, func(_ ast.Node, decode func(any) error) error {
		if tf != nil {
			return fmt.Errorf("%s: %w: one test document per file", path, ErrInvalidTest)
		}
		tf = &TestFile{}
		return decode(tf)
	})
	if err != nil {
		return nil, err
	}
	switch {
	case tf == nil:
		return nil, fmt.Errorf("%s: %w: empty file", path, ErrInvalidTest)
	case tf.APIVersion != APIVersion || tf.Kind != KindScopeTest:
		return nil, fmt.Errorf("%s: %w: want apiVersion %s and kind %s", path, ErrInvalidTest, APIVersion, KindScopeTest)
	case len(tf.Scope) == 0:
		return nil, fmt.Errorf("%s: %w: 'scope' lists no scope files; name the files under test, relative to this file", path, ErrInvalidTest)
	case len(tf.Cases) == 0:
		return nil, fmt.Errorf("%s: %w: no cases", path, ErrInvalidTest)
	}
	for i, c := range tf.Cases {
		switch Effect(c.Expect.Effect) {
		case Allow, Deny, NeedsApproval:
		default:
			return nil, fmt.Errorf("%s: %w: case %d (%s): expect.effect %q, want allow, deny or needs_approval",
				path, ErrInvalidTest, i+1, c.Name, c.Expect.Effect)
		}
		if c.Name == "" {
			return nil, fmt.Errorf("%s: %w: case %d has no name", path, ErrInvalidTest, i+1)
		}
	}
	return tf, nil
}

// request converts the test request, with defaultNow when it names no time.
func (tr TestRequest) request(defaultNow time.Time) (Request, error) {
	now := defaultNow
	if tr.Now != "" {
		t, err := time.Parse(time.RFC3339, tr.Now)
		if err != nil {
			return Request{}, fmt.Errorf("now %q: want RFC 3339, e.g. 2026-11-26T10:00:00Z", tr.Now)
		}
		now = t
	}
	return Request{Agent: tr.Agent, Workflow: tr.Workflow, Action: tr.Action,
		Target: normalizeAttrs(tr.Target), Goal: normalizeAttrs(tr.Goal), Now: now}, nil
}

// normalizeAttrs turns YAML numbers into int64/float64 so conditions
// compare them with CEL's int and double.
func normalizeAttrs(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = normalizeValue(v)
	}
	return out
}

func normalizeValue(v any) any {
	switch x := v.(type) {
	case uint64:
		if x <= 1<<63-1 {
			return int64(x)
		}
	case int:
		return int64(x)
	case float32:
		return float64(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeValue(e)
		}
		return out
	case map[string]any:
		return normalizeAttrs(x)
	}
	return v
}

// RunTests runs policy test files (see ReadTestFiles) and writes one line per
// case and a summary to w. It returns ErrTestsFailed when a case fails, and
// another error when a file or its scope does not load.
func RunTests(cfg Config, w io.Writer, paths ...string) (TestSummary, error) {
	var sum TestSummary
	files, err := ReadTestFiles(paths...)
	if err != nil {
		return sum, err
	}
	for _, f := range files {
		if err := runTestFile(cfg, w, f, &sum); err != nil {
			return sum, err
		}
	}
	total := sum.Passed + sum.Failed
	if sum.Failed > 0 {
		fmt.Fprintf(w, "FAIL: %d of %d cases failed (%d files)\n", sum.Failed, total, sum.Files)
		return sum, fmt.Errorf("%w: %d of %d cases", ErrTestsFailed, sum.Failed, total)
	}
	fmt.Fprintf(w, "PASS: %d cases passed (%d files)\n", total, sum.Files)
	return sum, nil
}

func runTestFile(cfg Config, w io.Writer, path string, sum *TestSummary) error {
	tf, err := LoadTestFile(cfg, path)
	if err != nil {
		return err
	}
	scopePaths := make([]string, len(tf.Scope))
	for i, s := range tf.Scope {
		if !filepath.IsAbs(s) {
			s = filepath.Join(filepath.Dir(path), s)
		}
		scopePaths[i] = s
	}
	scope, err := CompileFiles(cfg, scopePaths...)
	if err != nil {
		return err
	}
	defaultNow := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	if tf.Now != "" {
		if defaultNow, err = time.Parse(time.RFC3339, tf.Now); err != nil {
			return fmt.Errorf("%s: %w: now %q: want RFC 3339, e.g. 2026-11-26T10:00:00Z", path, ErrInvalidTest, tf.Now)
		}
	}
	sum.Files++
	for _, c := range tf.Cases {
		req, err := c.Request.request(defaultNow)
		if err != nil {
			return fmt.Errorf("%s: %w: case %q: %v", path, ErrInvalidTest, c.Name, err)
		}
		d := scope.Decide(req)
		got := fmt.Sprintf("%s by %s", d.Effect, d.Rule)
		ok := string(d.Effect) == c.Expect.Effect &&
			(c.Expect.Rule == "" || c.Expect.Rule == d.Rule) &&
			(c.Expect.Mode == "" || c.Expect.Mode == string(d.Mode))
		if ok {
			sum.Passed++
			fmt.Fprintf(w, "PASS %s: %s: %s\n", path, c.Name, got)
			continue
		}
		sum.Failed++
		want := c.Expect.Effect
		if c.Expect.Rule != "" {
			want += " by " + c.Expect.Rule
		}
		if c.Expect.Mode != "" {
			want += " in mode " + c.Expect.Mode
			got += " in mode " + string(d.Mode)
		}
		fmt.Fprintf(w, "FAIL %s: %s: got %s, want %s (%s)\n", path, c.Name, got, want, d.Reason)
	}
	return nil
}
