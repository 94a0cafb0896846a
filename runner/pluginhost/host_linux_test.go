package pluginhost

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sitewarden/sitewarden/internal/testsupport"
	"github.com/sitewarden/sitewarden/plugins/sdk"
)

func reqOf(op, params string) sdk.Request {
	return sdk.Request{Operation: op, Params: json.RawMessage(params)}
}

// echoOK fails the test unless plugin name answers an echo.
func echoOK(t *testing.T, h *Host, name string) {
	t.Helper()
	res, err := h.Execute(ctxT(t, 10*time.Second), reqOf(name+".echo", `{"text":"still here"}`))
	if err != nil {
		t.Fatalf("%s no longer serves: %v", name, err)
	}
	if string(res.Output) != `{"text":"still here"}` {
		t.Fatalf("%s echo = %s", name, res.Output)
	}
}

func TestExecuteRoundTrip(t *testing.T) {
	h, _ := newTestHost(t, testConfig(t, "faulty"))
	info, err := h.Describe(ctxT(t, 10*time.Second), "faulty")
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "faulty" || len(info.Operations) == 0 {
		t.Fatalf("describe = %+v", info)
	}
	echoOK(t, h, "faulty")
	// The rlimits are on the live process.
	limits, err := os.ReadFile("/proc/" + itoa(pidOf(h, "faulty")) + "/limits")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`Max address space\s+4294967296\s+4294967296`,
		`Max cpu time\s+600\s+605`,
		`Max processes\s+256\s+256`,
		`Max open files\s+256\s+256`,
	} {
		if !regexp.MustCompile(want).Match(limits) {
			t.Errorf("plugin limits lack %q:\n%s", want, limits)
		}
	}
	// The limits bound the plugin from its first instruction (it was
	// stopped after execve until they were set), and it is not left traced.
	res, err := h.Execute(ctxT(t, 10*time.Second), reqOf("faulty.limits", `{}`))
	if err != nil {
		t.Fatal(err)
	}
	var lim struct {
		AS uint64 `json:"as_at_start"`
	}
	decode(t, res.Output, &lim)
	if lim.AS != 4<<30 {
		t.Errorf("RLIMIT_AS seen by the plugin's main = %d, want %d", lim.AS, uint64(4<<30))
	}
	status, err := os.ReadFile("/proc/" + itoa(pidOf(h, "faulty")) + "/status")
	if err != nil || !regexp.MustCompile(`(?m)^TracerPid:\s+0$`).Match(status) {
		t.Errorf("plugin still traced or unreadable: %v\n%s", err, status)
	}
	names, err := h.Discover()
	if err != nil || !slices.Equal(names, []string{"faulty"}) {
		t.Fatalf("discover = %v, %v", names, err)
	}
}

func TestHostChecksParamsBeforeTheCall(t *testing.T) {
	h, _ := newTestHost(t, testConfig(t, "faulty"))
	_, err := h.Execute(ctxT(t, 10*time.Second), reqOf("faulty.echo", `{"text":5}`))
	if !errors.Is(err, sdk.ErrInvalidParams) {
		t.Fatalf("want ErrInvalidParams, got %v", err)
	}
	_, err = h.Execute(ctxT(t, 10*time.Second), reqOf("faulty.nope", `{}`))
	if !errors.Is(err, sdk.ErrUnknownOperation) {
		t.Fatalf("want ErrUnknownOperation, got %v", err)
	}
	_, err = h.Execute(ctxT(t, 10*time.Second), reqOf("ghost.echo", `{}`))
	if !errors.Is(err, ErrNotPinned) {
		t.Fatalf("want ErrNotPinned, got %v", err)
	}
}

