package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunnerEnrollsFromInstallerToken: the installer leaves a token file
// and a config; the real runner binary enrolls on first start, deletes the
// token, connects, and heartbeats reach the control plane.
func TestRunnerEnrollsFromInstallerToken(t *testing.T) {
	p := startPlane(t, 0)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "enroll.token")
	if err := os.WriteFile(tokenFile, []byte(p.token(t, "acme", "hq", time.Hour)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("state_dir: "+filepath.Join(dir, "state")+"\nenroll_token_file: "+tokenFile+"\nheartbeat_interval: 1s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin(t, "sitewarden-runner"), "run", "--config", cfg, "--for", "3s")
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	for _, want := range []string{`"msg":"site enrolled"`, `"msg":"runner ready"`, `"enrolled":true`, `"msg":"connected to control plane"`, `"msg":"runner stopped"`} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("runner log lacks %s:\n%s", want, stderr.String())
		}
	}
	if _, err := os.Stat(tokenFile); !os.IsNotExist(err) {
		t.Errorf("token file still there after enrollment (%v)", err)
	}
	if strings.Contains(stderr.String(), "swt1_") {
		t.Error("the token appears in the runner's log")
	}
	site, err := p.store.Site(context.Background(), "acme", "hq")
	if err != nil || site.LastSeen.IsZero() {
		t.Errorf("control plane did not see the site: %+v, %v", site, err)
	}
}

// TestRunnerEnrollCommandErrors: the enroll command refuses a wrong
// invocation with a usage error and a bad token with a clear message.
func TestRunnerEnrollCommandErrors(t *testing.T) {
	cmd := exec.Command(bin(t, "sitewarden-runner"), "enroll", "--state", t.TempDir())
	out, _ := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 2 || !strings.Contains(string(out), "--token") {
		t.Errorf("enroll without a token: exit %d, %q", cmd.ProcessState.ExitCode(), out)
	}
	cmd = exec.Command(bin(t, "sitewarden-runner"), "enroll", "--state", t.TempDir(), "--token", "not-a-token")
	out, _ = cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), "sitewarden token create") {
		t.Errorf("enroll with garbage: exit %d, %q", cmd.ProcessState.ExitCode(), out)
	}
}
