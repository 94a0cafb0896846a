package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/internal/testsupport"
	"github.com/sitewarden/sitewarden/policies"
	"github.com/sitewarden/sitewarden/runner/pluginhost"
)

// The real plugin binaries, from $SITEWARDEN_BIN/plugins ('make test'
// builds them) or built once, on first use, into a temporary directory.
var shipped struct {
	once       sync.Once
	dir        string
	tmp        string
	err        error
	runnerOnce sync.Once
	runnerErr  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shipped.tmp != "" {
		os.RemoveAll(shipped.tmp)
	}
	os.Exit(code)
}

// shippedPlugin returns the path of the real plugin binary name.
func shippedPlugin(t *testing.T, name string) string {
	t.Helper()
	shipped.once.Do(func() {
		if bin := os.Getenv("SITEWARDEN_BIN"); bin != "" {
			shipped.dir = filepath.Join(bin, "plugins")
			return
		}
		if shipped.tmp, shipped.err = os.MkdirTemp("", "runner-cli-plugins-"); shipped.err != nil {
			return
		}
		shipped.dir = shipped.tmp
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		// Built as 'make build' builds plugins.
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", shipped.dir+string(filepath.Separator),
			"../../plugins/directory", "../../plugins/host")
		if out, err := cmd.CombinedOutput(); err != nil {
			shipped.err = fmt.Errorf("build the plugins: %v\n%s", err, out)
			return
		}
		for _, n := range []string{"directory", "host"} {
			if err := os.Rename(filepath.Join(shipped.dir, n), filepath.Join(shipped.dir, binaryFile(n))); err != nil {
				shipped.err = err
				return
			}
		}
	})
	if shipped.err != nil {
		t.Fatal(shipped.err)
	}
	p := filepath.Join(shipped.dir, binaryFile(name))
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("plugin %s: %v (SITEWARDEN_BIN set: run 'make build')", name, err)
	}
	return p
}

// install copies src into dir as plugin name and returns its SHA-256.
func install(t *testing.T, dir, name, src string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, binaryFile(name))
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		t.Fatal(err)
	}
	sum, err := pluginhost.FileSHA256(dst)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// Placeholder pins of the reference packs.
const (
	packDirectoryPin = "1f0c3a6e5b2d4c8f9a7e6d5c4b3a29180f7e6d5c4b3a291807f6e5d4c3b2a190"
	packHostPin      = "7a3e9c1b5d2f4a6e8c0b9d7f5e3a1c2b4d6f8e0a9c7b5d3f1e2a4c6b8d0f9e7a"
)

// pinnedPacks returns the account and disk packs with the directory and
// host plugins pinned to dirPin and hostPin, plus extra documents.
func pinnedPacks(t *testing.T, dirPin, hostPin string, extra ...policies.Source) []policies.Source {
	t.Helper()
	acc, disk := pack(t, "account.yaml"), pack(t, "disk.yaml")
	acc.Data = bytes.Replace(acc.Data, []byte(packDirectoryPin), []byte(dirPin), 1)
	disk.Data = bytes.Replace(disk.Data, []byte(packHostPin), []byte(hostPin), 1)
	return append([]policies.Source{acc, disk}, extra...)
}

type pluginsSite struct {
	dir, state, plugins, creds, config string
}

