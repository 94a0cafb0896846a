package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/store"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

// TestSitesPageShowsPlanner checks the sites page says which planner each
// runner uses, from the model status in its last heartbeat.
func TestSitesPageShowsPlanner(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	for _, c := range []struct {
		client string
		model  *pb.ModelStatus
	}{
		{"acme", &pb.ModelStatus{Name: "llama3.2", State: "ready", Endpoint: "http://127.0.0.1:11434"}},
		{"globex", &pb.ModelStatus{Name: "llama3.2", State: "unreachable", Endpoint: "http://10.0.0.9:11434"}},
	} {
		h, err := proto.Marshal(&pb.Health{UptimeSeconds: 60, Model: c.model})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.st.TouchSite(ctx, store.Identity{Tenant: "msp", Client: c.client, Site: "hq"}, t0.Add(-10*time.Second), "1.0.0", h); err != nil {
			t.Fatal(err)
		}
	}
	code, body := e.login(auth.RoleSupervisor).get("/sites")
	if code != 200 {
		t.Fatalf("GET /sites: %d", code)
	}
	for _, want := range []string{"planner: model llama3.2 (ready)", "planner: playbooks only (no model answers at http://10.0.0.9:11434)"} {
		if !strings.Contains(body, want) {
			t.Errorf("the sites page does not say %q:\n%.3000s", want, body)
		}
	}
}
