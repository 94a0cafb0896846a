package notify

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestDecodeConfigFull(t *testing.T) {
	raw, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := DecodeConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	if c.ApprovalLead != 10*time.Minute || c.MaxPending != 5000 || len(c.Targets) != 3 {
		t.Fatalf("config = %+v", c)
	}
	chat, acme, psa := c.Targets[0], c.Targets[1], c.Targets[2]
	if chat.Format != FormatSlack || chat.Timeout != DefaultTimeout || acme.Timeout != 5*time.Second || psa.Format != FormatJSON {
		t.Fatalf("targets = %+v", c.Targets)
	}
	for _, tc := range []struct {
		t           Target
		typ, client string
		want        bool
	}{
		{chat, EventEscalationOpened, "globex", true},
		{chat, EventApprovalRequested, "globex", false},
		{acme, EventApprovalRequested, "acme", true},
		{acme, EventEscalationOpened, "globex", false},
		{acme, EventTest, "", true},
		{psa, EventWitnessAlert, "anyone", true},
	} {
		if got := tc.t.Wants(tc.typ, tc.client); got != tc.want {
			t.Errorf("%s.Wants(%s, %s) = %v", tc.t.Name, tc.typ, tc.client, got)
		}
	}
}

func TestDecodeConfigErrors(t *testing.T) {
	base := "base_url: https://cp.example.com\n"
	target := func(lines ...string) string {
		return base + "targets:\n  - name: t\n" + "    " + strings.Join(lines, "\n    ") + "\n"
	}
	for _, tc := range []struct{ name, yaml, want string }{
		{"no base url", "targets: []\n", "base_url"},
		{"no targets", base, "targets: list at least one"},
		{"unknown key", "", "unknown"},
		{"http", target("url: http://hooks.example.com/x", "format: slack"), "use https://, or set allow_http"},
		{"http not loopback", target("url: http://10.0.0.1/x", "format: slack", "allow_http: true"), "allow_http is only for loopback"},
		{"ftp", target("url: ftp://example.com/x", "format: slack"), `scheme "ftp"`},
		{"user in url", target("url: https://u:p@example.com/x", "format: slack"), "without user:password@"},
		{"json without secret", target("url: https://example.com/x"), "needs a secret of at least 16"},
		{"bad format", target("url: https://example.com/x", "format: discord"), `format "discord"`},
		{"bad event", target("url: https://example.com/x", "format: slack", "events: [escalation.closed]"), `"escalation.closed" is not an event type`},
		{"bad timeout", target("url: https://example.com/x", "format: slack", "timeout: 5m"), "timeout 5m0s"},
		{"bad name", strings.Replace(target("url: https://example.com/x", "format: slack"), "name: t", "name: Bad Name", 1), `name "Bad Name"`},
		{"dup name", base + "targets:\n  - {name: a, url: 'https://e.com/1', format: slack}\n  - {name: a, url: 'https://e.com/2', format: slack}\n", "must be unique"},
		{"bad lead", "approval_lead: 0s\n" + target("url: https://example.com/x", "format: slack"), "approval_lead"},
		{"retry max below min", "retry_min: 1m\nretry_max: 1s\n" + target("url: https://example.com/x", "format: slack"), "retry_max"},
		{"max pending", "max_pending: 0\n" + target("url: https://example.com/x", "format: slack"), "max_pending 0"},
		{"bad duration", "poll: soon\n" + target("url: https://example.com/x", "format: slack"), "fix the YAML"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := []byte(tc.yaml)
			if tc.name == "unknown key" {
				raw, _ = os.ReadFile("testdata/unknown_key.yaml")
			}
			_, err := DecodeConfig(raw)
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v; want ErrConfig mentioning %q", err, tc.want)
			}
		})
	}
}

func TestConfigErrorsHideURLTokens(t *testing.T) {
	_, err := DecodeConfig([]byte("base_url: https://cp.example.com\ntargets:\n  - name: t\n    url: http://hooks.example.com/services/SECRET-TOKEN\n    format: slack\n"))
	if err == nil || strings.Contains(err.Error(), "SECRET-TOKEN") {
		t.Fatalf("err = %v; want an error without the URL's token", err)
	}
	_, err = DecodeConfig([]byte("base_url: https://cp.example.com\ntargets:\n  - name: t\n    url: https://hooks.example.com/services/SECRET-TOKEN\n    format: slack\n    bogus: 1\n"))
	if err == nil || strings.Contains(err.Error(), "SECRET-TOKEN") {
		t.Fatalf("err = %v; want an error without the URL's token", err)
	}
}

func TestLoadConfigPermissions(t *testing.T) {
	raw, err := os.ReadFile("testdata/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "notify.yaml")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(path); err != nil {
		t.Fatalf("LoadConfig(0600) = %v", err)
	}
	if runtime.GOOS == "windows" {
		return // mode bits do not describe access on Windows (perm_windows.go)
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o660} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadConfig(path)
		if !errors.Is(err, ErrFilePermissions) || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("LoadConfig(%04o) = %v; want ErrFilePermissions with a chmod hint", mode, err)
		}
	}
}

func FuzzDecodeConfig(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.yaml")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := DecodeConfig(raw)
		if err != nil {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("error not ErrConfig: %v", err)
			}
			return
		}
		// A config that decodes is valid and has usable targets.
		if err := c.Validate(); err != nil {
			t.Fatalf("decoded config does not validate: %v", err)
		}
		for _, tg := range c.Targets {
			if tg.Timeout <= 0 || tg.Format == "" {
				t.Fatalf("target without defaults: %+v", tg)
			}
		}
	})
}