// newPluginsSite enrolls a site example/hq with an empty plugin directory
// and a credentials file holding a complete directory section (every key
// the directory plugin requires).
func newPluginsSite(t *testing.T) pluginsSite {
	t.Helper()
	s := pluginsSite{dir: t.TempDir()}
	s.state, s.plugins, s.creds = filepath.Join(s.dir, "state"), filepath.Join(s.dir, "plugins"), filepath.Join(s.dir, "credentials.yaml")
	if err := os.Mkdir(s.plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	s.writeCreds(t, "directory:\n  url: ldaps://dc.example.com\n  bind_dn: cn=sitewarden,dc=example,dc=com\n  bind_password: S3cret-Never-Shown\n"+
		"  base_dn: dc=example,dc=com\n  flavor: ad\n")
	s.config = writeConfig(t, s.dir, s.state, s.plugins, s.creds)
	return s
}

func (s pluginsSite) writeCreds(t *testing.T, body string) {
	t.Helper()
	if err := os.WriteFile(s.creds, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

type pluginsJSON struct {
	PluginDir string `json:"plugin_dir"`
	Scope     struct {
		Client  string `json:"client"`
		Version uint64 `json:"version"`
		Pins    int    `json:"pins"`
		Error   string `json:"error"`
	} `json:"scope"`
	CredentialsFile string `json:"credentials_file"`
	Started         bool   `json:"started"`
	Plugins         []struct {
		Name         string `json:"name"`
		Path         string `json:"path"`
		Size         int64  `json:"size"`
		SHA256       string `json:"sha256"`
		Pin          string `json:"pin"`
		PinnedSHA256 string `json:"pinned_sha256"`
		Manifest     *struct {
			Version     string `json:"version"`
			APIVersions []int  `json:"api_versions"`
			Actions     []struct {
				Name string `json:"name"`
				Risk string `json:"risk"`
			} `json:"actions"`
		} `json:"manifest"`
		Error       string   `json:"error"`
		Output      []string `json:"output"`
		Credentials struct {
			Section  string   `json:"section"`
			Present  bool     `json:"present"`
			Keys     []string `json:"keys"`
			Declared bool     `json:"declared"`
			Needs    []struct {
				Name        string `json:"name"`
				Required    bool   `json:"required"`
				Description string `json:"description"`
				Has         bool   `json:"has"`
			} `json:"needs"`
			Missing []string `json:"missing"`
			Unused  []string `json:"unused"`
			Error   string   `json:"error"`
		} `json:"credentials"`
		Failed bool `json:"failed"`
	} `json:"plugins"`
	Failed []string `json:"failed"`
}

func TestPluginsList(t *testing.T) {
	s := newPluginsSite(t)
	key := enrollSite(t, s.state, "example", "hq")
	dirPin := install(t, s.plugins, "directory", shippedPlugin(t, "directory"))
	install(t, s.plugins, "host", shippedPlugin(t, "host"))
	// A binary that is not a plugin, pinned: it must fail to start.
	truePath, err := exec.LookPath("true")
	if err != nil {
		t.Fatalf("coreutils' true: %v", err)
	}
	bogusPin := install(t, s.plugins, "bogus", truePath)
	// A real plugin under a name the scope does not pin.
	spareSum := install(t, s.plugins, "spare", shippedPlugin(t, "host"))
	bogus := policies.Source{Name: "bogus.yaml", Data: []byte("apiVersion: sitewarden.dev/v1\nkind: Scope\nclient: example\n" +
		"catalog:\n  - name: bogus\n    version: 1.0.0\n    sha256: " + bogusPin + "\n    actions: [bogus.run]\n")}
	// The host plugin is pinned to another binary's hash, and the
	// directory section lacks the required bind_password (and holds a key
	// the plugin does not declare).
	s.writeCreds(t, "directory:\n  url: ldaps://dc.example.com\n  bind_dn: cn=sitewarden,dc=example,dc=com\n  bind_password: \"\"\n"+
		"  base_dn: dc=example,dc=com\n  flavor: ad\n  ca_pem: Never-Shown-PEM\n  legacy_key: x\n")
	publishScope(t, s.state, "example", key, 4, time.Now().Add(-time.Minute), pinnedPacks(t, dirPin, bogusPin, bogus)...)

	code, out, errs := run(t, "plugins", "list", "--config", s.config)
	if code != 1 {
		t.Fatalf("plugins list: exit %d, want 1\n%s\n%s", code, out, errs)
	}
	t.Logf("plugins list:\n%s\n%s", out, errs)
	for _, want := range []string{
		"plugin dir   " + s.plugins,
		"scope        client example v4: 3 plugins pinned",
		"\ndirectory  pinned\n",
		"sha256       " + dirPin,
		"manifest     version 0.1.0 (plugin API 1), 6 actions",
		"directory.unlock_account (write)",
		`credentials  section "directory": keys base_dn, bind_dn, bind_password, ca_pem, flavor, legacy_key, url (values not shown)`,
		"  needs        url            required  has      directory address: ldaps://",
		"               bind_password  required  MISSING  the service account's password\n",
		"               ca_pem         optional  has      PEM CA",
		"               tls            optional  -        ",
		"note         the section holds keys the plugin does not declare (never read): legacy_key",
		`ERROR        plugin is missing required credentials: directory: missing credential bind_password: add it to the section "directory" of the credentials file ` + s.creds,
		"\nhost  HASH MISMATCH",
		"pinned       " + bogusPin,
		"does not match its pinned SHA-256",
		`no section "host": its actions get none`,
		"\nbogus  pinned\n",
		"plugin failed to start: bogus",
		"\nspare  NOT PINNED\n",
		"sha256       " + spareSum,
		"not started: the scope does not pin it",
		"3 of 4 plugins cannot run: bogus, directory, host",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plugins list output lacks %q", want)
		}
	}
	if !strings.Contains(errs, "plugin check failed: bogus (failed to start), directory (missing credential bind_password), host (HASH MISMATCH)") {
		t.Errorf("plugins list stderr: %s", errs)
	}
	if strings.Contains(out+errs, "Never-Shown") || strings.Contains(out+errs, "dc.example.com") {
		t.Errorf("plugins list shows a credential value:\n%s\n%s", out, errs)
	}

	code, out, errs = run(t, "plugins", "list", "--config", s.config, "-o", "json")
	var rep pluginsJSON
	if err := json.Unmarshal([]byte(out), &rep); code != 1 || err != nil {
		t.Fatalf("plugins list -o json: exit %d, %v\n%s\n%s", code, err, out, errs)
	}
	if rep.PluginDir != s.plugins || rep.Scope.Client != "example" || rep.Scope.Version != 4 || rep.Scope.Pins != 3 ||
		rep.CredentialsFile != s.creds || !rep.Started || len(rep.Plugins) != 4 || strings.Join(rep.Failed, ",") != "bogus,directory,host" {
		t.Fatalf("plugins list -o json = %+v", rep)
	}
	byName := map[string]int{}
	for i, p := range rep.Plugins {
		byName[p.Name] = i
	}
	d, h, b, sp := rep.Plugins[byName["directory"]], rep.Plugins[byName["host"]], rep.Plugins[byName["bogus"]], rep.Plugins[byName["spare"]]
	if d.Pin != "pinned" || !d.Failed || d.Manifest == nil || d.Manifest.Version != "0.1.0" || len(d.Manifest.Actions) != 6 ||
		d.SHA256 != dirPin || d.Size == 0 || d.Path != filepath.Join(s.plugins, "sitewarden-plugin-directory") ||
		!d.Credentials.Present || strings.Join(d.Credentials.Keys, ",") != "base_dn,bind_dn,bind_password,ca_pem,flavor,legacy_key,url" ||
		!d.Credentials.Declared || strings.Join(d.Credentials.Missing, ",") != "bind_password" ||
		strings.Join(d.Credentials.Unused, ",") != "legacy_key" || !strings.Contains(d.Credentials.Error, s.creds) {
		t.Errorf("directory = %+v", d)
	}
	var required, has []string
	for _, k := range d.Credentials.Needs {
		if k.Description == "" {
			t.Errorf("directory declares %q without a description", k.Name)
		}
		if k.Required {
			required = append(required, k.Name)
		}
		if k.Has {
			has = append(has, k.Name)
		}
	}
	if strings.Join(required, ",") != "url,bind_dn,bind_password,base_dn,flavor" || strings.Join(has, ",") != "url,bind_dn,base_dn,flavor,ca_pem" {
		t.Errorf("directory needs: required %v, has %v", required, has)
	}
	if h.Pin != "hash_mismatch" || !h.Failed || h.Manifest != nil || h.PinnedSHA256 != bogusPin || !strings.Contains(h.Error, "not started") ||
		h.Credentials.Present || h.Credentials.Section != "host" {
		t.Errorf("host = %+v", h)
	}
	if b.Pin != "pinned" || !b.Failed || b.Manifest != nil || !strings.Contains(b.Error, "plugin failed to start") {
		t.Errorf("bogus = %+v", b)
	}
	if sp.Pin != "not_pinned" || sp.Failed || sp.Manifest != nil || sp.Error != "" {
		t.Errorf("spare = %+v", sp)
	}

	// --no-start: pins are still checked, nothing is started.
	code, out, errs = run(t, "plugins", "list", "--config", s.config, "--no-start", "-o", "json")
	rep = pluginsJSON{}
	if err := json.Unmarshal([]byte(out), &rep); code != 1 || err != nil || rep.Started || strings.Join(rep.Failed, ",") != "host" {
		t.Fatalf("--no-start: exit %d, %v, %+v\n%s", code, err, rep, errs)
	}
	for _, p := range rep.Plugins {
		if p.Manifest != nil {
			t.Errorf("--no-start started %s", p.Name)
		}
	}
}

func TestPluginsListHealthy(t *testing.T) {
	s := newPluginsSite(t)
	key := enrollSite(t, s.state, "example", "hq")
	dirPin := install(t, s.plugins, "directory", shippedPlugin(t, "directory"))
	hostPin := install(t, s.plugins, "host", shippedPlugin(t, "host"))
	publishScope(t, s.state, "example", key, 1, time.Now().Add(-time.Minute), pinnedPacks(t, dirPin, hostPin)...)

	code, out, errs := run(t, "plugins", "list", "--config", s.config)
	if code != 0 || !strings.Contains(out, "\nhost  pinned\n") || !strings.Contains(out, "host.disk_usage (read)") ||
		!strings.Contains(out, "\ndirectory  pinned\n") || strings.Contains(out, "cannot run") ||
		!strings.Contains(out, "  needs        no credentials\n") || !strings.Contains(out, "bind_password  required  has ") ||
		strings.Contains(out, "MISSING") || strings.Contains(out, "ERROR") {
		t.Fatalf("healthy plugins list: exit %d\n%s\n%s", code, out, errs)
	}
	t.Logf("healthy plugins list:\n%s", out)

	// A pinned plugin whose binary is gone.
	if err := os.Remove(filepath.Join(s.plugins, binaryFile("host"))); err != nil {
		t.Fatal(err)
	}
	code, out, errs = run(t, "plugins", "list", "--config", s.config, "--no-start")
	if code != 1 || !strings.Contains(out, "\nhost  MISSING") || !strings.Contains(out, "install it") ||
		!strings.Contains(errs, "host (MISSING)") {
		t.Errorf("missing plugin: exit %d\n%s\n%s", code, out, errs)
	}
}

func TestPluginsListWithoutScope(t *testing.T) {
	s := newPluginsSite(t)
	enrollSite(t, s.state, "example", "hq")
	install(t, s.plugins, "host", shippedPlugin(t, "host"))
	code, out, errs := run(t, "plugins", "list", "--config", s.config)
	if code != 1 || !strings.Contains(out, "scope        NONE: the runner starts no plugin without a valid scope") ||
		!strings.Contains(out, "no scope bundle yet") || !strings.Contains(out, "\nhost  NOT PINNED\n") ||
		!strings.Contains(errs, "no valid scope") {
		t.Errorf("no scope: exit %d\n%s\n%s", code, out, errs)
	}

	// A plugin directory that does not exist.
	cfg := writeConfig(t, t.TempDir(), s.state, filepath.Join(s.dir, "nowhere"), s.creds)
	code, out, errs = run(t, "plugins", "list", "--config", cfg, "--no-start")
	if code != 1 || !strings.Contains(out, "set plugin_dir") || !strings.Contains(errs, "plugin directory cannot be read") {
		t.Errorf("no plugin dir: exit %d\n%s\n%s", code, out, errs)
	}

	// A credentials file others may read: the runner refuses it.
	if err := os.Chmod(s.creds, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs = run(t, "plugins", "list", "--config", s.config, "--no-start")
	if code != 1 || !strings.Contains(out, "credentials  "+s.creds+"\n             ERROR:") || strings.Contains(out, "S3cret") ||
		!strings.Contains(errs, "credentials file cannot be read") {
		t.Errorf("readable credentials: exit %d\n%s\n%s", code, out, errs)
	}
}

// runnerBinary returns the real sitewarden-runner: $SITEWARDEN_BIN's, or
// one built once next to the test plugins.
func runnerBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("SITEWARDEN_BIN"); bin != "" {
		return filepath.Join(bin, "sitewarden-runner"+exeSuffix)
	}
	dir := filepath.Dir(shippedPlugin(t, "host"))
	out := filepath.Join(dir, "sitewarden-runner"+exeSuffix)
	shipped.runnerOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, "../../runner")
		if b, err := cmd.CombinedOutput(); err != nil {
			shipped.runnerErr = fmt.Errorf("build ./runner: %v\n%s", err, b)
		}
	})
	if shipped.runnerErr != nil {
		t.Fatal(shipped.runnerErr)
	}
	return out
}