// TestEnvironmentIsEmpty: the plugin must not see the runner's environment.
func TestEnvironmentIsEmpty(t *testing.T) {
	t.Setenv("SITEWARDEN_TEST_CANARY", "runner-secret-value")
	cfg := testConfig(t, "faulty")
	h, _ := newTestHost(t, cfg)
	res, err := h.Execute(ctxT(t, 10*time.Second), reqOf("faulty.env", `{}`))
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Env []string
		WD  string
	}
	decode(t, res.Output, &out)
	for _, kv := range out.Env {
		k, _, _ := strings.Cut(kv, "=")
		if strings.Contains(kv, "runner-secret-value") || k == "PATH" || k == "HOME" {
			t.Errorf("plugin sees the runner's environment: %s", k)
		}
		if !strings.HasPrefix(k, "PLUGIN_") && k != sdk.MagicCookieKey && k != "SITEWARDEN_PLUGIN_NAME" {
			t.Errorf("unexpected variable in the plugin's environment: %s", k)
		}
	}
	if want := filepath.Join(cfg.WorkDir, "faulty"); out.WD != want {
		t.Errorf("plugin working dir = %q, want %q", out.WD, want)
	}
}

func TestPinMismatchNeverStarts(t *testing.T) {
	cfg := testConfig(t, "faulty")
	cfg.Pins["faulty"] = strings.Repeat("ab", 32)
	h, _ := newTestHost(t, cfg)
	_, err := h.Execute(ctxT(t, 10*time.Second), reqOf("faulty.echo", `{"text":"x"}`))
	if !errors.Is(err, ErrPinMismatch) {
		t.Fatalf("want ErrPinMismatch, got %v", err)
	}
	if pid := pidOf(h, "faulty"); pid != 0 {
		t.Fatalf("a process %d was started", pid)
	}
}

// TestChecksumLieSwapAfterCheck replaces the binary on disk between the
// pin check and the start (the gap go-plugin's SecureConfig leaves open):
// the process that runs must be the pinned one, and the next start must
// refuse the swapped file.
func TestChecksumLieSwapAfterCheck(t *testing.T) {
	cfg := testConfig(t, "faulty")
	h, _ := newTestHost(t, cfg)
	impostor := []byte("#!/bin/sh\necho impostor\n")
	swapped := false
	h.afterPin = func(path string) {
		if swapped {
			return
		}
		swapped = true
		// Rewrite the same inode in place, then also replace the name.
		if err := os.WriteFile(path, impostor, 0o755); err != nil {
			t.Error(err)
		}
		tmp := path + ".new"
		if err := os.WriteFile(tmp, impostor, 0o755); err != nil {
			t.Error(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Error(err)
		}
	}
	echoOK(t, h, "faulty") // the pinned bytes run
	h.Close()
	h2, _ := newTestHost(t, cfg)
	_, err := h2.Execute(ctxT(t, 10*time.Second), reqOf("faulty.echo", `{"text":"x"}`))
	if !errors.Is(err, ErrPinMismatch) {
		t.Fatalf("swapped binary: want ErrPinMismatch, got %v", err)
	}
}

// TestPluginLyingAboutItsName: a binary pinned as "liar" describing itself
// as "host" is refused and killed.
func TestPluginLyingAboutItsName(t *testing.T) {
	h, _ := newTestHost(t, testConfig(t, "liar", "faulty"))
	_, err := h.Execute(ctxT(t, 10*time.Second), reqOf("liar.echo", `{"text":"x"}`))
	if !errors.Is(err, ErrStart) || !strings.Contains(err.Error(), `describes itself as "host"`) {
		t.Fatalf("want ErrStart naming the lie, got %v", err)
	}
	echoOK(t, h, "faulty")
}

func TestCrashMidCall(t *testing.T) {
	h, logs := newTestHost(t, testConfig(t, "faulty", "other"))
	echoOK(t, h, "faulty")
	echoOK(t, h, "other")
	pid := pidOf(h, "faulty")
	_, err := h.Execute(ctxT(t, 20*time.Second), reqOf("faulty.crash", `{}`))
	if !errors.Is(err, ErrCrashed) {
		t.Fatalf("want ErrCrashed, got %v", err)
	}
	if live := waitDead([]int{pid}, 5*time.Second); len(live) > 0 {
		t.Fatalf("crashed plugin %d still alive", pid)
	}
	echoOK(t, h, "other")
	echoOK(t, h, "faulty") // restarted after the backoff
	if npid := pidOf(h, "faulty"); npid == pid || npid == 0 {
		t.Fatalf("plugin not restarted: pid %d -> %d", pid, npid)
	}
	// The crash's panic text reached the runner's log, tagged with the plugin.
	found := false
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "crashing mid-call") && strings.Contains(line, `"plugin":"faulty"`) {
			found = true
		}
	}
	if !found {
		t.Fatalf("plugin stderr not re-emitted through slog with the plugin name:\n%s", logs.String())
	}
}

