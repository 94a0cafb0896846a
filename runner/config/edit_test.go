package config

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestSetKeepsOtherKeys: Set changes only the keys it is given, keeps the
// rest (and their order), and the result loads.
func TestSetKeepsOtherKeys(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte("state_dir: /srv/sw\nlog_level: debug\nmodel_name: llama\nheartbeat_interval: 5s\noutbox_limit: 42\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Set(p, map[string]string{"log_level": "warn", "control_plane": "cp.example:7443", "proxy": "http://proxy.example:3128"}); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p, false)
	if err != nil {
		t.Fatal(err)
	}
	if c.StateDir != "/srv/sw" || c.LogLevel != "warn" || c.ModelName != "llama" || c.HeartbeatInterval != 5*time.Second || c.OutboxLimit != 42 || c.ControlPlane != "cp.example:7443" || c.ProxyURL().Host != "proxy.example:3128" {
		t.Errorf("after Set: %+v", c)
	}
	raw, _ := os.ReadFile(p)
	if i, j := strings.Index(string(raw), "state_dir"), strings.Index(string(raw), "control_plane"); i < 0 || j < i {
		t.Errorf("order not kept:\n%s", raw)
	}
	if fi, _ := os.Stat(p); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
}

// TestSetCreatesAndRefusesBadValues: a missing file is created; a value
// that does not validate leaves the file untouched; an unknown key is
// refused; a proxy's password never appears in the error.
func TestSetCreatesAndRefusesBadValues(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "config.yaml")
	if err := Set(p, map[string]string{"control_plane": "cp:7443"}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(p)
	if err := Set(p, map[string]string{"log_level": "loud"}); err == nil || !strings.Contains(err.Error(), "log_level") {
		t.Errorf("bad log level: %v", err)
	}
	err := Set(p, map[string]string{"proxy": "ftp://user:s3cret@proxy"})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("bad proxy: %v", err)
	}
	if err := Set(p, map[string]string{"model_name": "x"}); err == nil {
		t.Error("Set accepted a key installers may not set")
	}
	after, _ := os.ReadFile(p)
	if string(before) != string(after) {
		t.Errorf("a refused Set changed the file:\n%s\n->\n%s", before, after)
	}
	entries, _ := os.ReadDir(filepath.Dir(p))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}