// The diagnostic commands only read files: they work, from the real
// binary, while a real runner holds the site's state (its audit log open,
// its scope cache loaded, trying to reach a control plane that is not
// there).
func TestDiagnosticsWhileRunnerRuns(t *testing.T) {
	s := newPluginsSite(t)
	key := enrollSite(t, s.state, "example", "hq")
	dirPin := install(t, s.plugins, "directory", shippedPlugin(t, "directory"))
	hostPin := install(t, s.plugins, "host", shippedPlugin(t, "host"))
	publishScope(t, s.state, "example", key, 2, time.Now().Add(-time.Minute), pinnedPacks(t, dirPin, hostPin)...)
	bin := runnerBinary(t)

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var logs testsupport.Buffer
	runner := exec.CommandContext(ctx, bin, "run", "--config", s.config, "--for", "50s")
	runner.Stderr, runner.Stdout = &logs, &logs
	runner.Cancel = func() error { return runner.Process.Signal(os.Interrupt) }
	runner.WaitDelay = 15 * time.Second
	if err := runner.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- runner.Wait() }()
	for !strings.Contains(logs.String(), `"runner ready"`) {
		select {
		case err := <-done:
			t.Fatalf("runner exited before it was ready: %v\n%s", err, logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}

	if !strings.Contains(logs.String(), `"enrolled":true`) {
		t.Fatalf("the runner did not open the site:\n%s", logs.String())
	}
	for _, args := range [][]string{
		{"scope", "show", "--config", s.config},
		{"plugins", "list", "--config", s.config},
	} {
		cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
		out, err := exec.CommandContext(cctx, bin, args...).CombinedOutput()
		ccancel()
		if err != nil {
			t.Errorf("%s while the runner runs: %v\n%s", strings.Join(args[:2], " "), err, out)
			continue
		}
		if !strings.Contains(string(out), "client example") || !strings.Contains(string(out), "host") {
			t.Errorf("%s while the runner runs:\n%s", strings.Join(args[:2], " "), out)
		}
	}
	select {
	case err := <-done:
		t.Fatalf("the runner stopped during the checks: %v\n%s", err, logs.String())
	default:
	}
	if err := runner.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("runner exit: %v\n%s", err, logs.String())
	}
}
