package syncserver

import (
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Config){
		"no listen":          func(c *Config) { c.Listen = "" },
		"tiny heartbeat":     func(c *Config) { c.HeartbeatInterval = time.Millisecond },
		"idle below beat":    func(c *Config) { c.IdleTimeout = c.HeartbeatInterval / 2 },
		"one stream":         func(c *Config) { c.MaxStreams = 1 },
		"no fetch":           func(c *Config) { c.FetchLimit = 0 },
		"negative retry":     func(c *Config) { c.RetryAbove = -1 },
		"no stream deadline": func(c *Config) { c.StreamTimeout = 0 },
	} {
		c := DefaultConfig()
		mut(&c)
		if c.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestRateWindow: address validation turns on only above the configured
// rate of connection attempts within one second.
func TestRateWindow(t *testing.T) {
	var r rateWindow
	t0 := time.Unix(1000, 0)
	for i := 1; i <= 5; i++ {
		if got := r.hit(t0); got != i {
			t.Fatalf("hit %d in the same second = %d", i, got)
		}
	}
	if got := r.hit(t0.Add(time.Second)); got != 1 {
		t.Errorf("first hit of the next second = %d, want 1", got)
	}
}
