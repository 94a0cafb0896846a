package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/control-plane/store/pgtest"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
	rsync "github.com/sitewarden/sitewarden/runner/sync"
)

// replicaSet is two real control-plane processes ('sitewarden server
// --store postgres://...') on one real PostgreSQL server, sharing a CA and
// keys (state directories copied, as docs/scaling.md says).
type replicaSet struct {
	t        *testing.T
	dir      string
	dsn      string
	st       *store.Postgres // the test's own view of the shared store
	state    [2]string
	sync     [2]string
	http     [2]string
	cp       [2]*proc
	runs     []*proc // every replica process started, in order
	apiToken string
	client   *http.Client
}

func startReplicas(t *testing.T) *replicaSet {
	t.Helper()
	pg := pgtest.Start(t, pgtest.Options{})
	rs := &replicaSet{t: t, dir: t.TempDir(), dsn: pg.CreateDatabase(t)}
	for i := range 2 {
		rs.state[i] = filepath.Join(rs.dir, fmt.Sprintf("cp%d", i))
		rs.sync[i], rs.http[i] = freeAddr(t), freeAddr(t)
	}
	rs.startReplica(0)
	re := regexp.MustCompile(`--setup (admin\.sws_[A-Za-z0-9_-]+)`)
	var setup string
	eventually(t, 30*time.Second, "replica 0 prints its setup link", func() bool {
		if m := re.FindStringSubmatch(rs.cp[0].log.String()); m != nil {
			setup = m[1]
		}
		return setup != "" || rs.cp[0].exited()
	})
	if setup == "" {
		t.Fatalf("replica 0 exited:\n%s", rs.cp[0].log.String())
	}
	pem, err := os.ReadFile(filepath.Join(rs.state[0], "ca", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	rs.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	w := &world{t: t, state: rs.state[0], httpAddr: rs.http[0], http: rs.client}
	pw := []string{"SITEWARDEN_PASSWORD=replica suite passphrase", "SITEWARDEN_TOKEN="}
	eventually(t, 20*time.Second, "admin setup", func() bool {
		_, err := w.cli(pw, "setup", "--setup", setup)
		return err == nil
	})
	out, err := w.cli(pw, "login", "--user", "admin")
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	rs.apiToken = strings.TrimSpace(out)
	// Replica 1 gets the CA and keys of replica 0; the store is shared.
	// It starts after the first admin set a password: a replica starting
	// before that would issue a new setup link, voiding the first.
	if err := os.CopyFS(rs.state[1], os.DirFS(rs.state[0])); err != nil {
		t.Fatal(err)
	}
	rs.startReplica(1)
	for i := range 2 {
		eventually(t, 30*time.Second, fmt.Sprintf("replica %d listens for changes", i), func() bool {
			return strings.Contains(rs.cp[i].log.String(), "listening for changes from other replicas") || rs.cp[i].exited()
		})
		if rs.cp[i].exited() {
			t.Fatalf("replica %d exited:\n%s", i, rs.cp[i].log.String())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if rs.st, err = store.OpenPostgres(ctx, rs.dsn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.st.Close() })
	return rs
}

func (rs *replicaSet) startReplica(i int) {
	rs.cp[i] = startProc(rs.t, "sitewarden", nil, "server", "--state", rs.state[i], "--store", rs.dsn,
		"--listen", rs.sync[i], "--http-listen", rs.http[i], "--heartbeat", "1s", "--idle-timeout", "4s",
		"--tenant", "msp", "--log-level", "debug")
	p := rs.cp[i]
	rs.runs = append(rs.runs, p)
	rs.t.Cleanup(func() {
		if rs.t.Failed() {
			rs.t.Logf("replica %d log:\n%s", i, tail(p.log.String()))
		}
	})
}

// publishScope publishes client's first scope with the bootstrap command
// on replica 0's state directory and the shared store.
func (rs *replicaSet) publishScope(client string) {
	rs.t.Helper()
	file := filepath.Join(rs.dir, client+"-scope.yaml")
	writeFile(rs.t, file, string(agentScope(rs.t, directoryPluginSHA(rs.t), client)))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := execOut(ctx, bin(rs.t, "sitewarden"), "scope", "publish", "--state", rs.state[0], "--store", rs.dsn, "--client", client, file)
	if err != nil || !strings.Contains(out, "published scope of client "+client+" as version 1") {
		rs.t.Fatalf("scope publish --store: %v\n%s", err, out)
	}
}

// api calls replica i's API as the admin and decodes a 2xx answer into v.
func (rs *replicaSet) api(i int, method, path string, body, v any) {
	rs.t.Helper()
	w := &world{t: rs.t, httpAddr: rs.http[i], http: rs.client, apiToken: rs.apiToken}
	code, raw := w.call("", method, path, body)
	if code/100 != 2 {
		rs.t.Fatalf("%s %s on replica %d: %d %s", method, path, i, code, raw)
	}
	if v != nil {
		if err := json.Unmarshal(raw, v); err != nil {
			rs.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// site is one runner's directory: enrolled through replica i, dialing
// control_plane (empty: the enrolled address) and failing over to the
// alternates.
type replicaSite struct {
	name, dir, cfg string
	p              *proc
}

func (rs *replicaSet) enroll(name string, i int) *replicaSite {
	rs.t.Helper()
	s := &replicaSite{name: name, dir: filepath.Join(rs.dir, name)}
	s.cfg = filepath.Join(s.dir, "config.yaml")
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		rs.t.Fatal(err)
	}
	var tok struct {
		Token string `json:"token"`
	}
	rs.api(i, "POST", "/api/v1/enrollment-tokens", map[string]string{"client": "acme", "site": name, "ttl": "1h"}, &tok)
	writeFile(rs.t, filepath.Join(s.dir, "enroll.token"), tok.Token)
	writeFile(rs.t, filepath.Join(s.dir, "credentials.yaml"), "{}\n")
	s.configure("", rs.sync[1-i])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := execOut(ctx, bin(rs.t, "sitewarden-runner"), "enroll", "--config", s.cfg, "--token-file", filepath.Join(s.dir, "enroll.token"))
	if err != nil {
		rs.t.Fatalf("enroll %s: %v\n%s", name, err, out)
	}
	return s
}

func (s *replicaSite) configure(controlPlane string, alternates ...string) {
	cfg := "state_dir: " + filepath.Join(s.dir, "state") + "\nenroll_token_file: " + filepath.Join(s.dir, "enroll.token") +
		"\nheartbeat_interval: 1s\nplugin_dir: " + filepath.Join(binDir, "plugins") +
		"\ncredentials_file: " + filepath.Join(s.dir, "credentials.yaml") + "\nlog_level: debug\n" +
		"control_planes: [" + strings.Join(alternates, ", ") + "]\n"
	if controlPlane != "" {
		cfg += "control_plane: " + controlPlane + "\n"
	}
	if err := os.WriteFile(s.cfg, []byte(cfg), 0o600); err != nil {
		panic(err)
	}
}

func (s *replicaSite) start(t *testing.T) {
	t.Helper()
	s.p = startProc(t, "sitewarden-runner", nil, "run", "--config", s.cfg)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("runner %s log:\n%s", s.name, tail(s.p.log.String()))
		}
	})
}

// connectedTo reports whether the runner's latest session is with addr.
func (s *replicaSite) connectedTo(addr string) bool {
	log := s.p.log.String()
	i := strings.LastIndex(log, `"msg":"connected to control plane"`)
	return i >= 0 && strings.Contains(log[i:], `"address":"`+addr+`"`)
}

func (s *replicaSite) cursor(t *testing.T, stream string) uint64 {
	t.Helper()
	in, err := rsync.OpenDirInbox(filepath.Join(s.dir, "state", "inbox"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := in.Cursor(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// requestApproval stores an approval request as if the site had sent it.
func (rs *replicaSet) requestApproval(site, id string) {
	rs.t.Helper()
	b, _ := proto.Marshal(&pb.ApprovalRequest{ApprovalId: id, GoalId: "goal-" + id, Agent: "account-helper", Workflow: "account_unlock",
		RequestedAt: timestamppb.Now(), ExpiresAt: timestamppb.New(time.Now().Add(time.Hour))})
	if _, err := rs.st.PutItem(context.Background(), store.Item{Kind: store.KindApprovalRequest, Client: "acme", Site: site, ID: id,
		Payload: b, ReceivedAt: time.Now()}); err != nil {
		rs.t.Fatal(err)
	}
}

// TestReplicasOnPostgres: two replicas on one PostgreSQL, a runner on
// each. Approvals decided and goals assigned through one replica reach the
// runner connected to the other at once (LISTEN/NOTIFY, not the runner's
// 5-minute resync); replica 0 is killed mid-upload and its runner moves to
// replica 1 and finishes, nothing lost, nothing twice; replica 0 comes
// back and replica 1 is killed, and both runners end up on replica 0; the
// hourly session sweep ran once across all runs, yesterday's review sample
// was drawn once, and no replica logged an error.
func TestReplicasOnPostgres(t *testing.T) {
	rs := startReplicas(t)
	r0, r1 := rs.enroll("r0", 0), rs.enroll("r1", 1)
	r0.start(t)
	r1.start(t)
	eventually(t, 30*time.Second, "r0 on replica 0, r1 on replica 1", func() bool {
		return r0.connectedTo(rs.sync[0]) && r1.connectedTo(rs.sync[1])
	})

	// The bootstrap publish, with --store, reaches the shared database, and
	// replica 1 tells its site r1 (a scope written by another process).
	rs.publishScope("acme")
	eventually(t, 15*time.Second, "the published scope reaches r1 on replica 1", func() bool {
		_, err := os.Stat(filepath.Join(r1.dir, "state", "scope", "scope.pb"))
		return err == nil
	})

	// An approval for r1 (on replica 1) decided through replica 0.
	rs.requestApproval("r1", "ap-1")
	rs.api(0, "POST", "/api/v1/approvals/acme/ap-1/approve", map[string]string{"note": "ok"}, nil)
	dec, err := rs.st.Decision(context.Background(), "acme", "ap-1")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the decision reaches r1 on the other replica", func() bool {
		return r1.cursor(t, rsync.StreamApprovals) == dec.Cursor
	})
	// A goal for r0 (on replica 0) assigned through replica 1.
	var g struct {
		Cursor uint64 `json:"cursor"`
	}
	rs.api(1, "POST", "/api/v1/goals", map[string]any{"client": "acme", "site": "r0", "id": "goal-r0-1", "agent": "account-helper",
		"workflow": "account_unlock", "subject": map[string]string{"user": "dana"}}, &g)
	eventually(t, 10*time.Second, "the goal reaches r0 on the other replica", func() bool {
		return r0.cursor(t, rsync.StreamGoals) >= g.Cursor && g.Cursor > 0
	})
	if !strings.Contains(rs.cp[1].log.String(), `"msg":"change relayed"`) || !strings.Contains(rs.cp[0].log.String(), `"msg":"change relayed"`) {
		t.Error("a replica logged no relayed change")
	}

	// r0 stops; its outbox fills; it comes back through a slow link to
	// replica 0, which is killed while the outbox is being uploaded.
	r0.p.stop(t)
	const n = 300
	ob, err := rsync.OpenDirOutbox(filepath.Join(r0.dir, "state", "outbox"), 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		it, err := rsync.NewItem(escalation("acme", "r0", i))
		if err != nil {
			t.Fatal(err)
		}
		if err := ob.Add(context.Background(), it); err != nil {
			t.Fatal(err)
		}
	}
	px := startProxy(t, rs.sync[0])
	px.maxDelay.Store(int64(3 * time.Millisecond))
	r0.configure(px.addr(), rs.sync[1])
	r0.start(t)
	stored := func() []string {
		its, err := rs.st.Items(context.Background(), store.KindEscalation, "acme", 10*n)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, it := range its {
			if it.Site == "r0" && strings.HasPrefix(it.ID, "acme-r0-esc-") {
				ids = append(ids, it.ID)
			}
		}
		return ids
	}
	eventually(t, 30*time.Second, "the upload through replica 0 begins", func() bool { return len(stored()) > 0 })
	if err := rs.cp[0].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-rs.cp[0].done
	got := len(stored())
	if got >= n {
		t.Fatalf("all %d items arrived before the kill; the test did not kill mid-upload", got)
	}
	t.Logf("replica 0 killed with %d of %d escalations stored", got, n)
	eventually(t, 60*time.Second, "r0 reconnects to replica 1", func() bool { return r0.connectedTo(rs.sync[1]) })
	eventually(t, 60*time.Second, "every escalation stored", func() bool { return len(stored()) >= n })
	ids := stored()
	for i, id := range ids {
		if want := fmt.Sprintf("acme-r0-esc-%04d", i); id != want || i >= n {
			t.Fatalf("escalation %d is %s, want %s (stored %d of %d: lost, repeated or out of order)", i, id, want, len(ids), n)
		}
	}
	eventually(t, 20*time.Second, "r0's outbox drained", func() bool {
		o, err := rsync.OpenDirOutbox(filepath.Join(r0.dir, "state", "outbox"), 0)
		return err == nil && o.Len() == 0
	})
	// After the move: a decision for r0 through replica 1 reaches it, and
	// its goal cursor did not move back or twice.
	rs.requestApproval("r0", "ap-2")
	rs.api(1, "POST", "/api/v1/approvals/acme/ap-2/deny", map[string]string{"note": "no"}, nil)
	dec2, err := rs.st.Decision(context.Background(), "acme", "ap-2")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the decision reaches r0 on replica 1", func() bool {
		return r0.cursor(t, rsync.StreamApprovals) == dec2.Cursor
	})
	if c := r0.cursor(t, rsync.StreamGoals); c != g.Cursor {
		t.Errorf("r0 goal cursor = %d after failover, want %d", c, g.Cursor)
	}

	// Replica 0 comes back; replica 1 is killed: both runners end up on
	// replica 0 (r0 fails over a second time) and a goal for r1 through
	// replica 0 reaches it.
	rs.startReplica(0)
	eventually(t, 30*time.Second, "replica 0 restarted", func() bool {
		return strings.Contains(rs.cp[0].log.String(), "listening for changes from other replicas")
	})
	if err := rs.cp[1].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-rs.cp[1].done
	eventually(t, 60*time.Second, "both runners move to replica 0", func() bool {
		return r0.connectedTo(px.addr()) && r1.connectedTo(rs.sync[0])
	})
	var g2 struct {
		Cursor uint64 `json:"cursor"`
	}
	rs.api(0, "POST", "/api/v1/goals", map[string]any{"client": "acme", "site": "r1", "id": "goal-r1-1", "agent": "account-helper",
		"workflow": "account_unlock", "subject": map[string]string{"user": "erin"}}, &g2)
	eventually(t, 10*time.Second, "the goal reaches r1 on replica 0", func() bool {
		return g2.Cursor > 0 && r1.cursor(t, rsync.StreamGoals) >= g2.Cursor
	})

	// The hourly session sweep: once per period across all replica runs.
	runs := map[string]int{}
	re := regexp.MustCompile(`"msg":"background job ran","job":"session-sweep","period":"([^"]+)"`)
	for _, p := range rs.runs {
		for _, m := range re.FindAllStringSubmatch(p.log.String(), -1) {
			runs[m[1]]++
		}
	}
	if len(runs) == 0 {
		t.Error("the session sweep never ran")
	}
	for period, c := range runs {
		if c != 1 {
			t.Errorf("session sweep ran %d times for period %s, want once across replicas", c, period)
		}
	}
	for i, p := range rs.runs {
		for _, line := range strings.Split(p.log.String(), "\n") {
			if strings.Contains(line, `"level":"ERROR"`) {
				t.Errorf("replica run %d logged an error: %s", i, line)
			}
		}
	}
	// Yesterday's review sample was drawn (by one replica: a second draw
	// of a day is refused by the store) and its period recorded as done.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	yesterday := time.Now().UTC().Truncate(24 * time.Hour).Add(-24 * time.Hour)
	if _, err := rs.st.SampleBatchOf(ctx, yesterday); err != nil {
		t.Errorf("yesterday's sample batch: %v", err)
	}
	if ran, err := rs.st.RunOnce(ctx, "daily-samples", yesterday, func(context.Context) error { return nil }); ran || err != nil {
		t.Errorf("daily-samples for yesterday: ran again (%v, %v), want recorded as done", ran, err)
	}
}

func execOut(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
