package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sitewarden/sitewarden/runner/config"
)

// TestConfigureFromEnvFile: the Linux packages' path. Settings from the
// environment file land in the config (flags win), the token lands in the
// token file (0600) and nowhere in the config or the output; an upgrade
// without settings keeps what is there.
func TestConfigureFromEnvFile(t *testing.T) {
	root := t.TempDir()
	const token = "swt1_not-a-real-token-but-secret"
	env := "# written by the RMM\nSITEWARDEN_CONTROL_PLANE=cp.example:7443\nexport SITEWARDEN_ENROLL_TOKEN=\"" + token + "\"\nSITEWARDEN_LOG_LEVEL=debug\nOTHER=ignored\n"
	if err := os.MkdirAll(filepath.Join(root, "etc/default"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/default/sitewarden-runner"), []byte(env), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(root, "etc/sitewarden/runner.yaml")
	if err := os.MkdirAll(filepath.Dir(cfgPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, []byte("state_dir: /var/lib/sitewarden\nenroll_token_file: /var/lib/sitewarden/enroll.token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := run(t, "configure", "--root", root, "--config", "/etc/sitewarden/runner.yaml",
		"--env-file", "/etc/default/sitewarden-runner", "--log-level", "warn", "--proxy", "http://proxy.example:3128")
	if code != 0 {
		t.Fatalf("configure: exit %d: %s %s", code, out, stderr)
	}
	c, err := config.Load(cfgPath, false)
	if err != nil {
		t.Fatal(err)
	}
	if c.ControlPlane != "cp.example:7443" || c.LogLevel != "warn" || c.Proxy != "http://proxy.example:3128" || c.StateDir != "/var/lib/sitewarden" {
		t.Errorf("config after configure: %+v", c)
	}
	tokenFile := filepath.Join(root, "var/lib/sitewarden/enroll.token")
	b, err := os.ReadFile(tokenFile)
	if err != nil || strings.TrimSpace(string(b)) != token {
		t.Errorf("token file: %q, %v", b, err)
	}
	if fi, err := os.Stat(tokenFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode: %v, %v", fi, err)
	}
	raw, _ := os.ReadFile(cfgPath)
	if strings.Contains(string(raw), token) || strings.Contains(out+stderr, token) {
		t.Error("the token leaked into the config or the output")
	}

	// An upgrade: no settings; the file stays as it was.
	if code, out, stderr := run(t, "configure", "--root", root, "--config", "/etc/sitewarden/runner.yaml"); code != 0 {
		t.Fatalf("configure without settings: exit %d: %s %s", code, out, stderr)
	}
	if again, _ := os.ReadFile(cfgPath); string(again) != string(raw) {
		t.Errorf("configure without settings changed the config:\n%s\n->\n%s", raw, again)
	}

	// A bad token cannot enroll: the error says the token stays for the
	// runner's next start, and the token file is kept.
	code, _, stderr = run(t, "configure", "--root", root, "--config", "/etc/sitewarden/runner.yaml", "--enroll")
	if code != 1 || !strings.Contains(stderr, "tries again when it starts") || strings.Contains(stderr, token) {
		t.Errorf("enroll with a bad token: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(tokenFile); err != nil {
		t.Errorf("token file gone after a failed enrollment: %v", err)
	}

	// Purge takes the state, the token and the configuration.
	if code, _, _ := run(t, "purge", "--root", root, "--config", "/etc/sitewarden/runner.yaml"); code != 2 {
		t.Errorf("purge without --yes: exit %d, want 2", code)
	}
	if code, out, stderr := run(t, "purge", "--yes", "--root", root, "--config", "/etc/sitewarden/runner.yaml"); code != 0 {
		t.Fatalf("purge: exit %d: %s %s", code, out, stderr)
	}
	for _, p := range []string{cfgPath, filepath.Join(root, "var/lib/sitewarden")} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s survived purge (%v)", p, err)
		}
	}
}

// TestConfigureRefusesTypos: an unknown SITEWARDEN_ key and a bad value
// are errors naming the problem.
func TestConfigureRefusesTypos(t *testing.T) {
	dir := t.TempDir()
	env := filepath.Join(dir, "env")
	if err := os.WriteFile(env, []byte("SITEWARDEN_CONTROLPLANE=cp:1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.yaml")
	if code, _, stderr := run(t, "configure", "--config", cfg, "--env-file", env); code != 1 || !strings.Contains(stderr, "SITEWARDEN_CONTROLPLANE") {
		t.Errorf("typo in env file: exit %d: %s", code, stderr)
	}
	if code, _, stderr := run(t, "configure", "--config", cfg, "--log-level", "loud"); code != 1 || !strings.Contains(stderr, "log_level") {
		t.Errorf("bad log level: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(cfg); !os.IsNotExist(err) {
		t.Errorf("a refused configure wrote %s", cfg)
	}
}

// FuzzParseEnv: any environment file either decodes to known keys only,
// and the decoded values read back the same when written out quoted, or is
// refused with an error that never quotes a token. Seeds: testdata/envfile.
func FuzzParseEnv(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "envfile", "*.env"))
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seeds in testdata/envfile (%v)", err)
	}
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := parseEnv(bytes.NewReader(b), "env")
		if err != nil {
			if strings.Contains(err.Error(), "swt1_") {
				t.Fatalf("error quotes a token: %v", err)
			}
			return
		}
		var out strings.Builder
		for k, v := range env {
			if _, ok := envKeys[k]; !ok {
				t.Fatalf("decoded unknown key %q", k)
			}
			if strings.ContainsAny(v, "\n") {
				t.Fatalf("value of %s spans lines", k)
			}
			out.WriteString(k + "=\"" + v + "\"\n")
		}
		again, err := parseEnv(strings.NewReader(out.String()), "env")
		if err != nil {
			t.Fatalf("re-reading %q: %v", out.String(), err)
		}
		if len(again) != len(env) {
			t.Fatalf("round trip: %v -> %v", env, again)
		}
		for k, v := range env {
			if again[k] != v {
				t.Fatalf("round trip of %s: %q -> %q", k, v, again[k])
			}
		}
	})
}