func TestHangKilledAtDeadlinePlusGrace(t *testing.T) {
	cfg := testConfig(t, "faulty", "other")
	cfg.CallTimeout = 400 * time.Millisecond
	cfg.KillGrace = 300 * time.Millisecond
	h, _ := newTestHost(t, cfg)
	echoOK(t, h, "faulty")
	pid := pidOf(h, "faulty")
	start := time.Now()
	_, err := h.Execute(ctxT(t, 20*time.Second), reqOf("faulty.hang", `{}`))
	took := time.Since(start)
	if !errors.Is(err, ErrHung) {
		t.Fatalf("want ErrHung, got %v", err)
	}
	if took < cfg.CallTimeout+cfg.KillGrace {
		t.Fatalf("killed after %s, before deadline + grace", took)
	}
	if live := waitDead([]int{pid}, 5*time.Second); len(live) > 0 {
		t.Fatalf("hung plugin %d still alive", pid)
	}
	echoOK(t, h, "other")
	echoOK(t, h, "faulty")
}

// TestDeadlineHonouredIsNotAHang: a plugin that stops at its deadline
// fails the call but is not killed.
func TestDeadlineHonouredIsNotAHang(t *testing.T) {
	cfg := testConfig(t, "faulty")
	cfg.CallTimeout = 300 * time.Millisecond
	h, _ := newTestHost(t, cfg)
	echoOK(t, h, "faulty")
	pid := pidOf(h, "faulty")
	_, err := h.Execute(ctxT(t, 20*time.Second), reqOf("faulty.sleep", `{"ms":10000}`))
	if !errors.Is(err, sdk.ErrActionFailed) || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("want an action failure naming the deadline, got %v", err)
	}
	if pidOf(h, "faulty") != pid || !alive(pid) {
		t.Fatal("a plugin that honoured its deadline was killed")
	}
}

func TestUnboundedAllocation(t *testing.T) {
	cfg := testConfig(t, "faulty", "other")
	cfg.Limits.MemoryBytes = 2 << 30 // a Go gRPC plugin reserves ~1.8 GiB of address space idle
	cfg.CallTimeout = 30 * time.Second
	h, logs := newTestHost(t, cfg)
	echoOK(t, h, "faulty")
	pid := pidOf(h, "faulty")
	_, err := h.Execute(ctxT(t, 40*time.Second), reqOf("faulty.alloc", `{}`))
	if !errors.Is(err, ErrCrashed) {
		t.Fatalf("want ErrCrashed (out of memory under RLIMIT_AS), got %v", err)
	}
	if live := waitDead([]int{pid}, 5*time.Second); len(live) > 0 {
		t.Fatalf("plugin %d still alive", pid)
	}
	echoOK(t, h, "other")
	echoOK(t, h, "faulty")
	if !strings.Contains(logs.String(), "out of memory") {
		t.Fatalf("the plugin's out-of-memory report did not reach the log:\n%s", logs.String())
	}
}

func TestBadResultRejected(t *testing.T) {
	h, _ := newTestHost(t, testConfig(t, "faulty"))
	_, err := h.Execute(ctxT(t, 10*time.Second), reqOf("faulty.bad_result", `{}`))
	if !errors.Is(err, sdk.ErrInvalidResult) || !strings.Contains(err.Error(), "/ok") {
		t.Fatalf("want ErrInvalidResult at /ok, got %v", err)
	}
	echoOK(t, h, "faulty")
}

