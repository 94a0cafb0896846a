package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sitewarden/sitewarden/plugins/sdk"
)

// instance is one plugin: at most one live process, restarted on demand.
type instance struct {
	h     *Host
	name  string
	slots chan struct{} // concurrency limit
	lock  chan struct{} // guards the fields below; a channel so waits honour ctx
	done  chan struct{} // closed by the host's Close

	proc     *proc
	failures int // crashes and hangs in a row
	retryAt  time.Time
	stopped  bool

	smu    sync.Mutex // guards status alone, so Host.Status never waits on a start or a call
	status Status     // what Host.Status reports; Name always set
}

// maxStatusError bounds Status.LastError, which the runner's health
// report carries to the control plane.
const maxStatusError = 1 << 10

// setStatus changes the reported state and error; version, when not "",
// too.
func (in *instance) setStatus(state, lastError, version string) {
	if len(lastError) > maxStatusError {
		lastError = lastError[:maxStatusError] + "..."
	}
	in.smu.Lock()
	defer in.smu.Unlock()
	in.status.State, in.status.LastError = state, lastError
	if version != "" {
		in.status.Version = version
	}
}

func (in *instance) snapshot() Status {
	in.smu.Lock()
	defer in.smu.Unlock()
	return in.status
}

// proc is one running plugin process.
type proc struct {
	client  *plugin.Client
	runner  *procRunner
	api     *sdk.Client
	catalog *sdk.Catalog
}

func newInstance(h *Host, name string) *instance {
	return &instance{
		h:      h,
		name:   name,
		slots:  make(chan struct{}, h.cfg.MaxConcurrent),
		lock:   make(chan struct{}, 1),
		done:   h.done,
		status: Status{Name: name, State: StateStopped},
	}
}

func (in *instance) acquire(ctx context.Context) error {
	select {
	case in.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %s: %w", ErrBusy, in.name, ctx.Err())
	}
}

func (in *instance) release() { <-in.lock }

// get returns the live process, starting it (after any restart backoff).
func (in *instance) get(ctx context.Context) (*proc, error) {
	if err := in.acquire(ctx); err != nil {
		return nil, err
	}
	defer in.release()
	if in.stopped {
		return nil, ErrClosed
	}
	if in.proc != nil && in.proc.client.Exited() {
		in.h.log.Warn("plugin exited between calls; restarting", "plugin", in.name)
		in.discardLocked(in.proc)
	}
	if in.proc != nil {
		return in.proc, nil
	}
	if wait := time.Until(in.retryAt); wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-in.done:
			return nil, ErrClosed
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %s is in restart backoff for %s after %d failures: %w",
				ErrBusy, in.name, wait.Round(time.Millisecond), in.failures, ctx.Err())
		}
	}
	p, err := in.start(ctx)
	if err != nil {
		in.failures++
		in.retryAt = time.Now().Add(in.backoff())
		in.setStatus(startFailureState(err), err.Error(), "")
		return nil, err
	}
	in.proc = p
	in.setStatus(StateReady, "", p.catalog.Info().Version)
	return p, nil
}

func (in *instance) backoff() time.Duration {
	d := in.h.cfg.RestartBackoffMin
	for i := 1; i < in.failures && d < in.h.cfg.RestartBackoffMax; i++ {
		d *= 2
	}
	return min(d, in.h.cfg.RestartBackoffMax)
}

// discardLocked forgets p and kills it; the next use restarts after a
// backoff. The caller holds the lock.
func (in *instance) discardLocked(p *proc) {
	if in.proc == p {
		in.proc = nil
		in.failures++
		in.retryAt = time.Now().Add(in.backoff())
	}
	p.kill()
}

// fail discards p after a crash or a hang (cause says which, for Status).
func (in *instance) fail(p *proc, cause error) {
	in.lock <- struct{}{}
	defer in.release()
	if in.proc == p {
		in.setStatus(StateCrashed, cause.Error(), "")
	}
	in.discardLocked(p)
}

