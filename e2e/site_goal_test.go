package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/internal/testsupport"
	"github.com/sitewarden/sitewarden/plugins/directory/slapdtest"
	"github.com/sitewarden/sitewarden/policies"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
	rsync "github.com/sitewarden/sitewarden/runner/sync"
)

// TestSiteResolvesGoals runs the whole path with real processes: the
// control plane publishes a signed scope, the real runner binary enrolls,
// fetches it and runs goals with the real directory plugin against a real
// slapd — one submitted on the site with 'goal submit', one assigned by the
// control plane — and the outcomes and the audit log reach the control
// plane.
func TestSiteResolvesGoals(t *testing.T) {
	ldapSrv := slapdtest.Start(t)
	p := startPlane(t, 0)
	p.publishAgentScope(t, "example")
	credsJSON, _ := json.Marshal(map[string]any{"directory": ldapSrv.Credentials()}) // JSON is YAML
	site := startSiteRunner(t, p, string(credsJSON), 90*time.Second, 60*time.Second)
	ctx, state, cfgFile, runLog := site.ctx, site.state, site.cfgFile, site.log
	eventually(t, 20*time.Second, "runner connected", func() bool {
		_, err := os.Stat(filepath.Join(state, "goals", "spool"))
		return err == nil && strings.Contains(runLog.String(), `"msg":"connected to control plane"`)
	})

	// 1. A goal submitted on the site.
	alice := user("alice")
	lockUser(t, ldapSrv, alice)
	var out bytes.Buffer
	submit := exec.CommandContext(ctx, bin(t, "sitewarden-runner"), "goal", "submit", "--config", cfgFile, "--id", "local-1",
		"--agent", "account-helper", "--workflow", "account_unlock", "--subject", "user=alice",
		"--ticket", "Alice cannot sign in", "--wait", "30s")
	submit.Stdout, submit.Stderr = &out, &out
	if err := submit.Run(); err != nil {
		t.Fatalf("goal submit: %v\n%s\nrunner log:\n%s", err, out.String(), runLog.String())
	}
	if !strings.Contains(out.String(), "goal local-1: resolved") {
		t.Fatalf("goal submit printed:\n%s\nrunner log:\n%s", out.String(), runLog.String())
	}
	if !binds(t, ldapSrv, alice.DN(), alice.Password) {
		t.Error("alice still cannot sign in")
	}

	// 2. A goal the control plane assigns.
	bob := user("bob")
	lockUser(t, ldapSrv, bob)
	goalRaw, _ := proto.Marshal(&pb.Goal{GoalId: "cp-1", ClientId: "example", SiteId: "hq", Agent: "account-helper",
		Workflow: "account_unlock", Requester: "ticket:42", Subject: map[string]string{"user": "bob"}})
	c, err := p.store.AddGoal(context.Background(), store.Goal{Client: "example", Site: "hq", ID: "cp-1", Payload: goalRaw})
	if err != nil {
		t.Fatal(err)
	}
	p.sync.Notify("example", "hq", rsync.StreamGoals, c)
	eventually(t, 60*time.Second, "both outcomes on the control plane", func() bool {
		items, err := p.store.Items(context.Background(), store.KindOutcome, "example", 10)
		if err != nil {
			return false
		}
		found := map[string]bool{}
		for _, it := range items {
			var o pb.Outcome
			if proto.Unmarshal(it.Payload, &o) == nil && o.GetStatus() == pb.OutcomeStatus_OUTCOME_STATUS_RESOLVED {
				found[o.GetGoalId()] = true
			}
		}
		return found["local-1"] && found["cp-1"]
	})
	if !binds(t, ldapSrv, bob.DN(), bob.Password) {
		t.Error("bob still cannot sign in")
	}

	// 3. The site's audit log is mirrored and countersigned.
	eventually(t, 20*time.Second, "audit mirrored", func() bool {
		n, err := p.store.AuditSize(context.Background(), "example", "hq")
		return err == nil && n > 10
	})
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func lockUser(t *testing.T, s *slapdtest.Server, u slapdtest.User) {
	t.Helper()
	for range slapdtest.MaxFailure {
		c, err := s.Dial()
		if err != nil {
			t.Fatal(err)
		}
		_ = c.Bind(u.DN(), "wrong-password")
		c.Close()
	}
	if binds(t, s, u.DN(), u.Password) {
		t.Fatalf("%s is not locked", u.Login)
	}
}

func binds(t *testing.T, s *slapdtest.Server, dn, password string) bool {
	t.Helper()
	c, err := s.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.Bind(dn, password) == nil
}

// publishAgentScope stores version 1 of client's scope: the agent
// scenarios' scope (testdata/agent-scope.yaml) pinned to the built directory
// plugin, signed with the plane's scope key.
func (p *plane) publishAgentScope(t *testing.T, client string) {
	t.Helper()
	src := agentScope(t, directoryPluginSHA(t), client)
	sc, err := policies.Compile(policies.DefaultConfig(), policies.Source{Name: "agent-scope.yaml", Data: src})
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := policies.NewBundle(sc, 1, time.Now(), p.scopeKey)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := proto.Marshal(bundle)
	if err := p.store.PutScope(context.Background(), store.ScopeVersion{Client: client, Version: 1, Bundle: raw, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

// siteRunner is a real runner process for site example/hq of a plane.
type siteRunner struct {
	ctx                 context.Context // ends when the test's budget does
	dir, state, cfgFile string
	credsFile           string
	log                 *testsupport.Buffer
}

// startSiteRunner writes a one-time token for example/hq, the credentials
// file (creds, YAML) and a config, and runs the real runner binary for
// runFor within budget; the test's cleanup stops it and, on failure, logs
// both sides.
func startSiteRunner(t *testing.T, p *plane, creds string, budget, runFor time.Duration) *siteRunner {
	t.Helper()
	dir := t.TempDir()
	r := &siteRunner{dir: dir, state: filepath.Join(dir, "state"), cfgFile: filepath.Join(dir, "config.yaml"),
		credsFile: filepath.Join(dir, "credentials.yaml"), log: &testsupport.Buffer{}}
	tokenFile := filepath.Join(dir, "enroll.token")
	writeFile(t, tokenFile, p.token(t, "example", "hq", time.Hour))
	writeFile(t, r.credsFile, creds)
	writeFile(t, r.cfgFile, "state_dir: "+r.state+"\nenroll_token_file: "+tokenFile+"\nheartbeat_interval: 1s\n"+
		"plugin_dir: "+filepath.Join(binDir, "plugins")+"\ncredentials_file: "+r.credsFile+"\n")
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	r.ctx = ctx
	run := exec.CommandContext(ctx, bin(t, "sitewarden-runner"), "run", "--config", r.cfgFile, "--for", runFor.String())
	run.Stderr = r.log
	if err := run.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = run.Wait()
		if t.Failed() {
			t.Logf("runner log:\n%s\ncontrol plane log:\n%s", r.log.String(), p.logs.String())
		}
	})
	return r
}
