package api_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/web/webtest"
	"github.com/sitewarden/sitewarden/protocol/audit"
)

// seedAudit writes a 10-record log for acme/hq, one record an hour from
// t0, of which the witnessed checkpoint signs the first 8.
func (e *env) seedAudit() string {
	e.t.Helper()
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	var recs []audit.Record
	for i := range 10 {
		recs = append(recs, audit.Record{Kind: audit.KindActionResult, Time: t0.Add(time.Duration(i) * time.Hour), Client: "acme", Site: "hq", GoalID: fmt.Sprintf("g%d", i), Actor: "agent"})
	}
	vkey, err := webtest.AuditLog(context.Background(), e.st, "msp", "acme", "hq", key, recs, 8, t0)
	if err != nil {
		e.t.Fatal(err)
	}
	return vkey
}

// TestAuditExportVerifies exports periods of a witnessed log over HTTP and
// checks each file with protocol/audit's verifier, the code behind
// 'sitewarden audit verify'.
func TestAuditExportVerifies(t *testing.T) {
	e := newEnv(t)
	vkey := e.seedAudit()
	v, err := webtest.Verifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	hour := func(h int) string { return t0.Add(time.Duration(h) * time.Hour).Format(time.RFC3339) }
	for _, tc := range []struct {
		query       string
		first, last uint64
	}{
		{"", 0, 7}, // the whole signed log
		{"&from=" + hour(2) + "&to=" + hour(5), 2, 4}, // a period: proof from 5 to 8
		{"&from=" + hour(3), 3, 7},                    // records 8, 9 are not signed yet
	} {
		code, body := e.do("GET", "/api/v1/audit/export?client=acme&site=hq"+tc.query, e.tokens[auth.RoleClientViewer], "", nil)
		if code != 200 {
			t.Fatalf("export %q: %d %s", tc.query, code, body)
		}
		s, err := audit.Verify(context.Background(), bytes.NewReader([]byte(body)), v)
		if err != nil {
			t.Fatalf("export %q does not verify: %v", tc.query, err)
		}
		if s.FirstIndex != tc.first || s.LastIndex != tc.last || s.TreeSize != 8 {
			t.Errorf("export %q: records %d..%d of tree %d, want %d..%d of 8", tc.query, s.FirstIndex, s.LastIndex, s.TreeSize, tc.first, tc.last)
		}
	}
	if code, body := e.do("GET", "/api/v1/audit/export?client=acme&site=hq&from="+hour(20), e.tokens[auth.RoleAdmin], "", nil); code != 404 {
		t.Errorf("export of an empty period: %d %s, want 404", code, body)
	}
	if code, _ := e.do("GET", "/api/v1/audit/export?client=globex&site=hq", e.tokens[auth.RoleClientViewer], "", nil); code != 403 {
		t.Errorf("viewer exporting another client: %d, want 403", code)
	}
}