func (in *instance) stop() {
	in.lock <- struct{}{}
	defer in.release()
	in.stopped = true
	in.setStatus(StateStopped, "", "")
	if in.proc != nil {
		in.proc.kill()
		in.proc = nil
	}
}

// kill ends the process (and, on Linux, its process group; on Windows, its
// job) at once, then lets go-plugin release its resources.
func (p *proc) kill() {
	_ = p.runner.Kill(context.Background())
	p.client.Kill()
}

func (in *instance) execute(ctx context.Context, req sdk.Request) (sdk.Result, error) {
	select {
	case in.slots <- struct{}{}:
	case <-ctx.Done():
		return sdk.Result{}, fmt.Errorf("%w: %s: all %d call slots in use: %w", ErrBusy, in.name, cap(in.slots), ctx.Err())
	}
	defer func() { <-in.slots }()
	p, err := in.get(ctx)
	if err != nil {
		return sdk.Result{}, err
	}
	// The plugin's SDK checks the params against the same schema before
	// Execute runs (sdk.ErrInvalidParams); checking here as well would
	// protect nothing, since the schema comes from the plugin. The result,
	// which a hostile plugin controls, is checked here.
	if _, ok := p.catalog.Operation(req.Operation); !ok {
		return sdk.Result{}, fmt.Errorf("%w: plugin %q has no operation %q", sdk.ErrUnknownOperation, in.name, req.Operation)
	}
	deadline := time.Now().Add(in.h.cfg.CallTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	tctx, cancel := transportContext(ctx, deadline.Add(in.h.cfg.KillGrace))
	defer cancel()
	res, err := p.api.ExecuteUntil(tctx, req, deadline)
	if err != nil {
		return sdk.Result{}, in.callError(ctx, p, req.Operation, err)
	}
	if err := p.catalog.CheckResult(req.Operation, res); err != nil {
		in.h.log.Warn("plugin returned an invalid result", "plugin", in.name, "operation", req.Operation, "error", err)
		return sdk.Result{}, err
	}
	in.lock <- struct{}{}
	if in.proc == p {
		in.failures = 0
		in.setStatus(StateReady, "", "")
	}
	in.release()
	return res, nil
}

// callError classifies a failed call and kills the plugin when the failure
// is the process's, not the action's.
func (in *instance) callError(ctx context.Context, p *proc, op string, err error) error {
	if errors.Is(err, sdk.ErrActionFailed) || errors.Is(err, sdk.ErrInvalidParams) || errors.Is(err, sdk.ErrUnknownOperation) {
		return err
	}
	st, _ := status.FromError(err)
	switch {
	case ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded):
		// The caller gave up; the plugin is told through gRPC cancellation.
		return fmt.Errorf("plugin %s: %s: %w", in.name, op, ctx.Err())
	case st.Code() == codes.DeadlineExceeded:
		in.h.log.Error("plugin hung; killed", "plugin", in.name, "operation", op, "grace", in.h.cfg.KillGrace)
		err := fmt.Errorf("%w: %s: %s: no answer by the deadline + %s grace; it is restarted on next use", ErrHung, in.name, op, in.h.cfg.KillGrace)
		in.fail(p, err)
		return err
	case st.Code() == codes.Internal && !p.client.Exited():
		// The SDK reports a recovered panic this way; the process is fine.
		return fmt.Errorf("%w: %s: %s: %s", sdk.ErrActionFailed, in.name, op, st.Message())
	default:
		in.h.log.Error("plugin crashed during a call; killed", "plugin", in.name, "operation", op, "error", err)
		err := fmt.Errorf("%w: %s during %s (%s); it is restarted on next use", ErrCrashed, in.name, op, st.Message())
		in.fail(p, err)
		return err
	}
}

