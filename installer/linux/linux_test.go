package linux

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/installer/internal/testbin"
	"github.com/sitewarden/sitewarden/internal/testsupport"
)

// build makes a package with the installer command ('make deb|rpm' runs
// the same), which calls Build.
func build(t *testing.T, ctx context.Context, format, bin string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "sitewarden-runner."+format)
	sh(t, ctx, testbin.Installer(t), format, "--version", "1.4.2", "--bin", bin, "--out", out)
	return out
}

func sh(t *testing.T, ctx context.Context, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startControlPlane runs the real control plane binary on loopback and
// returns a fleet enrollment token for client acme (one use).
func startControlPlane(t *testing.T, ctx context.Context, bin string) (addr, token string) {
	t.Helper()
	state := t.TempDir()
	addr = freeAddr(t)
	logs := &testsupport.Buffer{}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "sitewarden"), "server", "--state", state, "--listen", addr,
		"--http-listen", freeAddr(t), "--for", "2m")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), "control plane ready") {
		if time.Now().After(deadline) {
			t.Fatalf("control plane not ready:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	out := sh(t, ctx, filepath.Join(bin, "sitewarden"), "token", "create", "--state", state,
		"--address", addr, "--client", "acme", "--fleet", "--uses", "1", "--ttl", "1h")
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "swt1_") {
			return addr, strings.TrimSpace(l)
		}
	}
	t.Fatalf("token create printed no token:\n%s", out)
	return "", ""
}

// connectProxy is an HTTP CONNECT proxy that records where it tunnels to:
// the kind of proxy a site's PROXY names.
type connectProxy struct {
	mu      sync.Mutex
	targets []string
}

func (p *connectProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
		return
	}
	p.mu.Lock()
	p.targets = append(p.targets, r.Host)
	p.mu.Unlock()
	dst, err := net.DialTimeout("tcp", r.Host, 5*time.Second)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer dst.Close()
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		return
	}
	done := make(chan struct{})
	go func() { _, _ = io.Copy(dst, buf); close(done) }()
	_, _ = io.Copy(conn, dst)
	_ = conn.SetDeadline(time.Now())
	<-done
}

func (p *connectProxy) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.targets...)
}

