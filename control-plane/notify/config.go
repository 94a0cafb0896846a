package notify

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/sitewarden/sitewarden/internal/yamlstrict"
)

// Event types.
const (
	EventEscalationOpened  = "escalation.opened"
	EventApprovalRequested = "approval.requested"
	EventApprovalExpiring  = "approval.expiring"
	EventWitnessAlert      = "witness.alert"
	// EventTest is what 'sitewarden notify test' sends; every target gets it.
	EventTest = "test"
)

// EventTypes lists the event types a target may filter on.
var EventTypes = []string{EventEscalationOpened, EventApprovalRequested, EventApprovalExpiring, EventWitnessAlert}

// Formats of a target's requests.
const (
	// FormatJSON posts the Event as JSON, signed (Sign).
	FormatJSON = "json"
	// FormatSlack posts {"text": ...}: Slack, Mattermost, Rocket.Chat.
	FormatSlack = "slack"
	// FormatTeams posts an Adaptive Card message: Microsoft Teams
	// Workflows ("When a Teams webhook request is received").
	FormatTeams = "teams"
)

// maxConfigSize bounds the configuration file.
const maxConfigSize = 1 << 20

// Config is the notifier's configuration (docs/notify.md).
type Config struct {
	// BaseURL is the web UI's address; event links start with it.
	BaseURL string `yaml:"base_url"`
	// ApprovalLead: an undecided approval with less than this left gets
	// one approval.expiring event.
	ApprovalLead time.Duration `yaml:"approval_lead"`
	// GiveUpAfter: a delivery still failing this long after its event was
	// queued is marked failed.
	GiveUpAfter time.Duration `yaml:"give_up_after"`
	// RetryMin and RetryMax bound the exponential backoff between attempts.
	RetryMin time.Duration `yaml:"retry_min"`
	RetryMax time.Duration `yaml:"retry_max"`
	// MaxPending bounds each target's pending deliveries; past it new
	// events are recorded failed ("outbox full").
	MaxPending int `yaml:"max_pending"`
	// MaxAge: items older than this when the notifier first reads them
	// (a store that held them before notifications were configured) make
	// no events.
	MaxAge time.Duration `yaml:"max_age"`
	// Poll is how often the notifier reads the store for new events and
	// due deliveries.
	Poll time.Duration `yaml:"poll"`
	// Retention is how long delivered and failed deliveries are kept (so
	// that re-reading never delivers twice).
	Retention time.Duration `yaml:"retention"`
	Targets   []Target      `yaml:"targets"`

	// Tenant names the control plane's tenant in events; the server sets
	// it from --tenant.
	Tenant string `yaml:"-"`
}

// Target is one webhook receiver.
type Target struct {
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
	// Format is FormatJSON (default), FormatSlack or FormatTeams.
	Format string `yaml:"format"`
	// Secret keys the HMAC-SHA256 signature of FormatJSON bodies.
	Secret string `yaml:"secret"`
	// Events filters the event types sent (empty: all).
	Events []string `yaml:"events"`
	// Clients filters the clients whose events are sent (empty: all).
	Clients []string `yaml:"clients"`
	// Timeout bounds one delivery attempt.
	Timeout time.Duration `yaml:"timeout"`
	// AllowHTTP permits an http:// URL on a loopback host (a local relay).
	AllowHTTP bool `yaml:"allow_http"`
}

// Wants reports whether the target takes an event of this type and client.
func (t Target) Wants(typ, client string) bool {
	if typ == EventTest {
		return true
	}
	return (len(t.Events) == 0 || slices.Contains(t.Events, typ)) && (len(t.Clients) == 0 || slices.Contains(t.Clients, client))
}

// DefaultTimeout bounds a delivery attempt unless a target sets one.
const DefaultTimeout = 10 * time.Second

// DefaultConfig returns the defaults: 15 min approval lead, give up after
// 24 h, retries from 5 s to 10 min, 10000 pending per target, 1 h max
// age, 1 s poll, 7 days retention, no targets.
func DefaultConfig() Config {
	return Config{ApprovalLead: 15 * time.Minute, GiveUpAfter: 24 * time.Hour, RetryMin: 5 * time.Second, RetryMax: 10 * time.Minute,
		MaxPending: 10000, MaxAge: time.Hour, Poll: time.Second, Retention: 7 * 24 * time.Hour, Tenant: "default"}
}

var targetName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func cfgErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
}

