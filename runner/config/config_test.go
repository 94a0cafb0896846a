package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(p, []byte("state_dir: /srv/sw\nheartbeat_interval: 5s\ncontrol_plane: cp.example:7443\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p, false)
	if err != nil {
		t.Fatal(err)
	}
	if c.StateDir != "/srv/sw" || c.HeartbeatInterval != 5*time.Second || c.ControlPlane != "cp.example:7443" || c.LogLevel != "info" {
		t.Errorf("Load = %+v", c)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml"), true); err != nil {
		t.Errorf("optional missing file: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml"), false); err == nil {
		t.Error("required missing file loaded")
	}
}

func TestLoadRefusesUnknownKeysWithLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte("state_dir: /srv/sw\nheartbeat_intervall: 5s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p, false)
	if err == nil || !strings.Contains(err.Error(), "heartbeat_intervall") || !strings.Contains(err.Error(), "2") {
		t.Errorf("unknown key: %v; want the key and its line", err)
	}
}

func TestValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	c := DefaultConfig()
	c.StateDir, c.LogLevel, c.StopTimeout = "", "loud", 0
	err := c.Validate()
	for _, want := range []string{"state_dir", "log_level", "stop_timeout"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v; want it to name %s", err, want)
		}
	}
}
