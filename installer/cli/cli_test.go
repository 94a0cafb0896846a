package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunRefusals: usage errors exit 2; a bad version, half a signing
// pair and missing binaries exit 1 with a message that says what to do.
func TestRunRefusals(t *testing.T) {
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "sitewarden-runner.exe"), []byte("MZ"), 0o644); err != nil {
		t.Fatal(err)
	}
	noenv := func(string) string { return "" }
	halfSigner := func(k string) string {
		if k == "SITEWARDEN_SIGN_CERT" {
			return "/etc/ssl/cert.pem"
		}
		return ""
	}
	for _, c := range []struct {
		args   []string
		env    func(string) string
		code   int
		stderr string
	}{
		{nil, noenv, 2, "usage"},
		{[]string{"zip"}, noenv, 2, "usage"},
		{[]string{"msi", "--nope"}, noenv, 2, "usage"},
		{[]string{"msi", "--version", "c1f8a1c-dirty", "--bin", bin}, noenv, 1, "make msi VERSION="},
		{[]string{"msi", "--version", "1.0.0", "--bin", bin}, halfSigner, 1, "SITEWARDEN_SIGN_KEY"},
		{[]string{"msi", "--version", "1.0.0", "--bin", t.TempDir()}, noenv, 1, "make build"},
		{[]string{"deb", "--bin", bin}, noenv, 1, "--version"},
		{[]string{"rpm", "--version", "1.0.0", "--bin", t.TempDir()}, noenv, 1, "make build"},
	} {
		var stderr bytes.Buffer
		code := Run(context.Background(), c.args, c.env, &stderr)
		if code != c.code || !strings.Contains(stderr.String(), c.stderr) {
			t.Errorf("%v: exit %d, %q; want %d and %q", c.args, code, stderr.String(), c.code, c.stderr)
		}
	}
}
