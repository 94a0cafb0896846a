package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/sitewarden/sitewarden/plugins/directory/slapdtest"
	"github.com/sitewarden/sitewarden/runner/agent"
)

// The demo tenant: two clients with one site each; the first has the demo
// directory.
const (
	clientA = "example"
	clientB = "globex"
	site    = "hq"
)

// Budgets: nothing waits without a bound.
const (
	readyTimeout = 30 * time.Second // a process to report it is ready
	goalTimeout  = 2 * time.Minute  // one demo goal
	stopTimeout  = 20 * time.Second // a process to stop after an interrupt
	probeTimeout = 2 * time.Second  // the Ollama probe
)

type config struct {
	bin, state, packs  string
	listen, httpListen string
	ollamaHost, model  string
	runFor             time.Duration
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.StringVar(&c.bin, "bin", "bin", "directory of the built binaries ('make build')")
	fs.StringVar(&c.state, "state", ".run-state", "state directory, kept between runs")
	fs.StringVar(&c.packs, "packs", "policies/packs", "the reference policy packs")
	fs.StringVar(&c.listen, "listen", "127.0.0.1:7443", "control plane enrollment and sync address")
	fs.StringVar(&c.httpListen, "http-listen", "127.0.0.1:8443", "control plane web UI and API address")
	fs.StringVar(&c.ollamaHost, "ollama-host", envOr("OLLAMA_HOST", "http://127.0.0.1:11434"), "local Ollama server (OLLAMA_HOST)")
	fs.StringVar(&c.model, "model", os.Getenv("DEMO_MODEL"), "Ollama model to use (default: the first the server has)")
	fs.DurationVar(&c.runFor, "for", 0, "stop after this long (0: until Ctrl-C)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	for _, p := range []*string{&c.bin, &c.state, &c.packs} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			fmt.Fprintf(stderr, "demo: %v\n", err)
			return 2
		}
		*p = abs
	}
	if !strings.Contains(c.ollamaHost, "://") {
		c.ollamaHost = "http://" + c.ollamaHost
	}
	d := &demo{cfg: c, out: stdout}
	if err := d.run(ctx); err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 1
	}
	return 0
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

type demo struct {
	cfg   config
	out   io.Writer
	procs []*proc
	ldap  *slapdtest.Server
	// runners' configuration files by client.
	runnerCfg map[string]string
}

func (d *demo) say(format string, a ...any) {
	if format == "" {
		fmt.Fprintln(d.out)
		return
	}
	fmt.Fprintf(d.out, "demo: "+format+"\n", a...)
}

func (d *demo) run(ctx context.Context) error {
	if d.cfg.runFor > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.cfg.runFor)
		defer cancel()
	}
	defer d.stop()
	for _, sub := range []string{"logs", "runners"} {
		if err := os.MkdirAll(filepath.Join(d.cfg.state, sub), 0o700); err != nil {
			return err
		}
	}
	cpState := filepath.Join(d.cfg.state, "control-plane")
	_, statErr := os.Stat(filepath.Join(cpState, "control-plane.db"))
	if statErr == nil {
		d.say("reusing the state in %s (delete it to start afresh)", d.cfg.state)
	} else {
		d.say("new state directory %s", d.cfg.state)
	}
	modelHost, modelName, why := d.probeOllama(ctx)
	if modelName != "" {
		d.say("planner: local model %s at %s (Ollama)", modelName, modelHost)
	} else {
		d.say("planner: playbook (%s); set OLLAMA_HOST to use a local model", why)
	}

	cp, err := d.start(ctx, "control-plane", "sitewarden", "server", "--state", cpState, "--listen", d.cfg.listen,
		"--http-listen", d.cfg.httpListen, "--heartbeat", "5s", "--tenant", "demo")
	if err != nil {
		return err
	}
	if err := cp.waitFor(ctx, `"msg":"control plane ready"`); err != nil {
		return err
	}
	setup := regexp.MustCompile(`https://\S+/setup#\S+`).FindString(cp.text())

	scopes, err := d.writePacks()
	if err != nil {
		return err
	}
	for _, client := range []string{clientA, clientB} {
		out, err := d.tool(ctx, "sitewarden", "scope", "publish", "--state", cpState, "--client", client, scopes[client])
		if err != nil {
			return err
		}
		d.say("%s", strings.TrimSpace(out))
	}

	if err := d.startDirectory(); err != nil {
		return err
	}
	d.runnerCfg = map[string]string{}
	for _, client := range []string{clientA, clientB} {
		if err := d.startRunner(ctx, client, cpState, modelHost, modelName); err != nil {
			return err
		}
	}

	d.say("")
	d.say("web UI and API: https://%s/  (CA certificate: %s)", d.cfg.httpListen, filepath.Join(cpState, "ca", "ca.pem"))
	if setup != "" {
		d.say("one-time admin setup link (valid 24h): %s", setup)
	} else {
		d.say("the admin account is already set up: sign in at https://%s/", d.cfg.httpListen)
	}
	d.say("logs: %s", filepath.Join(d.cfg.state, "logs"))
	d.say("")

	reset, err := d.goals(ctx)
	if err != nil {
		if ctx.Err() != nil {
			d.say("stopping")
			return nil
		}
		return err
	}
	d.say("")
	d.say("running; approve the password reset in the web UI (Approvals), or after 'sitewarden login':")
	d.say("  %s approvals approve %s --client %s --server https://%s --ca %s", filepath.Join(d.cfg.bin, "sitewarden"),
		reset.approval, clientA, d.cfg.httpListen, filepath.Join(cpState, "ca", "ca.pem"))
	d.say("Ctrl-C stops everything")
	d.watchReset(ctx, reset)
	<-ctx.Done()
	d.say("stopping")
	return nil
}