func TestConcurrencyLimit(t *testing.T) {
	cfg := testConfig(t, "faulty")
	cfg.MaxConcurrent = 1
	h, _ := newTestHost(t, cfg)
	echoOK(t, h, "faulty")
	done := make(chan error, 1)
	go func() {
		_, err := h.Execute(context.Background(), reqOf("faulty.sleep", `{"ms":1500}`))
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := h.Execute(ctx, reqOf("faulty.echo", `{"text":"x"}`))
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("want ErrBusy with the only slot taken, got %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("first call: %v", err)
	}
	echoOK(t, h, "faulty")
}

// TestForkedChildrenDieWithThePlugin: with a PID namespace, every process
// a plugin forks dies when the host kills it.
func TestForkedChildrenDieWithThePlugin(t *testing.T) {
	requireRoot(t)
	cfg := testConfig(t, "faulty")
	cfg.IsolatePIDs = true
	h, _ := newTestHost(t, cfg)
	res, err := h.Execute(ctxT(t, 10*time.Second), reqOf("faulty.fork", `{"count":4}`))
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Pids  []int
		Error string
	}
	decode(t, res.Output, &out)
	if len(out.Pids) != 4 {
		t.Fatalf("fork: %+v", out)
	}
	// The pids the plugin sees are its namespace's; find the host-side ones.
	pid := pidOf(h, "faulty")
	kids := childrenOf(pid)
	if len(kids) != 4 {
		t.Fatalf("plugin %d has children %v, want 4", pid, kids)
	}
	h.Close()
	if live := waitDead(append(kids, pid), 5*time.Second); len(live) > 0 {
		t.Fatalf("still alive after Close: %v", live)
	}
}

// TestForkBombBoundedAndWriteOutsideRefused runs the plugin as nobody:
// RLIMIT_NPROC stops a fork bomb and the file system refuses writes outside
// the plugin's working directory.
func TestForkBombBoundedAndWriteOutsideRefused(t *testing.T) {
	requireRoot(t)
	cfg := testConfig(t, "faulty")
	cfg.RunAs = &RunAs{UID: 65534, GID: 65534}
	// The plugin's user must be able to reach its working directory.
	if err := os.Chmod(filepath.Dir(cfg.WorkDir), 0o711); err != nil {
		t.Fatal(err)
	}
	cfg.Limits.Processes = 64 // per user: the Go runtime's threads count too
	h, _ := newTestHost(t, cfg)
	res, err := h.Execute(ctxT(t, 20*time.Second), reqOf("faulty.fork", `{"count":2000}`))
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Pids  []int
		Error string
	}
	decode(t, res.Output, &out)
	if len(out.Pids) >= 64 || !strings.Contains(out.Error, "resource temporarily unavailable") {
		t.Fatalf("fork bomb not bounded: %d children, error %q", len(out.Pids), out.Error)
	}
	outside := filepath.Join(t.TempDir(), "owned-by-root")
	_, err = h.Execute(ctxT(t, 10*time.Second), reqOf("faulty.write", `{"path":"`+outside+`"}`))
	if !errors.Is(err, sdk.ErrActionFailed) || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("write outside the work dir: want permission denied, got %v", err)
	}
	if _, err := os.Stat(outside); !os.IsNotExist(err) {
		t.Fatalf("the plugin wrote %s", outside)
	}
	inside := filepath.Join(cfg.WorkDir, "faulty", "scratch")
	if _, err := h.Execute(ctxT(t, 10*time.Second), reqOf("faulty.write", `{"path":"`+inside+`"}`)); err != nil {
		t.Fatalf("write inside the work dir: %v", err)
	}
	res, err = h.Execute(ctxT(t, 10*time.Second), reqOf("faulty.env", `{}`))
	if err != nil {
		t.Fatal(err)
	}
	var env struct{ UID int }
	decode(t, res.Output, &env)
	if env.UID != 65534 {
		t.Fatalf("plugin runs as uid %d, want 65534", env.UID)
	}
}

