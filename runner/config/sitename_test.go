package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSiteNameForEnroll(t *testing.T) {
	c := DefaultConfig()
	c.SiteName = "pc-07"
	if got, err := c.SiteNameForEnroll(); err != nil || got != "pc-07" {
		t.Errorf("SiteNameForEnroll with site_name = %q, %v", got, err)
	}
	// Empty: the real host name, lowercased.
	c.SiteName = ""
	host, err := hostName()
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.SiteNameForEnroll()
	if err != nil || got != strings.ToLower(host) {
		t.Errorf("SiteNameForEnroll from host %q = %q, %v", host, got, err)
	}
	for h, want := range map[string]string{"PC-07": "pc-07", " Desk.Corp.Example ": "desk.corp.example"} {
		if got, err := siteNameFromHost(func() (string, error) { return h, nil }); err != nil || got != want {
			t.Errorf("siteNameFromHost(%q) = %q, %v; want %q", h, got, err, want)
		}
	}
	for _, h := range []string{"", "my pc", "pc/1", strings.Repeat("a", 64)} {
		if _, err := siteNameFromHost(func() (string, error) { return h, nil }); !errors.Is(err, ErrNoSiteName) || !strings.Contains(err.Error(), "site_name") {
			t.Errorf("siteNameFromHost(%q) = %v, want ErrNoSiteName naming site_name", h, err)
		}
	}
	if _, err := siteNameFromHost(func() (string, error) { return "", errors.New("boom") }); !errors.Is(err, ErrNoSiteName) {
		t.Errorf("host name error: %v", err)
	}
	c.SiteName = "bad name"
	if _, err := c.SiteNameForEnroll(); !errors.Is(err, ErrNoSiteName) {
		t.Errorf("invalid site_name: %v", err)
	}
}

func TestSiteNameConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	if err := Set(path, map[string]string{"site_name": "front-desk"}); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, false)
	if err != nil || c.SiteName != "front-desk" {
		t.Errorf("Load after Set(site_name) = %+v, %v", c.SiteName, err)
	}
	if err := Set(path, map[string]string{"site_name": "front desk"}); err == nil || !strings.Contains(err.Error(), "site_name") {
		t.Errorf("Set(invalid site_name) = %v, want an error naming site_name", err)
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), "front-desk") {
		t.Errorf("a refused Set changed the file: %s", b)
	}
}