// scratchRoot makes an empty dpkg database under a temporary root.
func scratchRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/log", "etc/default"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"var/lib/dpkg/status", "var/lib/dpkg/available"} {
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// dpkg runs dpkg on the scratch root. --force-script-chrootless runs the
// maintainer scripts on this machine with DPKG_ROOT set to root (the
// scripts prefix every path with it and leave systemd alone);
// --force-depends because the scratch root has no libc6 package
// registered.
func dpkg(t *testing.T, ctx context.Context, root string, args ...string) string {
	t.Helper()
	base := []string{"--root=" + root, "--force-script-chrootless", "--force-depends", "--log=" + filepath.Join(root, "var/log/dpkg.log")}
	if os.Geteuid() != 0 {
		base = append(base, "--force-not-root")
	}
	return sh(t, ctx, "dpkg", append(base, args...)...)
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// TestDebInstallEnrollRemovePurge: the .deb installed into a scratch root
// with dpkg puts the runner, the plugins, the hardened unit and the
// conffile in place; its post-install step reads the RMM's
// /etc/default/sitewarden-runner, writes the settings into the config and
// enrolls with the real control plane (token file deleted); remove keeps
// the configuration, the site's identity and audit state; purge deletes
// them.
func TestDebInstallEnrollRemovePurge(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := testbin.Linux(t)
	deb := build(t, ctx, "deb", bin)

	info := sh(t, ctx, "dpkg-deb", "--info", deb)
	for _, want := range []string{"Package: sitewarden-runner", "Version: 1.4.2-1", "Architecture: amd64", "conffiles", "postinst", "prerm", "postrm"} {
		if !strings.Contains(info, want) {
			t.Errorf("dpkg-deb --info lacks %q:\n%s", want, info)
		}
	}
	if conf := sh(t, ctx, "sh", "-c", "dpkg-deb --ctrl-tarfile "+deb+" | tar -xO ./conffiles"); strings.TrimSpace(conf) != ConfigPath {
		t.Errorf("conffiles = %q, want %s", conf, ConfigPath)
	}

	addr, token := startControlPlane(t, ctx, bin)
	proxy := &connectProxy{}
	ps := httptest.NewServer(proxy)
	defer ps.Close()
	root := scratchRoot(t)
	defaults := "# from the RMM tool\nSITEWARDEN_CONTROL_PLANE=" + addr + "\nSITEWARDEN_ENROLL_TOKEN=" + token +
		"\nSITEWARDEN_LOG_LEVEL=debug\nSITEWARDEN_PROXY=" + ps.URL + "\nSITEWARDEN_SITE_NAME=linux-box\n"
	if err := os.WriteFile(filepath.Join(root, DefaultsPath), []byte(defaults), 0o600); err != nil {
		t.Fatal(err)
	}
	out := dpkg(t, ctx, root, "--install", deb)
	// One fleet token for the client; the defaults file names the site.
	if !strings.Contains(out, "enrolled as default/acme/linux-box") || strings.Contains(out, token) {
		t.Errorf("post-install did not enroll, or showed the token:\n%s", out)
	}
	for _, p := range []string{RunnerPath, UnitPath, ConfigPath, PluginDir + "/sitewarden-plugin-host", PluginDir + "/sitewarden-plugin-directory"} {
		if !exists(filepath.Join(root, p)) {
			t.Errorf("%s not installed", p)
		}
	}
	if fi, err := os.Stat(filepath.Join(root, RunnerPath)); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("runner mode: %v %v", fi, err)
	}
	unit, err := os.ReadFile(filepath.Join(root, UnitPath))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ExecStart=/usr/bin/sitewarden-runner run --config /etc/sitewarden/runner.yaml", "Restart=on-failure",
		"NoNewPrivileges=yes", "ProtectSystem=strict", "ReadWritePaths=/var/lib/sitewarden", "WantedBy=multi-user.target"} {
		if !strings.Contains(string(unit), want+"\n") {
			t.Errorf("unit lacks %q", want)
		}
	}
	if strings.Contains(string(unit), "TOKEN") || strings.Contains(string(unit), token) {
		t.Error("the unit names the token")
	}
	// systemd's own parser: every key of the unit is known to it. (It also
	// says the ExecStart binary is missing: it looks for it on this
	// machine, not in the scratch root; that line is expected.)
	v, err := exec.CommandContext(ctx, "systemd-analyze", "verify", "--man=no", filepath.Join(root, UnitPath)).CombinedOutput()
	if errors.Is(err, exec.ErrNotFound) {
		t.Fatal("systemd-analyze not found: install systemd ('make deps')")
	}
	for _, l := range strings.Split(strings.TrimSpace(string(v)), "\n") {
		if l != "" && !strings.Contains(l, "/usr/bin/sitewarden-runner is not executable") {
			t.Errorf("systemd-analyze verify: %s", l)
		}
	}
	cfg, err := os.ReadFile(filepath.Join(root, ConfigPath))
	if err != nil {
		t.Fatal(err)
	}
	// Enrollment went through the site's proxy.
	if seen := proxy.seen(); len(seen) != 1 || seen[0] != addr {
		t.Errorf("proxy tunnelled to %v, want [%s]", seen, addr)
	}
	for _, want := range []string{"control_plane: " + addr, "log_level: debug", "state_dir: /var/lib/sitewarden", "proxy: " + ps.URL, "site_name: linux-box"} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
	if strings.Contains(string(cfg), token) {
		t.Error("the token is in the config file")
	}
	state := filepath.Join(root, StateDir)
	if !exists(filepath.Join(state, "site-cert.pem")) || !exists(filepath.Join(state, "audit.key")) {
		t.Errorf("not enrolled: state has no site certificate or audit key")
	}
	if exists(filepath.Join(state, "enroll.token")) {
		t.Error("the used token file is still there")
	}
	if fi, err := os.Stat(state); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state directory mode: %v %v", fi, err)
	}
	status := sh(t, ctx, "dpkg-query", "--admindir="+filepath.Join(root, "var/lib/dpkg"), "-W", "-f", "${Status} ${Version}\n${Conffiles}\n", "sitewarden-runner")
	if !strings.Contains(status, "install ok installed 1.4.2-1") || !strings.Contains(status, ConfigPath) {
		t.Errorf("dpkg status:\n%s", status)
	}

	// Reinstalling (an upgrade of the same version) keeps the identity:
	// the used token in /etc/default is not written again.
	cert, _ := os.ReadFile(filepath.Join(state, "site-cert.pem"))
	out = dpkg(t, ctx, root, "--install", deb)
	if !strings.Contains(out, "already enrolled") {
		t.Errorf("reinstall:\n%s", out)
	}
	if again, _ := os.ReadFile(filepath.Join(state, "site-cert.pem")); !bytes.Equal(cert, again) || exists(filepath.Join(state, "enroll.token")) {
		t.Error("reinstall changed the site's certificate or left a token file")
	}

	dpkg(t, ctx, root, "--remove", "sitewarden-runner")
	for _, p := range []string{RunnerPath, UnitPath, PluginDir + "/sitewarden-plugin-host"} {
		if exists(filepath.Join(root, p)) {
			t.Errorf("%s survived removal", p)
		}
	}
	if !exists(filepath.Join(root, ConfigPath)) || !exists(filepath.Join(state, "site-cert.pem")) {
		t.Error("removal deleted the configuration or the site's identity")
	}
	dpkg(t, ctx, root, "--purge", "sitewarden-runner")
	if exists(filepath.Join(root, ConfigPath)) || exists(state) {
		t.Error("purge kept the configuration or the state")
	}
}