// TestNoOrphansAfterRunnerSIGKILL re-executes the test binary as a runner
// hosting the faulty plugin, which forks children; the runner is SIGKILLed
// and no plugin process may survive it.
func TestNoOrphansAfterRunnerSIGKILL(t *testing.T) {
	requireRoot(t)
	cfg := testConfig(t, "faulty")
	cfg.IsolatePIDs = true
	raw, _ := json.Marshal(cfg)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+string(raw))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var pids []int
	lineCh := make(chan error, 1)
	go func() { lineCh <- json.NewDecoder(stdout).Decode(&pids) }()
	select {
	case err := <-lineCh:
		if err != nil {
			t.Fatalf("helper runner: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("helper runner did not report its plugin")
	}
	all := append(pids[:1:1], childrenOf(pids[0])...)
	if len(all) != 4 || !alive(all[0]) {
		t.Fatalf("want the plugin and 3 children alive, got %v", all)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if live := waitDead(all, 5*time.Second); len(live) > 0 {
		t.Fatalf("orphans survived the runner's SIGKILL: %v", live)
	}
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this containment test needs root (RunAs, PID namespaces); CI and this machine run tests as root")
	}
}

// childrenOf lists the live children of pid (of all its threads) from /proc.
func childrenOf(pid int) []int {
	tasks, _ := filepath.Glob("/proc/" + itoa(pid) + "/task/*/children")
	var kids []int
	for _, task := range tasks {
		data, err := os.ReadFile(task)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(data)) {
			var k int
			if _, err := fmtSscan(f, &k); err == nil && alive(k) {
				kids = append(kids, k)
			}
		}
	}
	return kids
}

// TestCloseLeavesNothing: after Close, no plugin process and no goroutine
// of the host (go-plugin's included) is left.
func TestCloseLeavesNothing(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cfg := testConfig(t, "faulty", "other")
	logs := &testsupport.Buffer{}
	h, err := New(cfg, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	echoOK(t, h, "faulty")
	echoOK(t, h, "other")
	pids := []int{pidOf(h, "faulty"), pidOf(h, "other")}
	if _, err := h.Execute(ctxT(t, 20*time.Second), reqOf("faulty.crash", `{}`)); !errors.Is(err, ErrCrashed) {
		t.Fatalf("want ErrCrashed, got %v", err)
	}
	echoOK(t, h, "faulty")
	pids = append(pids, pidOf(h, "faulty"))
	h.Close()
	if live := waitDead(pids, 5*time.Second); len(live) > 0 {
		t.Fatalf("plugin processes alive after Close: %v", live)
	}
	if _, err := h.Execute(ctxT(t, time.Second), reqOf("faulty.echo", `{"text":"x"}`)); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: want ErrClosed, got %v", err)
	}
}

