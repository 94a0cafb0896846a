package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/sitewarden/sitewarden/internal/yamlstrict"
	"github.com/sitewarden/sitewarden/protocol"
)

// Config is the runner's configuration file (config.yaml), version 1.
type Config struct {
	// ControlPlane is the control plane's host:port. Enrollment records the
	// address the token names; this overrides it when set.
	ControlPlane string `yaml:"control_plane,omitempty"`
	// ControlPlanes are more replicas of the same control plane (host:port;
	// docs/scaling.md): the runner fails over to the next one when its
	// replica goes away, and resumes from its cursors.
	ControlPlanes []string `yaml:"control_planes,omitempty"`
	// SiteName names the site a fleet token enrolls (protocol.ValidName);
	// empty: the machine's host name, lowercased (SiteNameForEnroll). A
	// one-site token names its own site and ignores it.
	SiteName string `yaml:"site_name,omitempty"`
	// StateDir holds the site key and certificate, the outbox, the inbox and
	// the last good scope bundle.
	StateDir string `yaml:"state_dir"`
	// EnrollTokenFile is where an installer leaves a one-time enrollment
	// token; the runner enrolls with it on first start and deletes it.
	EnrollTokenFile string `yaml:"enroll_token_file"`
	// HeartbeatInterval applies until the control plane names one.
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// StopTimeout bounds how long Stop waits for in-flight work.
	StopTimeout time.Duration `yaml:"stop_timeout"`
	// RenewCheckInterval is how often the certificate's expiry is checked.
	RenewCheckInterval time.Duration `yaml:"renew_check_interval"`
	// OutboxLimit bounds the items waiting for the control plane.
	OutboxLimit int `yaml:"outbox_limit"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// PluginDir holds the action plugin binaries (empty: the OS default of
	// runner/pluginhost).
	PluginDir string `yaml:"plugin_dir,omitempty"`
	// CredentialsFile holds, per plugin, the credentials its actions get
	// (YAML: plugin name -> key -> value). Readable by the service account
	// only; never logged.
	CredentialsFile string `yaml:"credentials_file"`
	// ModelHost and ModelName name the local model server and model (empty
	// ModelName: no model, playbooks only).
	ModelHost string `yaml:"model_host,omitempty"`
	ModelName string `yaml:"model_name,omitempty"`
	// Proxy is an HTTP(S) proxy URL (http://host:port) for enrollment and
	// certificate renewal, which run over HTTPS. QUIC sync is UDP and never
	// goes through it (docs/deploy.md).
	Proxy string `yaml:"proxy,omitempty"`
}

// DefaultConfig returns the embedded defaults for this OS.
func DefaultConfig() Config {
	return Config{
		StateDir:           DefaultStateDir(),
		EnrollTokenFile:    filepath.Join(DefaultConfigDir(), "enroll.token"),
		HeartbeatInterval:  15 * time.Second,
		StopTimeout:        10 * time.Second,
		RenewCheckInterval: 12 * time.Hour,
		OutboxLimit:        1_000_000,
		LogLevel:           "info",
		CredentialsFile:    filepath.Join(DefaultConfigDir(), "credentials.yaml"),
		ModelHost:          "http://127.0.0.1:11434",
	}
}

// DefaultConfigFile is where the runner looks for its configuration.
func DefaultConfigFile() string { return filepath.Join(DefaultConfigDir(), "config.yaml") }

// Load reads path over DefaultConfig. A missing file is not an error when
// optional is true (the embedded defaults apply).
func Load(path string, optional bool) (Config, error) {
	raw, err := readBounded(path, maxConfigFile)
	if errors.Is(err, os.ErrNotExist) && optional {
		return DefaultConfig(), nil
	}
	if err != nil {
		return DefaultConfig(), fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(raw)
	if err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes a configuration file's bytes over DefaultConfig, strictly
// (unknown keys are errors naming their line), and validates the result.
func Parse(raw []byte) (Config, error) {
	c := DefaultConfig()
	err := yamlstrict.Decode(raw, &c)
	switch {
	case errors.Is(err, yamlstrict.ErrMalformed):
		return c, err
	case err != nil:
		return c, errors.New(yaml.FormatError(err, false, true))
	}
	return c, c.Validate()
}

// Validate checks c.
func (c Config) Validate() error {
	var errs []error
	if c.StateDir == "" {
		errs = append(errs, errors.New("config: state_dir is empty"))
	}
	if c.HeartbeatInterval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("config: heartbeat_interval %s is below 100ms", c.HeartbeatInterval))
	}
	if c.StopTimeout <= 0 || c.StopTimeout > 5*time.Minute {
		errs = append(errs, fmt.Errorf("config: stop_timeout %s: use a duration up to 5m", c.StopTimeout))
	}
	if c.RenewCheckInterval < time.Second {
		errs = append(errs, fmt.Errorf("config: renew_check_interval %s is below 1s", c.RenewCheckInterval))
	}
	for _, a := range c.ControlPlanes {
		if _, _, err := net.SplitHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf("config: control_planes entry %q: use host:port", a))
		}
	}
	if c.SiteName != "" && !protocol.ValidName(c.SiteName) {
		errs = append(errs, fmt.Errorf("config: site_name %q: %s", c.SiteName, protocol.NameRule))
	}
	if c.OutboxLimit < 1 {
		errs = append(errs, fmt.Errorf("config: outbox_limit %d must be positive", c.OutboxLimit))
	}
	if err := validateProxy(c.Proxy); err != nil {
		errs = append(errs, err)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("config: log_level %q: use debug, info, warn or error", c.LogLevel))
	}
	return errors.Join(errs...)
}
