package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLoadControlPlaneReplicas(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(p, []byte("state_dir: /srv/sw\ncontrol_planes: [cp2.example:7443, \"10.0.0.3:7443\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p, false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.ControlPlanes, []string{"cp2.example:7443", "10.0.0.3:7443"}) {
		t.Errorf("ControlPlanes = %q", c.ControlPlanes)
	}
	if err := os.WriteFile(p, []byte("state_dir: /srv/sw\ncontrol_planes: [cp2.example]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p, false); err == nil || !strings.Contains(err.Error(), "control_planes entry \"cp2.example\"") {
		t.Errorf("address without a port: %v", err)
	}
}
