package pluginhost

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/plugins/sdk"
)

// sectionKeys is the credential key names per plugin section, as the
// runner's credentials file adapter reports them (names only).
type sectionKeys map[string][]string

func (s sectionKeys) Keys(plugin string) []string { return s[plugin] }

const credsFile = "/etc/sitewarden/credentials.yaml"

// credsConfig installs the faulty binary as each of names and checks
// credentials against keys.
func credsConfig(t *testing.T, keys sectionKeys, names ...string) Config {
	t.Helper()
	cfg := testConfig(t, names...)
	cfg.Credentials, cfg.CredentialsFile = keys, credsFile
	return cfg
}

func statusOf(h *Host, name string) Status {
	for _, s := range h.Status() {
		if s.Name == name {
			return s
		}
	}
	return Status{}
}

// TestMissingRequiredCredentialRefusesStart starts a real plugin that
// declares "password" as required under a section that lacks it: the
// start fails with an error naming the plugin, the section, the missing
// key and the credentials file, the process is gone, no call ran, and
// Status reports it refused with that error.
func TestMissingRequiredCredentialRefusesStart(t *testing.T) {
	h, _ := newTestHost(t, credsConfig(t, sectionKeys{"needy": {"token"}}, "needy"))
	_, err := h.Execute(ctxT(t, 20*time.Second), reqOf("needy.echo", `{"text":"hi"}`))
	if !errors.Is(err, ErrMissingCredentials) || !errors.Is(err, ErrStart) {
		t.Fatalf("want ErrMissingCredentials and ErrStart, got %v", err)
	}
	for _, want := range []string{"needy: missing credential password", `section "needy"`, credsFile, "restart the runner"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "token") {
		t.Errorf("error %q names an optional key that is present", err)
	}
	if pid := pidOf(h, "needy"); pid != 0 {
		t.Fatalf("refused plugin still running as pid %d", pid)
	}
	st := statusOf(h, "needy")
	if st.State != StateRefused || st.Version != "0.0.1" || !strings.Contains(st.LastError, "missing credential password") {
		t.Fatalf("status = %+v, want refused with the missing key", st)
	}
	// Describe (what 'plugins list' and the agent call) is refused the same way.
	if _, err := h.Describe(ctxT(t, 20*time.Second), "needy"); !errors.Is(err, ErrMissingCredentials) {
		t.Fatalf("Describe: want ErrMissingCredentials, got %v", err)
	}
}

// TestDeclaredCredentialsPresentRuns: with every required key present (the
// optional one absent) the plugin starts and answers, and Status says ready.
func TestDeclaredCredentialsPresentRuns(t *testing.T) {
	h, _ := newTestHost(t, credsConfig(t, sectionKeys{"needy": {"password"}}, "needy"))
	res, err := h.Execute(ctxT(t, 20*time.Second), sdk.Request{Operation: "needy.echo", Params: []byte(`{"text":"hi"}`),
		Credentials: sdk.Credentials{"password": "pw-123456"}})
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Output) != `{"text":"hi"}` {
		t.Fatalf("output %s", res.Output)
	}
	if st := statusOf(h, "needy"); st.State != StateReady || st.Version != "0.0.1" || st.LastError != "" {
		t.Fatalf("status = %+v, want ready", st)
	}
}

// TestUndeclaredAndNoCredentialPluginsRun: a plugin that declares nothing
// (built before declarations; the faulty plugin under its own name) and
// the real host plugin (declares that it needs none) both run with no
// credentials section at all.
func TestUndeclaredAndNoCredentialPluginsRun(t *testing.T) {
	cfg := credsConfig(t, sectionKeys{}, "faulty")
	cfg.Pins["host"] = installPlugin(t, cfg.Dir, "host", hostBin)
	h, _ := newTestHost(t, cfg)
	ctx := ctxT(t, 30*time.Second)
	info, err := h.Describe(ctx, "faulty")
	if err != nil {
		t.Fatalf("undeclared plugin refused: %v", err)
	}
	if info.Credentials != nil {
		t.Fatalf("an undeclared plugin reports a declaration %+v", info.Credentials)
	}
	if _, err := h.Execute(ctx, reqOf("faulty.echo", `{"text":"old"}`)); err != nil {
		t.Fatal(err)
	}
	info, err = h.Describe(ctx, "host")
	if err != nil {
		t.Fatalf("host plugin refused: %v", err)
	}
	if info.Credentials == nil || len(info.Credentials.Keys) != 0 {
		t.Fatalf("host plugin declaration = %+v, want an empty one", info.Credentials)
	}
	if _, err := h.Execute(ctx, reqOf("host.disk_usage", `{}`)); err != nil {
		t.Fatal(err)
	}
}

// TestPreflightReportsBeforeUse: Preflight starts every pinned plugin in
// the background, so Status shows the misconfigured one refused and the
// good one ready before any call; Close stops the preflight and the
// plugins.
func TestPreflightReportsBeforeUse(t *testing.T) {
	h, _ := newTestHost(t, credsConfig(t, sectionKeys{}, "needy", "faulty"))
	if got := h.Status(); len(got) != 2 || got[0].State != StateStopped || got[1].State != StateStopped {
		t.Fatalf("before preflight: %+v, want both stopped", got)
	}
	h.Preflight()
	h.Preflight() // once per host
	deadline := time.Now().Add(30 * time.Second)
	var got []Status
	for time.Now().Before(deadline) {
		got = h.Status()
		if !slices.ContainsFunc(got, func(s Status) bool { return s.State == StateStopped }) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(got) != 2 || got[0].Name != "faulty" || got[0].State != StateReady ||
		got[1].Name != "needy" || got[1].State != StateRefused || !strings.Contains(got[1].LastError, "missing credential password") {
		t.Fatalf("after preflight: %+v", got)
	}
	pid := pidOf(h, "faulty")
	if pid == 0 {
		t.Fatal("preflight did not leave faulty running")
	}
	h.Close()
	if live := waitDead([]int{pid}, 5*time.Second); len(live) > 0 {
		t.Fatalf("pid %d survived Close", pid)
	}
	if st := statusOf(h, "faulty"); st.State != StateStopped {
		t.Fatalf("after Close: %+v", st)
	}
}

// TestPreflightAfterClose does nothing and Close does not wait.
func TestPreflightAfterClose(t *testing.T) {
	h, _ := newTestHost(t, credsConfig(t, sectionKeys{}, "faulty"))
	h.Close()
	h.Preflight()
	if st := statusOf(h, "faulty"); st.State != StateStopped {
		t.Fatalf("status = %+v", st)
	}
}
