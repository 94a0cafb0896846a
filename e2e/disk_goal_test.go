package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/plugins/sdk"
	"github.com/sitewarden/sitewarden/policies"
	"github.com/sitewarden/sitewarden/runner/agent"
	"github.com/sitewarden/sitewarden/runner/audit"
	"github.com/sitewarden/sitewarden/runner/pluginhost"
)

type noCreds struct{}

func (noCreds) For(context.Context, string) (sdk.Credentials, error) { return nil, nil }

// TestDiskPackGoal runs a low-disk goal through the reference disk pack
// (policies/packs/disk.yaml) with no model, so its playbook plans, and the
// real host plugin binary under the plugin host. The pack's roots are
// pointed at two temporary directories (never the machine's /var/tmp):
// in shadow mode the agent checks the disks and proposes the cleanup with
// typed parameters (a list of roots, an integer age), deleting nothing;
// in autonomous mode the cleanup runs and deletes only the old files.
func TestDiskPackGoal(t *testing.T) {
	pluginDir := filepath.Join(binDir, "plugins")
	sum, err := pluginhost.FileSHA256(filepath.Join(pluginDir, "sitewarden-plugin-host"))
	if err != nil {
		t.Fatalf("host plugin binary: %v (run 'make build')", err)
	}
	pack, err := os.ReadFile(filepath.Join("..", "policies", "packs", "disk.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tmp, cache := t.TempDir(), t.TempDir()
	src := string(pack)
	for _, e := range [][2]string{{"/var/tmp", tmp}, {"/var/cache/apt/archives", cache}} {
		if strings.Count(src, e[0]) != 2 {
			t.Fatalf("the disk pack names %s %d times, want 2 (rule and playbook)", e[0], strings.Count(src, e[0]))
		}
		src = strings.ReplaceAll(src, e[0], e[1])
	}
	src = strings.Replace(src, "sha256: 7a3e9c1b5d2f4a6e8c0b9d7f5e3a1c2b4d6f8e0a9c7b5d3f1e2a4c6b8d0f9e7a", "sha256: "+sum, 1)

	old := time.Now().Add(-30 * 24 * time.Hour)
	files := map[string]bool{ // path -> deleted by the autonomous cleanup
		filepath.Join(tmp, "old.log"):        true,
		filepath.Join(tmp, "sub", "old.bin"): true,
		filepath.Join(tmp, "new.log"):        false,
		filepath.Join(cache, "old.deb"):      true,
		filepath.Join(cache, "fresh.deb"):    false,
	}
	for p, isOld := range files {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if isOld {
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}

	state := t.TempDir()
	hc := pluginhost.DefaultConfig()
	hc.Dir, hc.WorkDir = pluginDir, filepath.Join(state, "plugins")
	hc.Pins = map[string]string{"host": sum}
	host, err := pluginhost.New(hc, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close() })
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	ac := audit.DefaultConfig()
	ac.Dir, ac.Client, ac.Site = filepath.Join(state, "audit"), "example", "hq"
	log, err := audit.Open(context.Background(), ac, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close(context.Background()) })
	approvals, err := agent.NewFileApprovals(filepath.Join(state, "approvals"))
	if err != nil {
		t.Fatal(err)
	}

	run := func(mode, id string) agent.Outcome {
		t.Helper()
		scope, err := policies.Compile(policies.DefaultConfig(), policies.Source{Name: "disk.yaml",
			Data: []byte(strings.Replace(src, "low_disk_space:\n        mode: autonomous", "low_disk_space:\n        mode: "+mode, 1))})
		if err != nil {
			t.Fatal(err)
		}
		engine := policies.NewEngine(scope)
		cfg := agent.DefaultConfig()
		cfg.Site = "hq"
		a, err := agent.New(cfg, agent.Deps{Policy: engine, Actions: agent.NewHostActions(host, engine), Audit: log,
			Credentials: noCreds{}, Approvals: approvals})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return a.Run(ctx, agent.Goal{ID: id, Client: "example", Site: "hq", Agent: "disk-janitor", Workflow: "low_disk_space",
			Requester: "ticket:" + id, Subject: map[string]string{"volume": "/"}, TicketText: "The disk is almost full"})
	}

	out := run("shadow", "disk-shadow")
	if out.Status != agent.StatusEscalated || out.Escalation == nil || out.Escalation.Proposal == nil {
		t.Fatalf("shadow: %s %q; %s; want an escalation with a proposal", out.Status, out.Summary, steps(out))
	}
	if out.Steps[0].Action != "host.disk_usage" || out.Steps[0].Status != agent.StepSucceeded {
		t.Errorf("shadow: the disk check did not run first: %s", steps(out))
	}
	p := out.Escalation.Proposal
	var params struct {
		Roots  []string `json:"roots"`
		Age    int      `json:"older_than_days"`
		DryRun *bool    `json:"dry_run"`
	}
	if err := json.Unmarshal(p.Params, &params); err != nil || p.Action != "host.cleanup" || len(params.Roots) != 1 ||
		params.Roots[0] != tmp || params.Age != 14 || params.DryRun == nil || *params.DryRun {
		t.Fatalf("shadow proposal %s %s (%v), want host.cleanup of [%s] older than 14 days", p.Action, p.Params, err, tmp)
	}
	for f := range files {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("shadow mode deleted %s", f)
		}
	}

	out = run("autonomous", "disk-auto")
	if out.Status != agent.StatusResolved {
		t.Fatalf("autonomous: %s %q; %s", out.Status, out.Summary, steps(out))
	}
	if n := strings.Count(steps(out), "host.cleanup:succeeded"); n != 2 {
		t.Errorf("autonomous: %d cleanups succeeded, want both roots cleaned: %s", n, steps(out))
	}
	for f, deleted := range files {
		_, err := os.Stat(f)
		if gone := os.IsNotExist(err); gone != deleted {
			t.Errorf("%s: deleted %v, want %v", f, gone, deleted)
		}
	}
}
