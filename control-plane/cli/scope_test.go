package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sitewarden/sitewarden/control-plane/cli"
	"github.com/sitewarden/sitewarden/policies"
)

var packs = filepath.Join("..", "..", "policies", "packs")

// TestScopeDiffJSON checks that -o json carries exactly policies.Diff.
func TestScopeDiffJSON(t *testing.T) {
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), []string{"scope", "diff", "-o", "json", filepath.Join(packs, "disk.yaml"), packs}, &out, &errb)
	if code != 0 || errb.Len() != 0 {
		t.Fatalf("exit %d, stderr %s", code, errb.String())
	}
	var got struct {
		Changes         []policies.Change
		Widens, Narrows int
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	old, err := policies.CompileFiles(policies.DefaultConfig(), filepath.Join(packs, "disk.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	neu, err := policies.CompileFiles(policies.DefaultConfig(), packs)
	if err != nil {
		t.Fatal(err)
	}
	want := policies.Diff(old, neu)
	if len(got.Changes) != len(want) || got.Widens+got.Narrows != len(want) || got.Widens == 0 {
		t.Fatalf("json has %d changes (%d widen, %d narrow), Diff has %d", len(got.Changes), got.Widens, got.Narrows, len(want))
	}
	for i := range want {
		if got.Changes[i] != want[i] {
			t.Fatalf("change %d: %+v, want %+v", i, got.Changes[i], want[i])
		}
	}
}

func TestScopeExitCodes(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"scope", "test", packs}, 0, ""},
		{[]string{"scope", "test"}, 2, "name at least one test file or directory"},
		{[]string{"scope", "test", filepath.Join(packs, "missing_test.yaml")}, 1, "no such file"},
		{[]string{"scope", "diff", packs}, 2, "want OLD and NEW"},
		{[]string{"scope", "diff", "-o", "yaml", packs, packs}, 2, `-o "yaml": want text or json`},
		{[]string{"scope", "diff", "--bogus", packs, packs}, 2, "unknown flag: --bogus"},
	} {
		var out, errb bytes.Buffer
		code := cli.Run(context.Background(), tt.args, &out, &errb)
		if code != tt.code || !strings.Contains(errb.String(), tt.err) {
			t.Errorf("%v: exit %d, stderr %q; want %d containing %q", tt.args, code, errb.String(), tt.code, tt.err)
		}
	}
}
