package cli_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sitewarden/sitewarden/control-plane/cli"
	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/control-plane/web"
	"github.com/sitewarden/sitewarden/control-plane/web/webtest"
	"github.com/sitewarden/sitewarden/protocol/audit"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

// TestReportAndAuditExportAgainstRealServer starts 'sitewarden server',
// checks it serves the web UI beside the API, and drives 'report client'
// and 'audit export' (then 'audit verify' on the file) through the CLI.
func TestReportAndAuditExportAgainstRealServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv := startTestServer(t, ctx)
	state, caFile := srv.state, filepath.Join(srv.state, "ca", "ca.pem")
	httpAddr := strings.TrimPrefix(srv.common[1], "https://")
	admin := srv.admin
	run := func(want int, args ...string) string {
		t.Helper()
		return srv.run(admin, want, args...)
	}

	// The web UI is served on the same HTTPS listener, with its headers.
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get("https://" + httpAddr + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Errorf("GET /login: %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}

	st, err := store.OpenSQLite(ctx, filepath.Join(state, "control-plane.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	month := time.Now().UTC()
	day := time.Date(month.Year(), month.Month(), 1, 9, 0, 0, 0, time.UTC)
	if err := st.UpsertSite(ctx, store.Site{Identity: store.Identity{Tenant: "default", Client: "acme", Site: "hq"}, CertSerial: "01", EnrolledAt: day}); err != nil {
		t.Fatal(err)
	}
	for i, status := range []pb.OutcomeStatus{pb.OutcomeStatus_OUTCOME_STATUS_RESOLVED, pb.OutcomeStatus_OUTCOME_STATUS_RESOLVED, pb.OutcomeStatus_OUTCOME_STATUS_ESCALATED} {
		id := fmt.Sprintf("g%d", i)
		g, _ := proto.Marshal(&pb.Goal{GoalId: id, ClientId: "acme", SiteId: "hq", Workflow: "account_unlock", CreatedAt: timestamppb.New(day)})
		if _, err := st.AddGoal(ctx, store.Goal{Client: "acme", Site: "hq", ID: id, Payload: g}); err != nil {
			t.Fatal(err)
		}
		if err := webtest.Put(ctx, st, store.KindOutcome, "acme", "hq", id, &pb.Outcome{GoalId: id, Status: status, StartedAt: timestamppb.New(day)}, day); err != nil {
			t.Fatal(err)
		}
	}
	var rep web.Report
	if err := json.Unmarshal([]byte(run(0, "report", "client", "--client", "acme", "--month", day.Format("2006-01"), "-o", "json")), &rep); err != nil ||
		rep.Goals != 3 || rep.ByStatus["resolved"] != 2 || rep.HoursSaved != 0.5 {
		t.Errorf("report client -o json = %+v, %v; want 3 goals, 2 resolved, 0.5 h saved (15 min each)", rep, err)
	}
	if txt := run(0, "report", "client", "--client", "acme", "--month", day.Format("2006-01")); !strings.Contains(txt, "account_unlock") || !strings.Contains(txt, "assumption") {
		t.Errorf("report client: %s", txt)
	}

	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, ed25519.SeedSize))
	var recs []audit.Record
	for i := range 4 {
		recs = append(recs, audit.Record{Kind: audit.KindActionResult, Time: day.Add(time.Duration(i) * 24 * time.Hour), Client: "acme", Site: "hq", Actor: "agent"})
	}
	vkey, err := webtest.AuditLog(ctx, st, "default", "acme", "hq", key, recs, 0, day)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "acme-hq.swaudit")
	run(0, "audit", "export", "--client", "acme", "--site", "hq", "--from", day.Add(24*time.Hour).Format(time.DateOnly), "--out", out)
	var vout, verr bytes.Buffer
	if code := cli.Run(ctx, []string{"audit", "verify", out, "--key", vkey, "-o", "json"}, &vout, &verr); code != 0 || !strings.Contains(vout.String(), `"records": 3`) {
		t.Errorf("audit verify of the export: exit %d: %s %s", code, vout.String(), verr.String())
	}
	if txt := run(1, "audit", "export", "--client", "acme", "--site", "nowhere", "--out", out); !strings.Contains(txt, "not_found") {
		t.Errorf("export of an unknown site: %s", txt)
	}
}
