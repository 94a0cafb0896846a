package pluginhost

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/internal/testsupport"
)

// The test plugins, built once by TestMain: the deliberately bad one, the
// raw go-plugin echo baseline, and the real host plugin (from
// $SITEWARDEN_BIN/plugins when 'make test' provides it).
var faultyBin, rawEchoBin, hostBin string

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		runHelperHost()
		return
	}
	dir, err := os.MkdirTemp("", "pluginhost-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	faultyBin = filepath.Join(dir, "faulty")
	rawEchoBin = filepath.Join(dir, "rawecho")
	hostBin = filepath.Join(dir, "host")
	pkgs := []string{"./testdata/faulty", "./testdata/rawecho"}
	if bin := os.Getenv("SITEWARDEN_BIN"); bin != "" {
		hostBin = filepath.Join(bin, "plugins", binaryName("host"))
	} else {
		pkgs = append(pkgs, "../../plugins/host")
	}
	// Built as 'make build' builds plugins (stripped), so start-up and pin
	// checks are measured on binaries of the shipped size.
	build := exec.Command("go", append([]string{"build", "-trimpath", "-ldflags=-s -w", "-o", dir + string(filepath.Separator)}, pkgs...)...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build the test plugins:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// installPlugin copies src into dir as plugin name and returns its pin.
func installPlugin(t testing.TB, dir, name, src string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, binaryName(name))
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		t.Fatal(err)
	}
	pin, err := FileSHA256(dst)
	if err != nil {
		t.Fatal(err)
	}
	return pin
}

// testConfig returns a config with short timeouts and the faulty plugin
// installed under each of names.
func testConfig(t testing.TB, names ...string) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Dir = t.TempDir()
	cfg.WorkDir = t.TempDir()
	cfg.Pins = map[string]string{}
	for _, n := range names {
		cfg.Pins[n] = installPlugin(t, cfg.Dir, n, faultyBin)
	}
	cfg.CallTimeout = 5 * time.Second
	cfg.KillGrace = 300 * time.Millisecond
	cfg.RestartBackoffMin = 50 * time.Millisecond
	cfg.RestartBackoffMax = 200 * time.Millisecond
	return cfg
}

func newTestHost(t testing.TB, cfg Config) (*Host, *testsupport.Buffer) {
	t.Helper()
	logs := &testsupport.Buffer{}
	h, err := New(cfg, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h, logs
}

// pidOf returns the pid of the named plugin's live process, or 0.
func pidOf(h *Host, name string) int {
	h.mu.Lock()
	in := h.plugins[name]
	h.mu.Unlock()
	if in == nil {
		return 0
	}
	in.lock <- struct{}{}
	defer in.release()
	if in.proc == nil || in.proc.runner == nil {
		return 0
	}
	return in.proc.runner.pid
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) state ...
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}

// waitDead waits up to d for every pid to be gone and returns the ones
// still alive.
func waitDead(pids []int, d time.Duration) []int {
	deadline := time.Now().Add(d)
	for {
		var live []int
		for _, p := range pids {
			if alive(p) {
				live = append(live, p)
			}
		}
		if len(live) == 0 || time.Now().After(deadline) {
			return live
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func decode(t testing.TB, raw json.RawMessage, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
}

// The no-orphans helper: the test binary re-executed as a small runner.
const helperEnv = "PLUGINHOST_TEST_HELPER_CONFIG"

// runHelperHost starts a host from the JSON config in helperEnv, makes the
// faulty plugin fork children, prints the plugin's and children's pids as
// one JSON line and waits to be killed.
func runHelperHost() {
	var cfg Config
	if err := json.Unmarshal([]byte(os.Getenv(helperEnv)), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	h, err := New(cfg, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := h.Execute(ctx, reqOf("faulty.fork", `{"count":3}`))
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	var out struct{ Pids []int }
	_ = json.Unmarshal(res.Output, &out)
	pids := append([]int{pidOf(h, "faulty")}, out.Pids...)
	_ = json.NewEncoder(os.Stdout).Encode(pids)
	time.Sleep(time.Minute)
	os.Exit(3)
}

func itoa(i int) string { return strconv.Itoa(i) }

func fmtSscan(s string, v *int) (int, error) { return fmt.Sscan(s, v) }