// start launches, pin-checks, handshakes and describes the plugin. Every
// failure kills what was started.
func (in *instance) start(ctx context.Context) (*proc, error) {
	cfg := in.h.cfg
	path := filepath.Join(cfg.Dir, binaryName(in.name))
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrNotFound, path, err)
	}
	bin, err := openPinned(path, cfg.Pins[in.name], in.name)
	if err != nil {
		return nil, err
	}
	defer bin.release()
	if in.h.afterPin != nil {
		in.h.afterPin(path)
	}
	workDir := filepath.Join(cfg.WorkDir, in.name)
	if err := prepareWorkDir(workDir, cfg.RunAs); err != nil {
		return nil, fmt.Errorf("%w: %s: work dir: %w", ErrStart, in.name, err)
	}
	var r *procRunner
	var sockCfg *plugin.UnixSocketConfig
	if cfg.RunAs != nil {
		sockCfg = &plugin.UnixSocketConfig{Group: strconv.FormatUint(uint64(cfg.RunAs.GID), 10)}
	}
	log := in.h.log.With("plugin", in.name)
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.HandshakeConfig(),
		Plugins:          sdk.PluginSet(),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		StartTimeout:     cfg.StartTimeout,
		UnixSocketConfig: sockCfg,
		RunnerFunc: func(_ hclog.Logger, spec *exec.Cmd, _ string) (runner.Runner, error) {
			nr, err := newProcRunner(in.name, bin, spec, workDir, cfg)
			if err != nil {
				return nil, err
			}
			r = nr
			return nr, nil
		},
		Stderr:     newLineLogger(log, "stderr"),
		SyncStderr: newLineLogger(log, "stderr"),
		SyncStdout: newLineLogger(log, "stdout"),
		Logger: hclog.New(&hclog.LoggerOptions{
			Name:   "go-plugin",
			Level:  hclog.Warn,
			Output: newLineLogger(log, "go-plugin"),
		}),
	})
	p := &proc{client: client}
	failed := func(format string, args ...any) (*proc, error) {
		if r != nil {
			_ = r.Kill(context.Background())
		}
		client.Kill()
		return nil, fmt.Errorf("%w: %s: %s", ErrStart, in.name, fmt.Sprintf(format, args...))
	}
	rpc, err := client.Client()
	if err != nil {
		return failed("%v", err)
	}
	p.runner = r
	raw, err := rpc.Dispense(sdk.PluginKey)
	if err != nil {
		return failed("dispense: %v", err)
	}
	api, ok := raw.(*sdk.Client)
	if !ok {
		return failed("dispensed %T, not an sdk client", raw)
	}
	p.api = api
	dctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	info, err := api.Describe(dctx)
	if err != nil {
		return failed("%v", err)
	}
	if info.Name != in.name {
		return failed("binary %s describes itself as %q; a plugin's name must match its file name", binaryName(in.name), info.Name)
	}
	if p.catalog, err = sdk.NewCatalog(info); err != nil {
		return failed("%v", err)
	}
	if cfg.Credentials != nil {
		// Checked at start, before any call: a plugin that cannot work
		// is refused here (and reported by Status) instead of failing
		// an action later.
		if err := CheckCredentials(in.name, p.catalog.Credentials(), cfg.Credentials.Keys(in.name), cfg.CredentialsFile); err != nil {
			p.kill()
			in.setStatus(StateRefused, err.Error(), info.Version)
			return nil, fmt.Errorf("%w: %w", ErrStart, err)
		}
	}
	in.h.log.Info("plugin started", "plugin", in.name, "version", info.Version, "pid", r.pid)
	return p, nil
}

// transportContext returns the context bounding a call's transport: ctx,
// with its deadline moved to limit. When ctx's own deadline is earlier than
// limit, the transport must outlive it (to tell a plugin that honours the
// deadline from a hung one), so the result is detached from ctx's deadline
// but still ends when ctx is cancelled for any other reason.
func transportContext(ctx context.Context, limit time.Time) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); !ok || !d.Before(limit) {
		return context.WithDeadline(ctx, limit)
	}
	tctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), limit)
	stop := context.AfterFunc(ctx, func() {
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			cancel()
		}
	})
	return tctx, func() { stop(); cancel() }
}