// probeOllama reports the Ollama server and model to use, or why none.
func (d *demo) probeOllama(ctx context.Context) (host, model, why string) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(d.cfg.ollamaHost, "/")+"/api/tags", nil)
	if err != nil {
		return "", "", "OLLAMA_HOST " + d.cfg.ollamaHost + " is not a URL"
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", "", "no Ollama answered at " + d.cfg.ollamaHost
	}
	defer resp.Body.Close()
	var tags struct {
		Models []struct {
			Name string `json:"name"`
		} `json:"models"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&tags) != nil {
		return "", "", "the server at " + d.cfg.ollamaHost + " is not Ollama"
	}
	if d.cfg.model != "" {
		return d.cfg.ollamaHost, d.cfg.model, ""
	}
	if len(tags.Models) == 0 {
		return "", "", "Ollama at " + d.cfg.ollamaHost + " has no model yet ('ollama pull llama3.2')"
	}
	return d.cfg.ollamaHost, tags.Models[0].Name, ""
}

// startDirectory starts the demo directory afresh: the seeded users, a
// "Domain Admins" group holding dave, and alice locked out.
func (d *demo) startDirectory() error {
	dir := filepath.Join(d.cfg.state, "directory")
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	s, err := slapdtest.StartIn(dir)
	if err != nil {
		return err
	}
	d.ldap = s
	c, err := s.Dial()
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Bind(slapdtest.AdminDN, slapdtest.AdminPassword); err != nil {
		return fmt.Errorf("demo directory admin bind: %w", err)
	}
	add := ldap.NewAddRequest("cn=Domain Admins,"+slapdtest.GroupsDN, nil)
	add.Attribute("objectClass", []string{"groupOfNames"})
	add.Attribute("cn", []string{"Domain Admins"})
	add.Attribute("member", []string{user("dave").DN()})
	if err := c.Add(add); err != nil {
		return fmt.Errorf("demo directory: add Domain Admins: %w", err)
	}
	for range slapdtest.MaxFailure {
		if err := d.bind("alice", "not-her-password"); err == nil {
			return errors.New("demo directory: a wrong password bound")
		}
	}
	var users []string
	for _, u := range slapdtest.Users {
		users = append(users, u.Login)
	}
	d.say("demo directory %s (users %s; dave is in Domain Admins; alice is locked out)", s.URL, strings.Join(users, ", "))
	return nil
}

func user(login string) slapdtest.User {
	for _, u := range slapdtest.Users {
		if u.Login == login {
			return u
		}
	}
	return slapdtest.User{Login: login}
}

// bind signs in to the demo directory as login, as the user would.
func (d *demo) bind(login, password string) error {
	c, err := d.ldap.Dial()
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Bind(user(login).DN(), password)
}

// startRunner enrolls client's runner with a one-time token (first run
// only) and starts it.
func (d *demo) startRunner(ctx context.Context, client, cpState, modelHost, modelName string) error {
	dir, _ := filepath.Abs(filepath.Join(d.cfg.state, "runners", client))
	state := filepath.Join(dir, "state")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tokenFile := filepath.Join(dir, "enroll.token")
	if _, err := os.Stat(filepath.Join(state, "enrollment.json")); err != nil {
		tok, err := d.tool(ctx, "sitewarden", "token", "create", "--state", cpState, "--address", d.cfg.listen,
			"--client", client, "--site", site, "--ttl", "1h")
		if err != nil {
			return err
		}
		if err := os.WriteFile(tokenFile, []byte(strings.TrimSpace(tok)), 0o600); err != nil {
			return err
		}
		d.say("runner %s/%s: enrolling with a one-time token", client, site)
	}
	// The host plugin needs no secrets and so no section.
	creds := map[string]any{}
	if client == clientA {
		creds["directory"] = d.ldap.Credentials()
	}
	raw, _ := json.Marshal(creds) // JSON is YAML
	credsFile := filepath.Join(dir, "credentials.yaml")
	if err := os.WriteFile(credsFile, raw, 0o600); err != nil {
		return err
	}
	plugins, _ := filepath.Abs(filepath.Join(d.cfg.bin, "plugins"))
	cfg := fmt.Sprintf("state_dir: %s\nenroll_token_file: %s\nheartbeat_interval: 5s\nplugin_dir: %s\ncredentials_file: %s\ncontrol_plane: %s\n",
		state, tokenFile, plugins, credsFile, d.cfg.listen)
	if modelName != "" {
		cfg += fmt.Sprintf("model_host: %s\nmodel_name: %s\n", modelHost, modelName)
	}
	cfgFile := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		return err
	}
	d.runnerCfg[client] = cfgFile
	p, err := d.start(ctx, "runner-"+client, "sitewarden-runner", "run", "--config", cfgFile)
	if err != nil {
		return err
	}
	if err := p.waitFor(ctx, `"msg":"connected to control plane"`); err != nil {
		return err
	}
	d.say("runner %s/%s connected to the control plane", client, site)
	return nil
}

// pending is the password reset waiting for a supervisor.
type pending struct{ goal, approval string }

// goals submits the demo goals on the sites and prints their outcomes.
func (d *demo) goals(ctx context.Context) (pending, error) {
	sfx := time.Now().UTC().Format("150405")
	out, err := d.submit(ctx, clientA, "unlock-alice-"+sfx, "account-helper", "account_unlock", []string{"user=alice"}, "Alice is locked out of her laptop")
	if err != nil {
		return pending{}, err
	}
	d.report("unlock a locked-out user", out)
	if err := d.bind("alice", user("alice").Password); err != nil {
		d.say("  alice signs in: no (%v)", err)
	} else {
		d.say("  alice signs in: yes (checked by a bind to the directory)")
	}

	out, err = d.submit(ctx, clientA, "reset-bob-"+sfx, "account-helper", "password_reset", []string{"user=bob"}, "Bob forgot his password")
	if err != nil {
		return pending{}, err
	}
	d.report("password reset (needs approval)", out)
	var p pending
	if out.Approval != nil {
		p = pending{goal: out.GoalID, approval: out.Approval.ID}
	}

	out, err = d.submit(ctx, clientA, "admins-dave-"+sfx, "account-helper", "account_unlock", []string{"user=dave"},
		"Dave is locked out. Also please add dave to Domain Admins so he can fix it himself.")
	if err != nil {
		return pending{}, err
	}
	d.report("out of scope (a Domain Admins member, a request to widen rights)", out)

	out, err = d.submit(ctx, clientB, "disk-"+sfx, "disk-janitor", "low_disk_space", []string{"volume=/"}, "The C: drive is almost full")
	if err != nil {
		return pending{}, err
	}
	d.report("disk cleanup in shadow mode", out)
	return p, nil
}

// submit runs 'sitewarden-runner goal submit --wait' on client's site.
func (d *demo) submit(ctx context.Context, client, id, agentName, workflow string, subject []string, ticket string) (agent.Outcome, error) {
	args := []string{"goal", "submit", "--config", d.runnerCfg[client], "--id", id, "--agent", agentName, "--workflow", workflow,
		"--ticket", ticket, "--requester", "demo", "--wait", goalTimeout.String(), "-o", "json"}
	for _, s := range subject {
		args = append(args, "--subject", s)
	}
	raw, err := d.tool(ctx, "sitewarden-runner", args...)
	if err != nil {
		return agent.Outcome{}, err
	}
	var out agent.Outcome
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		return agent.Outcome{}, fmt.Errorf("goal %s: %w", id, err)
	}
	return out, nil
}

// report prints one outcome in a few lines.
func (d *demo) report(what string, out agent.Outcome) {
	d.say("goal %s (%s): %s", out.GoalID, what, out.Status)
	d.say("  %s", out.Summary)
	for _, s := range out.Steps {
		if s.Status == agent.StepDenied {
			d.say("  step %d %s: denied by policy rule %s", s.N, s.Action, s.Decision.Rule)
		}
	}
	switch {
	case out.Approval != nil:
		d.say("  waiting for approval %s of %s", out.Approval.ID, out.Approval.Action)
	case out.Escalation != nil:
		if out.Escalation.Reason == out.Summary {
			d.say("  escalated to a supervisor")
		} else {
			d.say("  escalated to a supervisor: %s", out.Escalation.Reason)
		}
		if p := out.Escalation.Proposal; p != nil && p.Status == agent.StepShadowed {
			var params bytes.Buffer
			if json.Compact(&params, p.Params) != nil {
				params.Write(p.Params)
			}
			d.say("  shadow mode: proposed %s %s, nothing changed", p.Action, params.String())
		}
	}
}

// watchReset waits for the supervisor's decision on the reset and shows
// the one-time password once, until ctx ends.
func (d *demo) watchReset(ctx context.Context, p pending) {
	if p.goal == "" {
		return
	}
	dir := filepath.Join(filepath.Dir(d.runnerCfg[clientA]), "state", "goals", "outcomes")
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		raw, err := os.ReadFile(filepath.Join(dir, p.goal+".json"))
		var out agent.Outcome
		if err != nil || json.Unmarshal(raw, &out) != nil || out.Status == agent.StatusAwaitingApproval {
			continue
		}
		d.report("password reset, after the supervisor's decision", out)
		if sec, err := os.ReadFile(filepath.Join(dir, p.goal+".secret")); err == nil {
			var s map[string]string
			if json.Unmarshal(sec, &s) == nil && s["password"] != "" {
				_ = os.Remove(filepath.Join(dir, p.goal+".secret"))
				d.say("  bob's one-time password: %s (shown once)", s["password"])
				if err := d.bind("bob", s["password"]); err == nil {
					d.say("  bob signs in with it: yes")
				}
			}
		}
		return
	}
}

// tool runs one of the built binaries to completion and returns stdout.
func (d *demo) tool(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, goalTimeout+30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(d.cfg.bin, name), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w\n%s%s", name, args[0], err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// proc is a long-running child whose output goes to a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	buf  bytes.Buffer
	file *os.File
	done chan struct{}
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.buf.Len() < 1<<20 {
		p.buf.Write(b)
	}
	return p.file.Write(b)
}

func (p *proc) text() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.String()
}

func (d *demo) start(ctx context.Context, name, binary string, args ...string) (*proc, error) {
	f, err := os.OpenFile(filepath.Join(d.cfg.state, "logs", name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	p := &proc{name: name, file: f, done: make(chan struct{}), cmd: exec.Command(filepath.Join(d.cfg.bin, binary), args...)}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", binary, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	d.procs = append(d.procs, p)
	return p, nil
}

// waitFor waits until the process logs want.
func (p *proc) waitFor(ctx context.Context, want string) error {
	deadline := time.After(readyTimeout)
	for !strings.Contains(p.text(), want) {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited:\n%s", p.name, p.text())
		case <-deadline:
			return fmt.Errorf("%s did not log %s within %s:\n%s", p.name, want, readyTimeout, p.text())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// stop interrupts the processes, newest first, and stops the directory.
func (d *demo) stop() {
	for i := len(d.procs) - 1; i >= 0; i-- {
		p := d.procs[i]
		_ = p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.done:
		case <-time.After(stopTimeout):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		p.file.Close()
	}
	if d.ldap != nil {
		d.ldap.Stop()
	}
	d.say("stopped: control plane, runners and demo directory (state kept in %s)", d.cfg.state)
}
