package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"golang.org/x/mod/sumdb/note"

	"github.com/sitewarden/sitewarden/control-plane/api"
	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/internal/testsupport"
	"github.com/sitewarden/sitewarden/plugins/directory/slapdtest"
	protoaudit "github.com/sitewarden/sitewarden/protocol/audit"
	"github.com/sitewarden/sitewarden/runner/agent"
	"github.com/sitewarden/sitewarden/runner/pluginhost"
)

// The scenario suite's shared world (issue 11): the real control plane
// binary ('sitewarden server', SQLite, its own CA and keys, the HTTPS API),
// real runner binaries with the real plugin binaries, a real slapd, and the
// scripted model stand-in, so every outcome is deterministic. Scenarios run
// one after another on the same world, each on its own users and goals.

// Budgets: nothing in the suite waits without a bound.
const (
	procStop    = 20 * time.Second // SIGINT to exit
	goalTimeout = 60 * time.Second // a goal from submission to its outcome
	syncTimeout = 30 * time.Second // an item from the site to the control plane
)

// proc is a child process with its combined log.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  *testsupport.Buffer
	done chan struct{}
}

func startProc(t testing.TB, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(bin(t, name), args...), log: &testsupport.Buffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.cmd.Env = append(os.Environ(), env...)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop interrupts the process (a clean shutdown) and waits for it.
func (p *proc) stop(t testing.TB) {
	t.Helper()
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(procStop):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("%s did not stop within %s of an interrupt:\n%s", p.name, procStop, tail(p.log.String()))
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// tail keeps the end of a long log for failure messages.
func tail(s string) string {
	const max = 12000
	if len(s) > max {
		return "...\n" + s[len(s)-max:]
	}
	return s
}

// freeAddr returns a loopback address whose port is free for TCP and UDP.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, addr := listenPair(t, "")
	ln.Close()
	return addr
}

// world is the control plane, its API, the directory and the model.
type world struct {
	// t is the running (sub)test, for failures; top is the suite's test,
	// which owns the processes and directories that outlive a scenario.
	t, top   *testing.T
	st       *store.SQLite
	dir      string
	state    string // the control plane's --state
	syncAddr string
	httpAddr string
	cp       *proc
	apiToken string
	http     *http.Client
	ldap     *slapdtest.Server
	model    *scriptedModel
	pluginSH string // SHA-256 of the directory plugin binary
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, top: t, dir: t.TempDir(), ldap: slapdtest.Start(t), model: newScriptedModel(t)}
	w.state = filepath.Join(w.dir, "control-plane")
	w.pluginSH = directoryPluginSHA(t)
	w.syncAddr, w.httpAddr = freeAddr(t), freeAddr(t)
	w.cp = startProc(t, "sitewarden", nil, "server", "--state", w.state, "--listen", w.syncAddr,
		"--http-listen", w.httpAddr, "--heartbeat", "1s", "--tenant", "msp", "--log-level", "debug")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("control plane log:\n%s", tail(w.cp.log.String()))
		}
	})
	re := regexp.MustCompile(`--setup (admin\.sws_[A-Za-z0-9_-]+)`)
	var setup string
	eventually(t, 30*time.Second, "the control plane prints its setup link", func() bool {
		if m := re.FindStringSubmatch(w.cp.log.String()); m != nil {
			setup = m[1]
		}
		return setup != "" || w.cp.exited()
	})
	if setup == "" {
		t.Fatalf("control plane exited:\n%s", w.cp.log.String())
	}
	pem, err := os.ReadFile(filepath.Join(w.state, "ca", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	w.http = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	// The first admin sets a password with the printed one-time value and
	// logs in for an API token, through the real CLI.
	pw := []string{"SITEWARDEN_PASSWORD=scenario suite passphrase", "SITEWARDEN_TOKEN="}
	eventually(t, 20*time.Second, "admin setup", func() bool {
		_, err := w.cli(pw, "setup", "--setup", setup)
		return err == nil
	})
	out, err := w.cli(pw, "login", "--user", "admin")
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	w.apiToken = strings.TrimSpace(out)
	return w
}

// cli runs the control plane binary's supervisors' CLI against the world.
func (w *world) cli(env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin(w.t, "sitewarden"), append(args, "--server", "https://"+w.httpAddr,
		"--ca", filepath.Join(w.state, "ca", "ca.pem"))...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("sitewarden %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// call sends a JSON request to the API with the admin's token (or tok).
func (w *world) call(tok, method, path string, body any) (int, []byte) {
	w.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "https://"+w.httpAddr+path, rd)
	if err != nil {
		w.t.Fatal(err)
	}
	if tok == "" {
		tok = w.apiToken
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.http.Do(req)
	if err != nil {
		w.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, raw
}

// get calls the API and decodes a 200 answer into v.
func (w *world) get(path string, v any) {
	w.t.Helper()
	code, raw := w.call("", "GET", path, nil)
	if code != http.StatusOK {
		w.t.Fatalf("GET %s: %d %s", path, code, raw)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		w.t.Fatalf("GET %s: %v", path, err)
	}
}

// submitGoal submits a goal through the API, as a supervisor would.
func (w *world) submitGoal(client, site, id, workflow, user, ticket string) {
	w.t.Helper()
	code, raw := w.call("", "POST", "/api/v1/goals", map[string]any{"client": client, "site": site, "id": id,
		"agent": "account-helper", "workflow": workflow, "subject": map[string]string{"user": user}, "ticket_text": ticket})
	if code != http.StatusCreated {
		w.t.Fatalf("submit goal %s: %d %s", id, code, raw)
	}
}

// waitGoal waits until the API reports the goal with status want.
func (w *world) waitGoal(client, id, want string) api.GoalView {
	w.t.Helper()
	var v api.GoalView
	eventually(w.t, goalTimeout, "goal "+id+" "+want, func() bool {
		w.get("/api/v1/goals/"+client+"/"+id, &v)
		return v.Status == want
	})
	return v
}

// store opens the control plane's SQLite store beside the running server
// (WAL mode allows it), once, to read what the witness mirrored.
func (w *world) store() *store.SQLite {
	w.t.Helper()
	if w.st == nil {
		st, err := store.OpenSQLite(context.Background(), filepath.Join(w.state, "control-plane.db"))
		if err != nil {
			w.t.Fatal(err)
		}
		w.st = st
		w.top.Cleanup(func() { st.Close() })
	}
	return w.st
}

// run runs a scenario as a subtest, failures going to it.
func (w *world) run(name string, f func(t *testing.T)) {
	w.top.Run(name, func(t *testing.T) {
		w.t = t
		defer func() { w.t = w.top }()
		f(t)
	})
}

// scope returns the agent scenarios' scope for client, pinned to the
// built directory plugin.
func (w *world) scope(client string) []byte { return agentScope(w.t, w.pluginSH, client) }

// agentScope returns testdata/agent-scope.yaml for client with the
// directory plugin pinned to pluginSHA (directoryPluginSHA).
func agentScope(t testing.TB, pluginSHA, client string) []byte {
	t.Helper()
	src, err := os.ReadFile("testdata/agent-scope.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src = bytes.Replace(src, []byte("@DIRECTORY_SHA256@"), []byte(pluginSHA), 1)
	return bytes.Replace(src, []byte("client: example"), []byte("client: "+client), 1)
}

// directoryPluginSHA returns the SHA-256 of the built directory plugin.
func directoryPluginSHA(t testing.TB) string {
	t.Helper()
	sum, err := pluginhost.FileSHA256(filepath.Join(binDir, "plugins", "sitewarden-plugin-directory"))
	if err != nil {
		t.Fatalf("directory plugin binary: %v (run 'make build')", err)
	}
	return sum
}

// publishScope publishes client's scope with the bootstrap command
// ('sitewarden scope publish' on the control plane's state), before the
// client's runners connect.
func (w *world) publishScope(client string) {
	w.t.Helper()
	file := filepath.Join(w.dir, client+"-scope.yaml")
	writeFile(w.t, file, string(w.scope(client)))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin(w.t, "sitewarden"), "scope", "publish", "--state", w.state, "--client", client, file).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "published scope of client "+client) {
		w.t.Fatalf("scope publish: %v\n%s", err, out)
	}
}

// verifierKey is the site's audit verifier key as the control plane holds
// it from enrollment: a trusted source, independent of the site's files.
func (w *world) verifierKey(client, site string) string {
	w.t.Helper()
	s, err := w.store().Site(context.Background(), client, site)
	if err != nil {
		w.t.Fatal(err)
	}
	origin, _ := protoaudit.Origin(client, site)
	k, err := note.NewEd25519VerifierKey(origin, ed25519.PublicKey(s.AuditKey))
	if err != nil {
		w.t.Fatal(err)
	}
	return k
}

// runner is one site's real runner process.
type runner struct {
	w            *world
	client, site string
	dir, state   string
	cfg          string
	p            *proc
	starts       int
}

// startRunner enrolls a runner for client/site with a real one-time token
// and starts it; via, when set, is the sync address to dial (a proxy).
func (w *world) startRunner(client, site, via string) *runner {
	w.t.Helper()
	r := &runner{w: w, client: client, site: site, dir: filepath.Join(w.dir, client+"-"+site)}
	r.state, r.cfg = filepath.Join(r.dir, "state"), filepath.Join(r.dir, "config.yaml")
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := exec.CommandContext(ctx, bin(w.t, "sitewarden"), "token", "create", "--state", w.state, "--address", w.syncAddr,
		"--client", client, "--site", site, "--ttl", "1h").Output()
	if err != nil {
		w.t.Fatalf("token create: %v", err)
	}
	writeFile(w.t, filepath.Join(r.dir, "enroll.token"), strings.TrimSpace(string(tok)))
	creds, _ := json.Marshal(map[string]any{"directory": w.ldap.Credentials()}) // JSON is YAML
	writeFile(w.t, filepath.Join(r.dir, "credentials.yaml"), string(creds))
	cfg := "state_dir: " + r.state + "\nenroll_token_file: " + filepath.Join(r.dir, "enroll.token") +
		"\nheartbeat_interval: 1s\nplugin_dir: " + filepath.Join(binDir, "plugins") +
		"\ncredentials_file: " + filepath.Join(r.dir, "credentials.yaml") +
		"\nmodel_host: " + w.model.srv.URL + "\nmodel_name: stand-in\nlog_level: info\n"
	if via != "" {
		cfg += "control_plane: " + via + "\n"
	}
	writeFile(w.t, r.cfg, cfg)
	r.start()
	w.top.Cleanup(func() {
		if w.top.Failed() {
			w.top.Logf("runner %s/%s log:\n%s", client, site, tail(r.p.log.String()))
		}
	})
	return r
}

// start starts (or restarts) the runner and waits until it is connected.
func (r *runner) start() {
	r.w.t.Helper()
	r.p = startProc(r.w.top, "sitewarden-runner", nil, "run", "--config", r.cfg)
	r.starts++
	eventually(r.w.t, 30*time.Second, "runner "+r.client+" connected", func() bool {
		return strings.Contains(r.p.log.String(), `"msg":"connected to control plane"`) || r.p.exited()
	})
	if r.p.exited() {
		r.w.t.Fatalf("runner %s exited:\n%s", r.client, r.p.log.String())
	}
}

// restart stops the runner cleanly and starts it again on the same state.
func (r *runner) restart() {
	r.w.t.Helper()
	old := r.p.log.String()
	r.p.stop(r.w.t)
	r.start()
	r.p.log.Write([]byte("--- previous run ---\n" + tail(old)))
}

// cli runs a runner subcommand against this runner's configuration.
func (r *runner) cli(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*goalTimeout)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin(r.w.t, "sitewarden-runner"), args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// submit runs 'goal submit --wait' on the site and returns the outcome.
func (r *runner) submit(id, workflow, user, ticket string) (agent.Outcome, map[string]string) {
	r.w.t.Helper()
	out, err := r.cli("goal", "submit", "--config", r.cfg, "--id", id, "--agent", "account-helper", "--workflow", workflow,
		"--subject", "user="+user, "--ticket", ticket, "--wait", goalTimeout.String(), "-o", "json")
	if err != nil {
		r.w.t.Fatalf("goal submit %s: %v\n%s", id, err, out)
	}
	var v struct {
		agent.Outcome
		Secrets map[string]string `json:"one_time_secrets"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		r.w.t.Fatalf("goal submit %s printed %q: %v", id, out, err)
	}
	return v.Outcome, v.Secrets
}

// export stops nothing: the caller stops the runner first (the export
// opens the log itself). It writes the client's export and returns its path.
func (r *runner) export() string {
	r.w.t.Helper()
	path := filepath.Join(r.w.t.TempDir(), r.client+".swa")
	if out, err := r.cli("audit", "export", "--client", r.client, "--dir", filepath.Join(r.state, "audit"), "-o", path, "-q"); err != nil {
		r.w.t.Fatalf("audit export: %v\n%s", err, out)
	}
	return path
}

// verify runs the control plane's 'audit verify' on an export.
func (w *world) verify(path, key string) (protoaudit.Summary, verifyFailure, error) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin(w.t, "sitewarden"), "audit", "verify", path, "--key", key, "-o", "json").Output()
	var s protoaudit.Summary
	var f verifyFailure
	if jerr := errors.Join(json.Unmarshal(out, &s), json.Unmarshal(out, &f)); jerr != nil {
		w.t.Fatalf("audit verify printed %q: %v", out, jerr)
	}
	return s, f, err
}

// verifyFailure is 'audit verify -o json' when the export does not verify.
type verifyFailure struct {
	OK    bool    `json:"ok"`
	Error string  `json:"error"`
	Index *uint64 `json:"index"`
}

// exportRecords decodes every record of an export, by index.
func exportRecords(t *testing.T, path string) map[uint64]protoaudit.Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := protoaudit.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint64]protoaudit.Record{}
	for range 1 << 20 {
		it, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if it.Record != nil {
			rec, err := protoaudit.Decode(it.Record.Encoding)
			if err != nil {
				t.Fatalf("record %d: %v", it.Record.Index, err)
			}
			out[it.Record.Index] = rec
		}
	}
	t.Fatal("export has more than 2^20 items")
	return nil
}

// mirrored returns the records the control plane mirrored for a site.
func (w *world) mirrored(client, site string) []protoaudit.Record {
	w.t.Helper()
	st := w.store()
	ctx := context.Background()
	n, err := st.AuditSize(ctx, client, site)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []protoaudit.Record
	for from := uint64(0); from < n; {
		raws, err := st.AuditRecords(ctx, client, site, from, 500)
		if err != nil || len(raws) == 0 {
			w.t.Fatalf("mirror from %d: %d records, %v", from, len(raws), err)
		}
		for _, raw := range raws {
			rec, err := protoaudit.Decode(raw)
			if err != nil {
				w.t.Fatal(err)
			}
			out = append(out, rec)
		}
		from += uint64(len(raws))
	}
	return out
}

// groupsOf lists the groups dn is a direct member of, by an LDAP search as
// the directory's administrator (independent of the plugin).
func groupsOf(t *testing.T, s *slapdtest.Server, dn string) string {
	t.Helper()
	c := s.Admin(t)
	res, err := c.Search(ldap.NewSearchRequest(slapdtest.GroupsDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(member="+ldap.EscapeFilter(dn)+")", []string{"cn"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, en := range res.Entries {
		out = append(out, en.GetAttributeValue("cn"))
	}
	return strings.Join(out, ",")
}

// scriptedModel is the scripted stand-in for Ollama's HTTP API (POST
// /api/chat), as in TestAgentScenarios: no real model gives a chosen tool
// call, a prompt-injected proposal or a failing first try on demand (the
// real Ollama server is exercised in runner/model). Several runners and
// goals share it, so each script is keyed by a marker the goal's ticket
// carries (the model sees the ticket in every request); a request with no
// scripted marker gets 503, and the agent falls back to the playbook.
type scriptedModel struct {
	mu      stdsync.Mutex
	scripts map[string][]string
	seen    map[string][]string
	srv     *httptest.Server
}

func newScriptedModel(t *testing.T) *scriptedModel {
	m := &scriptedModel{scripts: map[string][]string{}, seen: map[string][]string{}}
	m.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		m.mu.Lock()
		defer m.mu.Unlock()
		for marker, script := range m.scripts {
			if !strings.Contains(string(body), marker) {
				continue
			}
			m.seen[marker] = append(m.seen[marker], string(body))
			if len(script) == 0 {
				break
			}
			m.scripts[marker] = script[1:]
			rw.Header().Set("Content-Type", "application/json")
			io.WriteString(rw, script[0])
			return
		}
		http.Error(rw, `{"error":"no script for this request"}`, http.StatusServiceUnavailable)
	}))
	t.Cleanup(m.srv.Close)
	return m
}

// script queues the answers for goals whose ticket carries marker.
func (m *scriptedModel) script(marker string, answers ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.scripts[marker] = answers
}

func (m *scriptedModel) requests(marker string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.seen[marker]...)
}
