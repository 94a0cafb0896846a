package config

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCredentials(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "credentials.yaml")
	if err := os.WriteFile(path, []byte("directory:\n  url: ldaps://dc01:636\n  bind_password: s3cret-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadCredentials(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.For(context.Background(), "directory.unlock_account")
	if err != nil || got["bind_password"] != "s3cret-value" {
		t.Fatalf("For = %v, %v", got, err)
	}
	got["bind_password"] = "changed"
	if again, _ := c.For(context.Background(), "directory.find_user"); again["bind_password"] != "s3cret-value" {
		t.Error("For hands out the stored map")
	}
	// A plugin without a section (host needs no secrets) gets empty
	// credentials, not an error: a plugin that needs keys names the one
	// missing (TestDirectoryMissingCredentials in plugins/directory).
	if host, err := c.For(context.Background(), "host.cleanup"); err != nil || host == nil || len(host) != 0 {
		t.Errorf("plugin without a section: %v, %v; want empty credentials", host, err)
	}
	if strings.Contains(c.String(), "s3cret") {
		t.Error("String shows a secret")
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCredentials(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable file: %v", err)
	}
	if err := os.WriteFile(path, []byte("directory: [s3cret-in-a-list]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCredentials(path); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("malformed file: %v (must not quote values)", err)
	}
	c, err = LoadCredentials(filepath.Join(dir, "missing.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.For(context.Background(), "directory.find_user"); err != nil || got == nil || len(got) != 0 {
		t.Errorf("missing file: %v, %v; want empty credentials", got, err)
	}
}
