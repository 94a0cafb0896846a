package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/store"
)

// A year of daily samples at the sampler's cap (500 a day), and the
// proposals and versions of 50 clients.
const (
	benchSampleDays     = 365
	benchSamplesPerDay  = 500
	benchProposals      = 1000
	benchVersionsClient = 20
)

func seedGovernance(b *testing.B, st *store.SQLite) {
	ctx := context.Background()
	workflows := []string{"account_unlock", "password_reset", "group_add", "mailbox_quota", "printer_queue"}
	grades := []store.Grade{store.GradeCorrect, store.GradeCorrect, store.GradeCorrect, store.GradeIncorrect, store.GradeUnsafe, ""}
	today := t0.Truncate(24 * time.Hour)
	for d := range benchSampleDays {
		day := today.AddDate(0, 0, -1-d)
		var samples []store.Sample
		for i := range benchSamplesPerDay {
			samples = append(samples, store.Sample{ID: fmt.Sprintf("%s-%03d", day.Format("20060102"), i), Day: day, Kind: store.KindOutcome,
				Client: fmt.Sprintf("client-%02d", i%benchClients), Site: "site-000", ItemID: fmt.Sprintf("g-%d-%d", d, i),
				Workflow: workflows[i%len(workflows)], ReceivedAt: day.Add(time.Hour)})
		}
		if err := st.AddSampleBatch(ctx, store.SampleBatch{Day: day, DrawnAt: day.Add(25 * time.Hour), Candidates: 5000}, samples); err != nil {
			b.Fatal(err)
		}
		if d < 60 { // graders keep up with the last two months
			for i, s := range samples {
				if g := grades[i%len(grades)]; g != "" {
					if err := st.GradeSample(ctx, s.ID, g, "supervisor", "n", day.Add(30*time.Hour)); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
	}
	for c := range benchClients {
		client := fmt.Sprintf("client-%02d", c)
		for v := range benchVersionsClient {
			if err := st.PutScope(ctx, store.ScopeVersion{Client: client, Version: uint64(v + 1), Bundle: []byte{}, CreatedAt: t0.Add(-time.Duration(benchVersionsClient-v) * time.Hour)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	for i := range benchProposals {
		p := store.ScopeProposal{ID: fmt.Sprintf("sp-%04d", i), Client: fmt.Sprintf("client-%02d", i%benchClients), BaseVersion: benchVersionsClient,
			Files: []store.ScopeFile{{Name: "scope.yaml", Text: "client: x\n"}}, Proposer: "governance_lead", ProposedAt: t0.Add(-time.Duration(i) * time.Minute),
			Diff: []byte(`[{"mark":"WIDENS","subject":"agent a","detail":"new agent"}]`), Widens: 1, TestsRun: 20}
		if err := st.CreateProposal(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGovernancePages measures the samples and scopes pages' server
// time (and the overview's, which reads the samples' accuracy) on a store
// holding a year of daily samples (182,500) and 1,000 scope proposals; the
// issue's target is at most 100 ms per page (metric ms/page).
func BenchmarkGovernancePages(b *testing.B) {
	dir := b.TempDir()
	if shm, err := os.MkdirTemp("/dev/shm", "sw-bench-"); err == nil {
		dir = shm // seeding commits a year of batches; tmpfs makes their fsyncs cheap
		defer os.RemoveAll(shm)
	}
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "cp.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	start := time.Now()
	seedGovernance(b, st)
	b.Logf("seeded %d samples and %d proposals in %v", benchSampleDays*benchSamplesPerDay, benchProposals, time.Since(start).Round(time.Second))
	e := newEnv(b, st)
	sess := e.benchLogin(b, auth.RoleSupervisor)
	for _, pg := range []struct{ name, path string }{
		{"samples", "/samples"},
		{"samples_client_ungraded", "/samples?client=client-07&graded=no"},
		{"sample", "/samples/" + t0.Truncate(24*time.Hour).AddDate(0, 0, -1).Format("20060102") + "-007"},
		{"scopes", "/scopes"},
		{"scopes_client", "/scopes?client=client-07"},
		{"proposal", "/scopes/proposals/sp-0007"},
		{"overview_with_accuracy", "/"},
	} {
		b.Run(pg.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", pg.path, nil)
			req.AddCookie(sess)
			for b.Loop() {
				w := httptest.NewRecorder()
				e.ui.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("GET %s: %d %.300s", pg.path, w.Code, w.Body.String())
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/page")
		})
	}
}
