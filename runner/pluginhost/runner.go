package pluginhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"sync"

	"github.com/hashicorp/go-plugin/runner"
)

// procRunner is go-plugin's view of one contained plugin process. It
// replaces go-plugin's own command runner so the host controls exactly what
// is executed (the pinned bytes) and how it is contained.
type procRunner struct {
	name string
	cmd  *exec.Cmd
	bin  *pinnedBinary
	cfg  Config

	stdoutR, stderrR *os.File
	stdoutW, stderrW *os.File

	pid     int
	cont    *containment // set by Start
	exited  chan struct{}
	exitErr error
	waitMu  sync.Mutex
	waited  bool
}

var _ runner.Runner = (*procRunner)(nil)

// newProcRunner builds the command from go-plugin's spec: its environment
// only (go-plugin adds nothing of the host's with SkipHostEnv), the pinned
// binary as the program, workDir as the working directory.
func newProcRunner(name string, bin *pinnedBinary, spec *exec.Cmd, workDir string, cfg Config) (*procRunner, error) {
	r := &procRunner{name: name, bin: bin, cfg: cfg, exited: make(chan struct{})}
	var err error
	if r.stdoutR, r.stdoutW, err = os.Pipe(); err != nil {
		return nil, err
	}
	if r.stderrR, r.stderrW, err = os.Pipe(); err != nil {
		r.stdoutR.Close()
		r.stdoutW.Close()
		return nil, err
	}
	r.cmd = &exec.Cmd{
		Path:   bin.execPath,
		Args:   []string{binaryName(name)},
		Env:    append([]string{"SITEWARDEN_PLUGIN_NAME=" + name}, spec.Env...),
		Dir:    workDir,
		Stdout: r.stdoutW,
		Stderr: r.stderrW,
	}
	containCmd(r.cmd, cfg)
	return r, nil
}

// Start starts the process and applies the OS containment before
// go-plugin reads the handshake.
func (r *procRunner) Start(_ context.Context) error {
	defer func() {
		// The child holds its own ends now.
		r.stdoutW.Close()
		r.stderrW.Close()
	}()
	cont, err := startContained(r.cmd, r.cfg, r.exited)
	if err != nil {
		r.stdoutR.Close()
		r.stderrR.Close()
		return fmt.Errorf("start %s: %w", r.name, err)
	}
	r.cont = cont
	r.pid = r.cmd.Process.Pid
	return nil
}

// Wait waits for the process to exit and releases its containment.
func (r *procRunner) Wait(_ context.Context) error {
	r.waitMu.Lock()
	defer r.waitMu.Unlock()
	if r.waited {
		return r.exitErr
	}
	r.exitErr = r.cmd.Wait()
	r.waited = true
	close(r.exited)
	if r.cont != nil {
		r.cont.release()
	}
	return r.exitErr
}

// Kill kills the process and everything it started (process group or PID
// namespace on Linux, job object on Windows). Safe to call repeatedly.
func (r *procRunner) Kill(_ context.Context) error {
	if r.cont == nil {
		return nil
	}
	select {
	case <-r.exited:
		return nil
	default:
	}
	if err := r.cont.kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

func (r *procRunner) Stdout() io.ReadCloser { return r.stdoutR }
func (r *procRunner) Stderr() io.ReadCloser { return r.stderrR }
func (r *procRunner) Name() string          { return r.name }
func (r *procRunner) ID() string            { return strconv.Itoa(r.pid) }

func (r *procRunner) Diagnose(context.Context) string {
	return "the plugin exited before completing the go-plugin handshake; run it by hand to see its error, and check that it was built for this OS and architecture with a current plugins/sdk"
}

func (r *procRunner) PluginToHost(n, a string) (string, string, error) { return n, a, nil }
func (r *procRunner) HostToPlugin(n, a string) (string, string, error) { return n, a, nil }

// maxLine bounds one re-emitted line of plugin output.
const maxLine = 8 << 10

// lineLogger re-emits what a plugin writes, one slog record per line, with
// the plugin's name (the logger carries it) and the stream.
type lineLogger struct {
	log    *slog.Logger
	stream string
	mu     sync.Mutex
	buf    []byte
}

func newLineLogger(log *slog.Logger, stream string) *lineLogger {
	return &lineLogger{log: log, stream: stream}
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			room := maxLine - len(l.buf)
			if len(p) > room {
				l.buf = append(l.buf, p[:room]...)
				l.flush(true)
				p = p[room:]
				continue
			}
			l.buf = append(l.buf, p...)
			break
		}
		l.buf = append(l.buf, p[:i]...)
		if len(l.buf) > maxLine {
			l.buf = l.buf[:maxLine]
		}
		l.flush(false)
		p = p[i+1:]
	}
	return n, nil
}

func (l *lineLogger) flush(truncated bool) {
	line := string(bytes.TrimRight(l.buf, "\r"))
	l.buf = l.buf[:0]
	if line == "" {
		return
	}
	if truncated {
		l.log.Info("plugin output", "stream", l.stream, "line", line, "truncated", true)
		return
	}
	l.log.Info("plugin output", "stream", l.stream, "line", line)
}
