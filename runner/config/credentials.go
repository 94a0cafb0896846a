package config

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"strings"

	"github.com/sitewarden/sitewarden/internal/yamlstrict"
	"github.com/sitewarden/sitewarden/plugins/sdk"
)

// maxCredentialsFile bounds the credentials file.
const maxCredentialsFile = 1 << 20

// Credentials are the site's per-plugin credentials, handed to each action
// of that plugin for one call. They are never logged: String shows only
// plugin and key names.
type Credentials struct {
	byPlugin map[string]map[string]string
}

// LoadCredentials reads path (YAML: plugin name -> key -> value). A missing
// file gives empty credentials, as a missing section does (see For). On
// Unix a file readable by group or others is refused.
func LoadCredentials(path string) (*Credentials, error) {
	c := &Credentials{byPlugin: map[string]map[string]string{}}
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	if err := checkPrivate(fi); err != nil {
		return nil, fmt.Errorf("credentials %s: %w", path, err)
	}
	if fi.Size() > maxCredentialsFile {
		return nil, fmt.Errorf("credentials %s: %d bytes, limit %d", path, fi.Size(), maxCredentialsFile)
	}
	raw, err := readBounded(path, maxCredentialsFile)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	if c, err = parseCredentials(raw); err != nil {
		return nil, fmt.Errorf("credentials %s: %w", path, err)
	}
	return c, nil
}

// parseCredentials decodes a credentials file's bytes. Its errors never
// quote the file: the decoder's message can hold the offending value.
func parseCredentials(raw []byte) (*Credentials, error) {
	c := &Credentials{byPlugin: map[string]map[string]string{}}
	err := yamlstrict.Decode(raw, &c.byPlugin)
	if err != nil {
		return nil, errors.New("not a map of plugin name to key/value strings; fix its YAML")
	}
	return c, nil
}

// For returns the credentials of the plugin that owns action
// ("directory.unlock_account" → "directory"): a copy of that plugin's
// section, or empty credentials when the file has no such section. A
// plugin that needs none (host) works without a section; one that
// declares required keys (sdk.Info.Credentials) is refused at start by the
// plugin host when its section lacks one. The map is never nil, and the
// error is always nil (the agent's Credentials interface allows one).
func (c *Credentials) For(_ context.Context, action string) (sdk.Credentials, error) {
	plugin, _, _ := strings.Cut(action, ".")
	m := c.byPlugin[plugin]
	if m == nil {
		return sdk.Credentials{}, nil
	}
	return sdk.Credentials(maps.Clone(m)), nil
}

// String names the plugins and keys, never the values.
func (c *Credentials) String() string {
	var b strings.Builder
	for p, m := range c.byPlugin {
		fmt.Fprintf(&b, "%s:%d keys ", p, len(m))
	}
	return strings.TrimSpace(b.String())
}
