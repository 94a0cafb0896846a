package api

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/policies"
	"github.com/sitewarden/sitewarden/policies/packs"
)

// testResult is what running a proposal's policy tests gave.
type testResult struct {
	run, failed int
	report      string
}

// runProposalTests runs the proposal's own *_test.yaml files, or, when it
// has none, the reference packs' tests whose scope files all are among the
// proposal's files (by base name). Tests see the proposal's files in one
// temporary directory, so a test's 'scope: [account.yaml]' names the
// proposed account.yaml. A test file that does not load counts as a
// failure, so the proposal cannot be approved.
func runProposalTests(files []store.ScopeFile) (testResult, error) {
	dir, err := os.MkdirTemp("", "sitewarden-proposal-")
	if err != nil {
		return testResult{}, fmt.Errorf("policy tests: %w", err)
	}
	defer os.RemoveAll(dir)
	names := map[string]bool{}
	var tests []string
	for _, f := range files {
		p := filepath.Join(dir, f.Name)
		if err := os.WriteFile(p, []byte(f.Text), 0o600); err != nil {
			return testResult{}, fmt.Errorf("policy tests: %w", err)
		}
		names[f.Name] = true
		if isTestFileName(f.Name) {
			tests = append(tests, p)
		}
	}
	source := "the proposal's tests"
	// A proposed test names only the proposal's own files: a path would
	// make the server read (and report on) files outside the proposal.
	for _, p := range tests {
		tf, err := policies.LoadTestFile(policies.DefaultConfig(), p)
		if err != nil {
			return testResult{failed: 1, report: strings.ReplaceAll(fmt.Sprintf("ERROR %v\n", err), dir+string(filepath.Separator), "")}, nil
		}
		for _, sc := range tf.Scope {
			if !names[sc] || isTestFileName(sc) {
				return testResult{failed: 1, report: fmt.Sprintf("ERROR %s: scope entry %q: name one of the proposal's scope files by its base name\n", filepath.Base(p), sc)}, nil
			}
		}
	}
	if len(tests) == 0 {
		source = "the reference packs' tests"
		if tests, err = packTests(dir, names); err != nil {
			return testResult{}, err
		}
	}
	if len(tests) == 0 {
		return testResult{report: "no policy tests: none were proposed and no reference pack's tests apply; send *_test.yaml files with the proposal\n"}, nil
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "running %s\n", source)
	sum, err := policies.RunTests(policies.DefaultConfig(), &out, tests...)
	res := testResult{run: sum.Passed + sum.Failed, failed: sum.Failed}
	if err != nil && !errors.Is(err, policies.ErrTestsFailed) {
		fmt.Fprintf(&out, "ERROR %v\n", err)
		res.failed = max(res.failed, 1)
	}
	res.report = strings.ReplaceAll(out.String(), dir+string(filepath.Separator), "")
	return res, nil
}

// packTests writes the packs' test files that apply to the proposal's
// files into dir and returns their paths.
func packTests(dir string, names map[string]bool) ([]string, error) {
	entries, err := fs.Glob(packs.FS, "*_test.yaml")
	if err != nil {
		return nil, fmt.Errorf("policy tests: %w", err)
	}
	var out []string
	for _, name := range entries {
		b, err := fs.ReadFile(packs.FS, name)
		if err != nil {
			return nil, fmt.Errorf("policy tests: %w", err)
		}
		p := filepath.Join(dir, "pack-"+name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return nil, fmt.Errorf("policy tests: %w", err)
		}
		tf, err := policies.LoadTestFile(policies.DefaultConfig(), p)
		if err != nil {
			return nil, fmt.Errorf("policy tests: reference pack %s: %w", name, err)
		}
		applies := true
		for _, s := range tf.Scope {
			applies = applies && names[s]
		}
		if applies {
			out = append(out, p)
		}
	}
	return out, nil
}
