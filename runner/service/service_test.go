package service

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kardianos/service"
)

func testConfig(stop time.Duration) Config {
	c := DefaultConfig("/etc/sitewarden/config.yaml")
	c.StopTimeout = stop
	return c
}

// TestStartReturnsAndStopDrains: Start returns while the loop runs; Stop
// cancels it and waits for its drain (here 100 ms of cleanup).
func TestStartReturnsAndStopDrains(t *testing.T) {
	var drained atomic.Bool
	running := make(chan struct{})
	p, err := NewProgram(testConfig(5*time.Second), func(ctx context.Context) error {
		close(running)
		<-ctx.Done()
		time.Sleep(100 * time.Millisecond)
		drained.Store(true)
		return ctx.Err()
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := p.Start(nil); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Start took %s; it must return at once", d)
	}
	select {
	case <-running:
	case <-time.After(5 * time.Second):
		t.Fatal("loop did not start")
	}
	if err := p.Start(nil); err == nil {
		t.Error("second Start succeeded")
	}
	if err := p.Stop(nil); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if !drained.Load() {
		t.Error("Stop returned before the loop drained")
	}
	if err := p.Stop(nil); !errors.Is(err, ErrNotRunning) {
		t.Errorf("second Stop: %v, want ErrNotRunning", err)
	}
}

// TestStopIsBounded: a loop that ignores cancellation does not hold Stop
// beyond its bound, and Stop reports it instead of exiting.
func TestStopIsBounded(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	p, err := NewProgram(testConfig(200*time.Millisecond), func(context.Context) error {
		<-release
		return nil
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(nil); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = p.Stop(nil)
	if !errors.Is(err, ErrStopTimeout) {
		t.Errorf("Stop: %v, want ErrStopTimeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Stop took %s with a 200ms bound", d)
	}
}

func TestLoopErrorIsReturnedByStop(t *testing.T) {
	boom := errors.New("boom")
	p, _ := NewProgram(testConfig(time.Second), func(context.Context) error { return boom }, slog.New(slog.DiscardHandler))
	if err := p.Start(nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if err := p.Stop(nil); !errors.Is(err, boom) {
		t.Errorf("Stop: %v, want the loop's error", err)
	}
}

func TestConfigAndControl(t *testing.T) {
	c := testConfig(time.Second)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Arguments, " ") != "run --config /etc/sitewarden/config.yaml" {
		t.Errorf("arguments = %v", c.Arguments)
	}
	bad := c
	bad.StopTimeout = 0
	if bad.Validate() == nil {
		t.Error("zero stop timeout accepted")
	}
	p, _ := NewProgram(c, func(context.Context) error { return nil }, slog.New(slog.DiscardHandler))
	s, err := New(c, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := Control(s, "explode"); !errors.Is(err, ErrUnknownAction) {
		t.Errorf("Control(explode) = %v", err)
	}
	// No systemd runs in this container: Status must answer, not hang or
	// panic (not-installed, or an error naming the service).
	if st, err := Status(s); err == nil && st == "" {
		t.Error("Status returned an empty state")
	}
}

type recLogger struct{ lines []string }

func (r *recLogger) Error(v ...any) error { r.lines = append(r.lines, "E "+v[0].(string)); return nil }
func (r *recLogger) Warning(v ...any) error {
	r.lines = append(r.lines, "W "+v[0].(string))
	return nil
}
func (r *recLogger) Info(v ...any) error               { r.lines = append(r.lines, "I "+v[0].(string)); return nil }
func (r *recLogger) Errorf(f string, a ...any) error   { return nil }
func (r *recLogger) Warningf(f string, a ...any) error { return nil }
func (r *recLogger) Infof(f string, a ...any) error    { return nil }

var _ service.Logger = (*recLogger)(nil)

// TestSystemHandler checks the Event Log adapter's severities and format
// (the Event Log itself exists only on Windows).
func TestSystemHandler(t *testing.T) {
	rec := &recLogger{}
	log := slog.New(&systemHandler{sys: rec, level: slog.LevelInfo}).With("site", "hq")
	log.Debug("hidden")
	log.Info("runner ready", "version", "1.0")
	log.WithGroup("sync").Warn("offline", "retry_in", "1s")
	log.Error("failed")
	want := []string{"I runner ready site=hq version=1.0", "W offline site=hq sync.retry_in=1s", "E failed site=hq"}
	if strings.Join(rec.lines, "|") != strings.Join(want, "|") {
		t.Errorf("lines = %q, want %q", rec.lines, want)
	}
}