// Validate reports the first setting that cannot work, naming the field
// and what to do.
func (c Config) Validate() error {
	u, err := url.Parse(c.BaseURL)
	if c.BaseURL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return cfgErr("base_url %q: set the web UI's address, e.g. https://sitewarden.example.com:8443", c.BaseURL)
	}
	for _, d := range []struct {
		name     string
		v, lo, h time.Duration
	}{
		{"approval_lead", c.ApprovalLead, time.Second, 7 * 24 * time.Hour},
		{"give_up_after", c.GiveUpAfter, time.Second, 30 * 24 * time.Hour},
		{"retry_min", c.RetryMin, 10 * time.Millisecond, time.Hour},
		{"retry_max", c.RetryMax, c.RetryMin, 24 * time.Hour},
		{"max_age", c.MaxAge, time.Second, 365 * 24 * time.Hour},
		{"poll", c.Poll, 10 * time.Millisecond, 5 * time.Minute},
		{"retention", c.Retention, time.Hour, 365 * 24 * time.Hour},
	} {
		if d.v < d.lo || d.v > d.h {
			return cfgErr("%s %s: use a duration from %s to %s, e.g. \"10m\"", d.name, d.v, d.lo, d.h)
		}
	}
	if c.Retention < c.GiveUpAfter {
		return cfgErr("retention %s: keep deliveries at least as long as give_up_after (%s)", c.Retention, c.GiveUpAfter)
	}
	if c.MaxPending < 1 || c.MaxPending > 1_000_000 {
		return cfgErr("max_pending %d: use 1 to 1000000", c.MaxPending)
	}
	if c.Tenant == "" {
		return cfgErr("tenant is empty: start the server with --tenant")
	}
	if len(c.Targets) == 0 {
		return cfgErr("targets: list at least one target (name, url, format)")
	}
	seen := map[string]bool{}
	for i, t := range c.Targets {
		if err := t.validate(); err != nil {
			return fmt.Errorf("targets[%d]: %w", i, err)
		}
		if seen[t.Name] {
			return cfgErr("targets[%d].name %q: names must be unique", i, t.Name)
		}
		seen[t.Name] = true
	}
	return nil
}

func (t Target) validate() error {
	if !targetName.MatchString(t.Name) {
		return cfgErr("name %q: use 1-63 lowercase letters, digits, '-' or '_'", t.Name)
	}
	u, err := url.Parse(t.URL)
	if t.URL == "" || err != nil || u.Host == "" || u.User != nil {
		return cfgErr("target %s: url %q: use an absolute https:// URL without user:password@", t.Name, redactURL(t.URL))
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !t.AllowHTTP {
			return cfgErr("target %s: url is http://: use https://, or set allow_http: true for a receiver on loopback", t.Name)
		}
		host := u.Hostname()
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return cfgErr("target %s: allow_http is only for loopback receivers (127.0.0.1, ::1, localhost); use https:// for %s", t.Name, host)
		}
	default:
		return cfgErr("target %s: url scheme %q: use https://", t.Name, u.Scheme)
	}
	switch t.Format {
	case FormatJSON:
		if len(t.Secret) < 16 {
			return cfgErr("target %s: format json needs a secret of at least 16 characters (e.g. openssl rand -hex 32)", t.Name)
		}
	case FormatSlack, FormatTeams:
	default:
		return cfgErr("target %s: format %q: use json, slack or teams", t.Name, t.Format)
	}
	for _, e := range t.Events {
		if !slices.Contains(EventTypes, e) {
			return cfgErr("target %s: events: %q is not an event type; use %s", t.Name, e, strings.Join(EventTypes, ", "))
		}
	}
	for _, c := range t.Clients {
		if c == "" {
			return cfgErr("target %s: clients: empty client name", t.Name)
		}
	}
	if t.Timeout < 100*time.Millisecond || t.Timeout > time.Minute {
		return cfgErr("target %s: timeout %s: use 100ms to 1m", t.Name, t.Timeout)
	}
	return nil
}

// redactURL keeps a URL's scheme and host: the path and query of a
// webhook URL are often its token.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "(unparsable)"
	}
	return u.Scheme + "://" + u.Host + "/..."
}

// Target returns the named target.
func (c Config) Target(name string) (Target, error) {
	for _, t := range c.Targets {
		if t.Name == name {
			return t, nil
		}
	}
	return Target{}, fmt.Errorf("%w %q; the file names %s", ErrUnknownTarget, name, strings.Join(c.names(), ", "))
}

func (c Config) names() []string {
	out := make([]string, len(c.Targets))
	for i, t := range c.Targets {
		out[i] = t.Name
	}
	return out
}

// DecodeConfig decodes a YAML configuration strictly (an unknown key is
// an error naming it and its line) over DefaultConfig, fills target
// defaults (format json, timeout 10 s) and validates it.
func DecodeConfig(raw []byte) (Config, error) {
	c := DefaultConfig()
	if len(raw) > maxConfigSize {
		return c, cfgErr("file is %d bytes, over the %d limit", len(raw), maxConfigSize)
	}
	if err := yamlstrict.Decode(raw, &c); err != nil {
		// The decoder's message quotes the offending source; a URL with
		// its token could be in it, so keep only the first line.
		msg, _, _ := strings.Cut(err.Error(), "\n")
		return c, cfgErr("%s; fix the YAML (docs/notify.md lists the keys)", msg)
	}
	for i := range c.Targets {
		if c.Targets[i].Format == "" {
			c.Targets[i].Format = FormatJSON
		}
		if c.Targets[i].Timeout == 0 {
			c.Targets[i].Timeout = DefaultTimeout
		}
	}
	return c, c.Validate()
}

// LoadConfig reads and decodes the configuration file at path. It refuses
// a file readable by group or others (checkPrivate) before reading it.
func LoadConfig(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("notify config %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Config{}, fmt.Errorf("notify config %s: %w", path, err)
	}
	if err := checkPrivate(fi); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	raw, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return Config{}, fmt.Errorf("notify config %s: %w", path, err)
	}
	c, err := DecodeConfig(raw)
	if err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}
