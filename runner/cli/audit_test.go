package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	protocolaudit "github.com/sitewarden/sitewarden/protocol/audit"
	"github.com/sitewarden/sitewarden/runner/audit"
)

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	code := Run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

// makeLog writes n records to a real audit log in dir and returns its
// verifier key.
func makeLog(t *testing.T, dir string, n int) string {
	t.Helper()
	cfg := audit.DefaultConfig()
	cfg.Dir, cfg.Client, cfg.Site = dir, "acme", "hq"
	ctx := context.Background()
	l, err := audit.Open(ctx, cfg, ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32)), nil)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	for i := range n {
		kind := []protocolaudit.Kind{protocolaudit.KindGoalReceived, protocolaudit.KindPolicyDecision, protocolaudit.KindActionResult}[i%3]
		if _, err := l.Append(ctx, protocolaudit.Record{Kind: kind, Time: base.Add(time.Duration(i) * time.Hour),
			Agent: "account-helper", GoalID: "g-1", Actor: "agent", Payload: []byte(`{"i":1}`)}); err != nil {
			t.Fatal(err)
		}
	}
	key := l.VerifierKey()
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return key
}

func TestAuditExportVerify(t *testing.T) {
	dir := t.TempDir()
	key := makeLog(t, filepath.Join(dir, "audit"), 3000)
	logDir := filepath.Join(dir, "audit")

	code, out, errs := run(t, "audit", "key", "--client", "acme", "--dir", logDir)
	if code != 0 || strings.TrimSpace(out) != key {
		t.Fatalf("audit key: %d %q %s", code, out, errs)
	}

	file := filepath.Join(dir, "acme.swa")
	code, out, errs = run(t, "audit", "export", "--client", "acme", "--dir", logDir, "-o", file)
	if code != 0 {
		t.Fatalf("export: exit %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(out, "3000 records (index 0..2999)") || !strings.Contains(errs, "exporting") {
		t.Fatalf("export output:\n%s\nstderr (progress bar):\n%s", out, errs)
	}
	code, out, errs = run(t, "audit", "verify", file, "--key", key)
	if code != 0 || !strings.Contains(out, "OK: 3000 records verified (index 0..2999) of sitewarden-audit/acme/hq") ||
		!strings.Contains(out, "goal_received") {
		t.Fatalf("verify: exit %d\n%s\n%s", code, out, errs)
	}

	// A time window, dates inclusive of the whole --to day.
	win := filepath.Join(dir, "window.swa")
	if code, out, errs := run(t, "audit", "export", "--client", "acme", "--dir", logDir, "--from", "2026-11-03",
		"--to", "2026-11-03", "-o", win, "-q"); code != 0 {
		t.Fatalf("window export: %d\n%s\n%s", code, out, errs)
	}
	code, out, _ = run(t, "audit", "verify", win, "--key", key, "-o", "json")
	var rep struct {
		OK         bool   `json:"ok"`
		Records    uint64 `json:"records"`
		FirstIndex uint64 `json:"first_index"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || !rep.OK || rep.Records != 24 || rep.FirstIndex != 15 {
		t.Fatalf("window verify: exit %d, %+v, %v\n%s", code, rep, err, out)
	}

	// Tamper with one record's payload: exit 1, the index in the JSON.
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.LastIndex(b, []byte(`{"i":1}`))
	b[i+5] = '2'
	bad := filepath.Join(dir, "bad.swa")
	if err := os.WriteFile(bad, b, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs = run(t, "audit", "verify", bad, "--key", key, "-o", "json")
	var fail struct {
		OK    bool    `json:"ok"`
		Error string  `json:"error"`
		Index *uint64 `json:"index"`
	}
	if err := json.Unmarshal([]byte(out), &fail); err != nil || code != 1 || fail.OK || fail.Index == nil || *fail.Index != 2999 {
		t.Fatalf("tampered verify: exit %d, %+v, %v\n%s\n%s", code, fail, err, out, errs)
	}

	// Errors a person can act on.
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"audit", "export", "--client", "globex", "--dir", logDir, "-o", filepath.Join(dir, "x")}, 1, `holds log sitewarden-audit/acme/hq, not a log of client "globex"`},
		{[]string{"audit", "export", "--client", "acme", "--dir", filepath.Join(dir, "none"), "-o", filepath.Join(dir, "x")}, 1, "no audit log"},
		{[]string{"audit", "export", "--client", "acme", "--dir", logDir, "--from", "2030-01-01", "-o", filepath.Join(dir, "x")}, 1, "no audit records in range"},
		{[]string{"audit", "export", "--client", "acme", "--dir", logDir, "--from", "yesterday", "-o", filepath.Join(dir, "x")}, 2, "RFC 3339"},
		{[]string{"audit", "export", "--dir", logDir}, 2, "needs --client"},
		{[]string{"audit", "verify", file}, 2, "needs --key"},
	} {
		code, _, errs := run(t, tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, errs, tc.code, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); !os.IsNotExist(err) {
		t.Errorf("a failed export left a file behind: %v", err)
	}
}
