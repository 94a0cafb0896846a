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
	"regexp"
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
	state, syncAddr, httpAddr := t.TempDir(), freeAddr(t), freeAddr(t)
	serverErr := &syncBuf{}
	done := make(chan int, 1)
	sctx, stop := context.WithCancel(ctx)
	go func() {
		done <- cli.Run(sctx, []string{"server", "--state", state, "--listen", syncAddr, "--http-listen", httpAddr, "--log-level", "warn"}, &bytes.Buffer{}, serverErr)
	}()
	defer func() {
		stop()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("server exit code %d: %s", code, serverErr.String())
			}
		case <-time.After(20 * time.Second):
			t.Error("server did not stop within 20s")
		}
	}()
	re := regexp.MustCompile(`--setup (admin\.sws_[A-Za-z0-9_-]+)`)
	var setup string
	for deadline := time.Now().Add(30 * time.Second); setup == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if m := re.FindStringSubmatch(serverErr.String()); m != nil {
			setup = m[1]
		}
	}
	if setup == "" {
		t.Fatalf("no setup link printed within 30s: %s", serverErr.String())
	}
	caFile := filepath.Join(state, "ca", "ca.pem")
	common := []string{"--server", "https://" + httpAddr, "--ca", caFile}
	run := func(want int, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		code := cli.Run(ctx, append(args, common...), &out, &errb)
		if code != want {
			t.Fatalf("sitewarden %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out.String(), errb.String())
		}
		return out.String() + errb.String()
	}
	t.Setenv("SITEWARDEN_TOKEN", "")
	t.Setenv("SITEWARDEN_PASSWORD", "a long enough passphrase")
	for i := 0; ; i++ {
		var out, errb bytes.Buffer
		if cli.Run(ctx, append([]string{"setup", "--setup", setup}, common...), &out, &errb) == 0 {
			break
		}
		if i == 100 {
			t.Fatalf("setup: %s", errb.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Setenv("SITEWARDEN_TOKEN", strings.TrimSpace(strings.SplitN(run(0, "login", "--user", "admin"), "\n", 2)[0]))

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
