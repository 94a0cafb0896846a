package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/internal/testsupport"
	"github.com/sitewarden/sitewarden/policies"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
	"github.com/sitewarden/sitewarden/runner/pluginhost"
)

// TestMissingCredentialReachesSiteHealth runs the real runner with the real
// directory plugin pinned by its scope and a credentials section that lacks
// the required bind_password: before any goal, the runner's plugin host
// starts the plugin, refuses it, and the control plane stores the site's
// health with the directory plugin refused for the missing key (what the
// site page shows), without the value of any key that is present.
func TestMissingCredentialReachesSiteHealth(t *testing.T) {
	p := startPlane(t, 0)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	sum, err := pluginhost.FileSHA256(filepath.Join(binDir, "plugins", "sitewarden-plugin-directory"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("testdata/agent-scope.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := policies.Compile(policies.DefaultConfig(), policies.Source{Name: "agent-scope.yaml",
		Data: bytes.Replace(src, []byte("@DIRECTORY_SHA256@"), []byte(sum), 1)})
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := policies.NewBundle(sc, 1, time.Now(), p.scopeKey)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := proto.Marshal(bundle)
	if err := p.store.PutScope(context.Background(), store.ScopeVersion{Client: "example", Version: 1, Bundle: raw, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "enroll.token")
	writeFile(t, tokenFile, p.token(t, "example", "hq", time.Hour))
	credsFile := filepath.Join(dir, "credentials.yaml")
	writeFile(t, credsFile, "directory:\n  url: ldaps://dc.example.test\n  bind_dn: cn=sitewarden,dc=example,dc=test\n"+
		"  base_dn: dc=example,dc=test\n  flavor: openldap\n  ca_pem: Never-Shown-Value-42\n")
	cfgFile := filepath.Join(dir, "config.yaml")
	writeFile(t, cfgFile, "state_dir: "+state+"\nenroll_token_file: "+tokenFile+"\nheartbeat_interval: 1s\n"+
		"plugin_dir: "+filepath.Join(binDir, "plugins")+"\ncredentials_file: "+credsFile+"\n")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var runLog testsupport.Buffer
	run := exec.CommandContext(ctx, bin(t, "sitewarden-runner"), "run", "--config", cfgFile, "--for", "45s")
	run.Stderr = &runLog
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = run.Wait()
		if t.Failed() {
			t.Logf("runner log:\n%s\ncontrol plane log:\n%s", runLog.String(), p.logs.String())
		}
	})
	var got *pb.PluginStatus
	eventually(t, 40*time.Second, "the directory plugin's state in the site's health", func() bool {
		s, err := p.store.Site(context.Background(), "example", "hq")
		if err != nil || len(s.Health) == 0 {
			return false
		}
		var h pb.Health
		if proto.Unmarshal(s.Health, &h) != nil {
			return false
		}
		for _, ps := range h.GetPlugins() {
			if ps.GetName() == "directory" && ps.GetState() != pluginhost.StateStopped {
				got = ps
				return true
			}
		}
		return false
	})
	if got.GetState() != pluginhost.StateRefused || got.GetVersion() != "0.1.0" ||
		!strings.Contains(got.GetLastError(), "directory: missing credential bind_password") ||
		!strings.Contains(got.GetLastError(), credsFile) {
		t.Fatalf("directory plugin status = %+v, want refused for the missing bind_password in %s", got, credsFile)
	}
	if strings.Contains(got.GetLastError()+runLog.String(), "Never-Shown-Value-42") {
		t.Fatal("a credential value reached the health report or the runner's log")
	}
}