// TestRPMContents: the .rpm holds the same files, marks the config as
// %config(noreplace), and carries the scripts; rpm reads it back.
func TestRPMContents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin := testbin.Linux(t)
	rpm := build(t, ctx, "rpm", bin)
	list := sh(t, ctx, "rpm", "-qlp", rpm)
	for _, p := range []string{RunnerPath, UnitPath, ConfigPath, PluginDir + "/sitewarden-plugin-host", PluginDir + "/sitewarden-plugin-directory"} {
		if !strings.Contains(list, p+"\n") {
			t.Errorf("rpm -qlp lacks %s:\n%s", p, list)
		}
	}
	if conf := sh(t, ctx, "rpm", "-qcp", rpm); strings.TrimSpace(conf) != ConfigPath {
		t.Errorf("rpm config files: %q", conf)
	}
	scripts := sh(t, ctx, "rpm", "-qp", "--scripts", rpm)
	for _, want := range []string{"postinstall scriptlet", "preuninstall scriptlet", "postuninstall scriptlet", "configure --root", "--env-file /etc/default/sitewarden-runner --enroll"} {
		if !strings.Contains(scripts, want) {
			t.Errorf("rpm scripts lack %q:\n%s", want, scripts)
		}
	}
	q := sh(t, ctx, "rpm", "-qp", "--queryformat", "%{NAME} %{VERSION} %{RELEASE} %{ARCH}\n", rpm)
	if strings.TrimSpace(q) != "sitewarden-runner 1.4.2 1 x86_64" {
		t.Errorf("rpm header: %q", q)
	}
}

// TestConfigValidate: versions and formats the packagers cannot take are
// refused before anything is built.
func TestConfigValidate(t *testing.T) {
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "sitewarden-runner"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []Config{
		{Format: "apk", Version: "1.0.0", BinDir: bin, Out: "x"},
		{Format: "deb", Version: "c1f8a1c-dirty", BinDir: bin, Out: "x"},
		{Format: "deb", Version: "1.0.0", BinDir: t.TempDir(), Out: "x"},
		{Format: "rpm", Version: "1.0.0", BinDir: bin},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil", c)
		}
	}
	if err := (Config{Format: "rpm", Version: "v1.0.0", BinDir: bin, Out: "x"}).Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}
