package e2e

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestBinariesStartAndStop runs both real binaries the way 'make run' does
// and checks they report readiness and stop cleanly when their time is up.
func TestBinariesStartAndStop(t *testing.T) {
	tests := []struct {
		bin, want string
		args      []string
	}{
		{"sitewarden", `"msg":"control plane ready"`, []string{"server", "--for", "500ms", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"}},
		{"sitewarden-runner", `"msg":"runner ready"`, []string{"run", "--for", "500ms"}},
	}
	for _, tt := range tests {
		t.Run(tt.bin, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var stderr bytes.Buffer
			// A fresh state directory: the defaults (/var/lib/sitewarden)
			// are for installed systems.
			args := append(tt.args, "--state", t.TempDir())
			cmd := exec.CommandContext(ctx, bin(t, tt.bin), args...)
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("%s %v: %v\n%s", tt.bin, args, err, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("log lacks %s:\n%s", tt.want, stderr.String())
			}
		})
	}
}

func TestVersionAndUsageErrors(t *testing.T) {
	for _, name := range []string{"sitewarden", "sitewarden-runner"} {
		out, err := exec.Command(bin(t, name), "version").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "(protocol 1,") {
			t.Errorf("%s version = %q, %v", name, out, err)
		}
		cmd := exec.Command(bin(t, name), "--no-such-flag")
		out, err = cmd.CombinedOutput()
		if cmd.ProcessState.ExitCode() != 2 || !strings.Contains(string(out), "--help") {
			t.Errorf("%s --no-such-flag: exit %d, %q, %v; want exit 2 and a hint", name, cmd.ProcessState.ExitCode(), out, err)
		}
	}
}
