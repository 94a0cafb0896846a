package pluginhost

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// Limits bound one plugin process. Zero means "no limit" for that resource.
type Limits struct {
	// MemoryBytes: Linux RLIMIT_AS (address space); Windows job memory limit
	// (committed memory of all the job's processes).
	MemoryBytes uint64
	// CPUSeconds: Linux RLIMIT_CPU (SIGKILL 5 s after the soft limit);
	// Windows per-process user-mode time limit.
	CPUSeconds uint64
	// Processes: Linux RLIMIT_NPROC (counted per user, so it bites only with
	// RunAs or a non-root runner); Windows active-process limit of the job.
	Processes uint64
	// OpenFiles: Linux RLIMIT_NOFILE. Ignored on Windows.
	OpenFiles uint64
}

// RunAs is a user and group to run plugins as (Linux only).
type RunAs struct {
	UID, GID uint32
}

// Config configures a Host.
type Config struct {
	// Dir holds the plugin binaries, sitewarden-plugin-<name>[.exe].
	Dir string
	// WorkDir is the parent of each plugin's working directory (created
	// 0700, owned by RunAs when set).
	WorkDir string
	// Pins maps a plugin name to the lowercase hex SHA-256 of its binary,
	// from the scope's catalog. A plugin without a pin never starts.
	Pins map[string]string
	// StartTimeout bounds launch, handshake and Describe.
	StartTimeout time.Duration
	// CallTimeout is the deadline of a call whose context has none or a
	// later one.
	CallTimeout time.Duration
	// KillGrace is how long past its deadline a call may take to answer
	// before the plugin is killed as hung.
	KillGrace time.Duration
	// MaxConcurrent bounds the calls in flight per plugin.
	MaxConcurrent int
	// RestartBackoffMin and RestartBackoffMax bound the delay before
	// restarting a plugin that crashed or hung; it doubles per failure in a
	// row and resets after a successful call.
	RestartBackoffMin, RestartBackoffMax time.Duration
	// Limits bound each plugin process.
	Limits Limits
	// RunAs runs plugins as another user (Linux; the runner must be root).
	RunAs *RunAs
	// IsolatePIDs starts each plugin in its own PID namespace (Linux; needs
	// root), so that every process it forks dies with it.
	IsolatePIDs bool
	// Credentials, when set, names the credential keys each plugin's calls
	// will get; a plugin that declares a required key missing from them
	// is stopped at start with ErrMissingCredentials. nil: not checked.
	Credentials CredentialKeys `json:"-"`
	// CredentialsFile is the credentials file's path, for error messages.
	CredentialsFile string
}

// DefaultConfig returns the defaults for this OS.
func DefaultConfig() Config {
	return Config{
		Dir:               defaultPluginDir(),
		WorkDir:           filepath.Join(os.TempDir(), "sitewarden-plugins"),
		StartTimeout:      5 * time.Second,
		CallTimeout:       30 * time.Second,
		KillGrace:         2 * time.Second,
		MaxConcurrent:     4,
		RestartBackoffMin: 200 * time.Millisecond,
		RestartBackoffMax: 30 * time.Second,
		Limits: Limits{
			MemoryBytes: 4 << 30,
			CPUSeconds:  600,
			Processes:   256,
			OpenFiles:   256,
		},
		IsolatePIDs: os.Geteuid() == 0,
	}
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// Validate reports the first problem with c, saying what to change.
func (c Config) Validate() error {
	switch {
	case c.Dir == "":
		return errors.New("pluginhost: Dir is empty; set the plugin directory")
	case c.WorkDir == "":
		return errors.New("pluginhost: WorkDir is empty; set a directory for plugin working directories")
	case c.StartTimeout <= 0 || c.CallTimeout <= 0 || c.KillGrace <= 0:
		return errors.New("pluginhost: StartTimeout, CallTimeout and KillGrace must be positive")
	case c.MaxConcurrent <= 0:
		return errors.New("pluginhost: MaxConcurrent must be at least 1")
	case c.RestartBackoffMin <= 0 || c.RestartBackoffMax < c.RestartBackoffMin:
		return errors.New("pluginhost: need 0 < RestartBackoffMin <= RestartBackoffMax")
	}
	for name, pin := range c.Pins {
		if !nameRE.MatchString(name) {
			return fmt.Errorf("pluginhost: pin for %q: plugin names are lowercase identifiers", name)
		}
		if b, err := hex.DecodeString(pin); err != nil || len(b) != 32 || pin != hex.EncodeToString(b) {
			return fmt.Errorf("pluginhost: pin for %q is not a lowercase hex SHA-256 (64 characters)", name)
		}
	}
	return validateOS(c)
}

// binaryName is the file name of plugin name's binary.
func binaryName(name string) string { return "sitewarden-plugin-" + name + exeSuffix }

func parentDir(p string) string { return filepath.Dir(p) }
