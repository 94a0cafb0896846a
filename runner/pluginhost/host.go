package pluginhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/sitewarden/sitewarden/plugins/sdk"
)

// Executor runs one plugin operation. Host implements it; the agent owns
// its own copy of this interface.
type Executor interface {
	Execute(ctx context.Context, req sdk.Request) (sdk.Result, error)
}

var _ Executor = (*Host)(nil)

// Host starts, contains and calls plugins. Safe for concurrent use; Close
// kills every plugin process.
type Host struct {
	cfg Config
	log *slog.Logger

	// afterPin, when set (tests only), runs between the pin check and the
	// start of the process.
	afterPin func(path string)

	done    chan struct{} // closed by Close
	mu      sync.Mutex
	closed  bool
	plugins map[string]*instance

	preflight       sync.Once
	preflightCancel context.CancelFunc // set under mu by Preflight
	wg              sync.WaitGroup     // the preflight goroutine
}

// New returns a Host. No plugin starts until it is first used.
func New(cfg Config, log *slog.Logger) (*Host, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.WorkDir, 0o700); err != nil {
		return nil, fmt.Errorf("pluginhost: create work dir: %w", err)
	}
	return &Host{cfg: cfg, log: log, done: make(chan struct{}), plugins: map[string]*instance{}}, nil
}

// Discover lists the plugin names whose binaries are in the plugin
// directory, sorted; whether each is pinned is not checked here.
func (h *Host) Discover() ([]string, error) {
	entries, err := os.ReadDir(h.cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("pluginhost: read plugin dir: %w", err)
	}
	var names []string
	for _, e := range entries {
		n, ok := strings.CutPrefix(e.Name(), "sitewarden-plugin-")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		if n, ok = strings.CutSuffix(n, exeSuffix); ok && nameRE.MatchString(n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, nil
}

// Describe returns the checked description of the named plugin, starting
// it if needed.
func (h *Host) Describe(ctx context.Context, name string) (sdk.Info, error) {
	in, err := h.instance(name)
	if err != nil {
		return sdk.Info{}, err
	}
	p, err := in.get(ctx)
	if err != nil {
		return sdk.Info{}, err
	}
	return p.catalog.Info(), nil
}

// Execute runs req.Operation ("<plugin>.<verb>") in its plugin. The params
// are checked against the operation's schema before the call and the
// result against its result schema after it. Errors wrap this package's
// sentinels or the sdk's.
func (h *Host) Execute(ctx context.Context, req sdk.Request) (sdk.Result, error) {
	name, _, ok := strings.Cut(req.Operation, ".")
	if !ok {
		return sdk.Result{}, fmt.Errorf("%w: %q is not <plugin>.<operation>", sdk.ErrUnknownOperation, req.Operation)
	}
	in, err := h.instance(name)
	if err != nil {
		return sdk.Result{}, err
	}
	return in.execute(ctx, req)
}

// Close kills every plugin process. Calls after Close fail with ErrClosed.
func (h *Host) Close() error {
	h.mu.Lock()
	if !h.closed {
		close(h.done)
	}
	h.closed = true
	if h.preflightCancel != nil {
		h.preflightCancel()
	}
	h.mu.Unlock()
	h.wg.Wait()
	h.mu.Lock()
	ins := make([]*instance, 0, len(h.plugins))
	for _, in := range h.plugins {
		ins = append(ins, in)
	}
	h.mu.Unlock()
	for _, in := range ins {
		in.stop()
	}
	return nil
}

func (h *Host) instance(name string) (*instance, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	if in, ok := h.plugins[name]; ok {
		return in, nil
	}
	if _, ok := h.cfg.Pins[name]; !ok {
		return nil, fmt.Errorf("%w: %q; add its SHA-256 to the scope's plugin catalog", ErrNotPinned, name)
	}
	in := newInstance(h, name)
	h.plugins[name] = in
	return in, nil
}

// FileSHA256 returns the lowercase hex SHA-256 of the file at path, the
// form Config.Pins takes.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	hash := sha256.New()
	if _, err := io.Copy(hash, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(hash.Sum(nil)), nil
}
