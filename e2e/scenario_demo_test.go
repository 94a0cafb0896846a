package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/internal/testsupport"
)

// TestMakeRunDemo runs the script of 'make run' (.ci/run-local.sh) twice on one
// state directory, bounded by RUN_FOR, and checks the outcomes it printed,
// so the demo cannot silently rot. During the first run a supervisor sets
// up the admin account from the printed link and approves the waiting
// password reset through the API (the CLI); the demo then shows the reset
// resolved and the new password signing in. OLLAMA_HOST points at a closed
// port so the demo uses the playbook planner and its outcomes are
// deterministic.
func TestMakeRunDemo(t *testing.T) {
	state, listen, httpListen := t.TempDir(), freeAddr(t), freeAddr(t)
	start := func(runFor string) (*exec.Cmd, *testsupport.Buffer) {
		t.Helper()
		var out testsupport.Buffer
		cmd := exec.Command("bash", ".ci/run-local.sh")
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "RUN_FOR="+runFor, "RUN_STATE="+state, "BIN_DIR="+binDir,
			"OLLAMA_HOST=127.0.0.1:1", "RUN_LISTEN="+listen, "RUN_HTTP_LISTEN="+httpListen)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		return cmd, &out
	}
	wait := func(cmd *exec.Cmd, out *testsupport.Buffer) string {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("run-local.sh: %v\n%s", err, out.String())
			}
		case <-time.After(3 * time.Minute):
			t.Fatalf("run-local.sh did not stop at RUN_FOR:\n%s", out.String())
		}
		return out.String()
	}

	cmd, out := start("45s")
	eventually(t, 2*time.Minute, "the demo's goals done", func() bool { return strings.Contains(out.String(), "demo: Ctrl-C stops everything") })
	setup := regexp.MustCompile(`/setup#(admin\.sws_[A-Za-z0-9_-]+)`).FindStringSubmatch(out.String())
	approval := regexp.MustCompile(`approvals approve (apr-[0-9a-f]+) --client example`).FindStringSubmatch(out.String())
	if setup == nil || approval == nil {
		t.Fatalf("no setup link or approval id printed:\n%s", out.String())
	}
	supervisor := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c := exec.CommandContext(ctx, bin(t, "sitewarden"), append(args, "--server", "https://"+httpListen,
			"--ca", filepath.Join(state, "control-plane", "ca", "ca.pem"))...)
		c.Env = append(os.Environ(), "SITEWARDEN_PASSWORD=demo supervisor passphrase", "SITEWARDEN_TOKEN=")
		b, err := c.Output()
		if err != nil {
			t.Fatalf("sitewarden %v: %v", args, err)
		}
		return strings.TrimSpace(string(b))
	}
	supervisor("setup", "--setup", setup[1])
	tok := supervisor("login", "--user", "admin")
	supervisor("approvals", "approve", approval[1], "--client", "example", "--token", tok)
	eventually(t, time.Minute, "the approved reset shown", func() bool { return strings.Contains(out.String(), "bob signs in with it: yes") })
	first := wait(cmd, out)
	for _, want := range []string{
		`demo: new state directory`,
		`demo: planner: playbook (no Ollama answered at http://127.0.0.1:1)`,
		`demo: runner example/hq: enrolling with a one-time token`,
		`demo: runner globex/hq connected to the control plane`,
		`(unlock a locked-out user): resolved`,
		`alice signs in: yes`,
		`(password reset (needs approval)): awaiting_approval`,
		`(password reset, after the supervisor's decision): resolved`,
		`denied by policy rule never-privileged-accounts`,
		`(disk cleanup in shadow mode): escalated`,
		`shadow mode: proposed host.cleanup {"dry_run":false,"older_than_days":14,"roots":["/var/tmp"]}, nothing changed`,
		`demo: stopped: control plane, runners and demo directory`,
	} {
		if !strings.Contains(first, want) {
			t.Errorf("first run lacks %q:\n%s", want, first)
		}
	}
	if !regexp.MustCompile(`goal admins-dave-\d+ \(out of scope[^\n]*\): escalated`).MatchString(first) {
		t.Errorf("the out-of-scope request was not escalated:\n%s", first)
	}

	cmd, out = start("18s")
	second := wait(cmd, out)
	if !strings.Contains(second, "demo: reusing the state in "+state) || strings.Contains(second, "enrolling with a one-time token") {
		t.Errorf("second run did not reuse the state:\n%s", second)
	}
	if !strings.Contains(second, "the admin account is already set up") || !strings.Contains(second, "(unlock a locked-out user): resolved") {
		t.Errorf("second run:\n%s", second)
	}
}
