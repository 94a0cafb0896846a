package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

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
	p.publishAgentScope(t, "example")
	site := startSiteRunner(t, p, "directory:\n  url: ldaps://dc.example.test\n  bind_dn: cn=sitewarden,dc=example,dc=test\n"+
		"  base_dn: dc=example,dc=test\n  flavor: openldap\n  ca_pem: Never-Shown-Value-42\n", 60*time.Second, 45*time.Second)
	credsFile, runLog := site.credsFile, site.log
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