// TestRealHostPlugin runs the shipped host plugin binary in the sandbox
// (empty environment, rlimits, PID namespace) next to the faulty one.
func TestRealHostPlugin(t *testing.T) {
	cfg := testConfig(t, "faulty")
	cfg.Pins["host"] = installPlugin(t, cfg.Dir, "host", hostBin)
	h, _ := newTestHost(t, cfg)
	info, err := h.Describe(ctxT(t, 10*time.Second), "host")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Operations) != 5 {
		t.Fatalf("host plugin offers %d operations", len(info.Operations))
	}
	res, err := h.Execute(ctxT(t, 10*time.Second), reqOf("host.disk_usage", `{}`))
	if err != nil {
		t.Fatal(err)
	}
	var du struct{ Volumes []struct{ Mount string } }
	decode(t, res.Output, &du)
	if len(du.Volumes) == 0 {
		t.Fatalf("no volumes: %s", res.Output)
	}
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "old.log"), make([]byte, 123), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(filepath.Join(root, "old.log"), old, old); err != nil {
		t.Fatal(err)
	}
	res, err = h.Execute(ctxT(t, 10*time.Second), reqOf("host.cleanup", `{"roots":["`+root+`"],"older_than_days":1}`))
	if err != nil {
		t.Fatal(err)
	}
	var cl struct {
		DryRun bool `json:"dry_run"`
		Files  int
		Bytes  int
	}
	decode(t, res.Output, &cl)
	if !cl.DryRun || cl.Files != 1 || cl.Bytes != 123 {
		t.Fatalf("cleanup dry run = %s", res.Output)
	}
	if _, err := h.Execute(ctxT(t, 10*time.Second), reqOf("host.top_processes", `{"by":"memory","limit":5}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		_, err := h.Execute(ctxT(t, 10*time.Second), reqOf("host.service_status", `{"name":"ssh"}`))
		if !errors.Is(err, sdk.ErrActionFailed) || !strings.Contains(err.Error(), "no service manager") {
			t.Fatalf("service_status without systemd: want a clear action failure, got %v", err)
		}
	}
	echoOK(t, h, "faulty")
}

// TestSecretsNeverLogged: credentials and secret results pass through the
// host, a failing call and a crash, and none of their values reaches the
// runner's log.
func TestSecretsNeverLogged(t *testing.T) {
	h, logs := newTestHost(t, testConfig(t, "faulty"))
	const pw = "Hunter2-Credential-Value"
	creds := sdk.Credentials{"password": pw}
	req := reqOf("faulty.secret", `{}`)
	req.Credentials = creds
	res, err := h.Execute(ctxT(t, 10*time.Second), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Secrets["one_time_password"] != pw+"-otp" {
		t.Fatalf("secret lost: %+v", res.Secrets)
	}
	req = reqOf("faulty.secret", `{"fail":true}`)
	req.Credentials = creds
	if _, err := h.Execute(ctxT(t, 10*time.Second), req); !errors.Is(err, sdk.ErrActionFailed) || strings.Contains(err.Error(), pw) {
		t.Fatalf("want an action failure without the credential, got %v", err)
	}
	req = reqOf("faulty.crash", `{}`)
	req.Credentials = creds
	if _, err := h.Execute(ctxT(t, 20*time.Second), req); !errors.Is(err, ErrCrashed) || strings.Contains(err.Error(), pw) {
		t.Fatalf("want ErrCrashed without the credential, got %v", err)
	}
	if strings.Contains(logs.String(), pw) {
		t.Fatalf("a credential or secret reached the log:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "plugin crashed") {
		t.Fatalf("log is missing the crash record, so the check above proves nothing:\n%s", logs.String())
	}
}

// TestCallerDeadlineGetsGraceToo: when the caller's deadline is earlier
// than CallTimeout, a hung plugin is still killed at that deadline + grace,
// and a plugin that honours it is not.
func TestCallerDeadlineGetsGraceToo(t *testing.T) {
	cfg := testConfig(t, "faulty")
	cfg.CallTimeout = time.Minute
	cfg.KillGrace = 300 * time.Millisecond
	h, _ := newTestHost(t, cfg)
	echoOK(t, h, "faulty")
	pid := pidOf(h, "faulty")

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := h.Execute(ctx, reqOf("faulty.sleep", `{"ms":60000}`)); !errors.Is(err, sdk.ErrActionFailed) {
		t.Fatalf("honoured caller deadline: want an action failure, got %v", err)
	}
	if pidOf(h, "faulty") != pid {
		t.Fatal("a plugin that honoured the caller's deadline was killed")
	}

	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	start := time.Now()
	_, err := h.Execute(ctx2, reqOf("faulty.hang", `{}`))
	if !errors.Is(err, ErrHung) {
		t.Fatalf("want ErrHung, got %v", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("hang detected after %s", took)
	}
	if live := waitDead([]int{pid}, 5*time.Second); len(live) > 0 {
		t.Fatalf("hung plugin %d still alive", pid)
	}
}

// TestConcurrentCallsSurviveACrash drives calls from several goroutines
// while the plugin crashes under them: every call succeeds or fails with a
// process error, and the plugin serves again afterwards.
func TestConcurrentCallsSurviveACrash(t *testing.T) {
	cfg := testConfig(t, "faulty")
	cfg.MaxConcurrent = 3
	h, _ := newTestHost(t, cfg)
	echoOK(t, h, "faulty")
	errs := make(chan error, 100)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				if g == 0 && i == 5 {
					_, err := h.Execute(ctxT(t, 20*time.Second), reqOf("faulty.crash", `{}`))
					if !errors.Is(err, ErrCrashed) {
						errs <- err
					}
					continue
				}
				_, err := h.Execute(ctxT(t, 20*time.Second), reqOf("faulty.echo", `{"text":"x"}`))
				if err != nil && !errors.Is(err, ErrCrashed) {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("unexpected error: %v", err)
	}
	echoOK(t, h, "faulty")
}
