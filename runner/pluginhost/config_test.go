package pluginhost

import (
	"strings"
	"testing"
	"time"
)

func TestBackoffDoublesAndCaps(t *testing.T) {
	h := &Host{cfg: Config{RestartBackoffMin: 100 * time.Millisecond, RestartBackoffMax: time.Second}}
	in := &instance{h: h}
	want := []time.Duration{100, 100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		in.failures = i
		if got := in.backoff(); got != w*time.Millisecond {
			t.Errorf("failures=%d: backoff %v, want %v", i, got, w*time.Millisecond)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	good := DefaultConfig()
	good.Pins = map[string]string{"host": strings.Repeat("0a", 32)}
	good.IsolatePIDs = false
	if err := good.Validate(); err != nil {
		t.Fatalf("defaults rejected: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		errSub string
	}{
		{"no dir", func(c *Config) { c.Dir = "" }, "Dir is empty"},
		{"no work dir", func(c *Config) { c.WorkDir = "" }, "WorkDir is empty"},
		{"zero timeout", func(c *Config) { c.CallTimeout = 0 }, "must be positive"},
		{"no slots", func(c *Config) { c.MaxConcurrent = 0 }, "MaxConcurrent"},
		{"backoff", func(c *Config) { c.RestartBackoffMax = c.RestartBackoffMin / 2 }, "RestartBackoffMin"},
		{"bad name", func(c *Config) { c.Pins = map[string]string{"Host": strings.Repeat("0a", 32)} }, "lowercase identifiers"},
		{"short pin", func(c *Config) { c.Pins = map[string]string{"host": "abc"} }, "64 characters"},
		{"upper pin", func(c *Config) { c.Pins = map[string]string{"host": strings.Repeat("0A", 32)} }, "lowercase hex"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mutate(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.errSub) {
				t.Fatalf("want error containing %q, got %v", tt.errSub, err)
			}
		})
	}
}
