package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/goccy/go-yaml"

	"github.com/sitewarden/sitewarden/internal/yamlstrict"
)

// maxConfigFile bounds the configuration file Set rewrites.
const maxConfigFile = 1 << 20

// Settable are the keys Set may write: the ones installers provide.
var Settable = []string{"control_plane", "proxy", "log_level", "plugin_dir", "state_dir", "enroll_token_file", "site_name"}

// Set writes values (key -> value, keys from Settable) into the YAML
// configuration file at path and keeps every other key and its order
// (comments are not kept). A missing file is created with just these keys.
// The result must load (strict decoding and Validate) before it replaces the
// file, so a bad value leaves the old file as it was. The file is written
// atomically, mode 0600.
func Set(path string, values map[string]string) error {
	for k := range values {
		if !settable(k) {
			return fmt.Errorf("config: %q cannot be set by an installer; use one of %v", k, Settable)
		}
	}
	var doc yaml.MapSlice
	raw, err := readBounded(path, maxConfigFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("read config: %w", err)
	default:
		err := yamlstrict.Guard(func() error { return yaml.UnmarshalWithOptions(raw, &doc, yaml.UseOrderedMap()) })
		switch {
		case errors.Is(err, yamlstrict.ErrMalformed):
			return fmt.Errorf("config %s: %w", path, err)
		case err != nil:
			return fmt.Errorf("config %s: %s", path, yaml.FormatError(err, false, true))
		}
	}
	for _, k := range Settable {
		v, ok := values[k]
		if !ok {
			continue
		}
		found := false
		for i := range doc {
			if doc[i].Key == k {
				doc[i].Value, found = v, true
			}
		}
		if !found {
			doc = append(doc, yaml.MapItem{Key: k, Value: v})
		}
	}
	var out []byte
	err = yamlstrict.Guard(func() (err error) { out, err = yaml.Marshal(doc); return err })
	if errors.Is(err, yamlstrict.ErrMalformed) {
		// The encoder panics on some keys a decoded file can hold (a
		// number: "0: x", found by FuzzSet).
		return fmt.Errorf("config %s: %w", path, err)
	}
	if err != nil {
		return fmt.Errorf("config: encode: %w", err)
	}
	if len(doc) == 0 {
		out = []byte("{}\n")
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("config directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".config-*.yaml")
	if err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(out); err != nil {
		tmp.Close()
		return fmt.Errorf("write config: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write config: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	if _, err := Load(tmp.Name(), false); err != nil {
		return fmt.Errorf("config %s not changed: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}

func settable(k string) bool {
	for _, s := range Settable {
		if s == k {
			return true
		}
	}
	return false
}

// ProxyURL returns the parsed proxy, nil when none is set.
func (c Config) ProxyURL() *url.URL {
	if c.Proxy == "" {
		return nil
	}
	u, err := url.Parse(c.Proxy)
	if err != nil {
		return nil
	}
	return u
}

func validateProxy(p string) error {
	if p == "" {
		return nil
	}
	u, err := url.Parse(p)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The URL may carry a password: never quote it.
		return errors.New("config: proxy is not an http:// or https:// URL with a host; use e.g. http://proxy.example:3128")
	}
	return nil
}
