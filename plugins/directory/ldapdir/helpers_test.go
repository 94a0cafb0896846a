package ldapdir

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/internal/testsupport"
	"github.com/sitewarden/sitewarden/plugins/sdk"
)

// harness drives the plugin the way the SDK does: params checked against
// the declared schema before Execute, the result checked after it.
type harness struct {
	t       *testing.T
	p       *Plugin
	catalog *sdk.Catalog
	logs    *testsupport.Buffer
	creds   map[string]string
}

func newHarness(t *testing.T, creds map[string]string, mutate func(*Config)) *harness {
	t.Helper()
	cfg := DefaultConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	logs := &testsupport.Buffer{}
	p, err := New(cfg, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	info, err := p.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cat, err := sdk.NewCatalog(info)
	if err != nil {
		t.Fatalf("Describe is not a valid catalog: %v", err)
	}
	return &harness{t: t, p: p, catalog: cat, logs: logs, creds: creds}
}

// call runs op with params (marshalled) and extra credentials; it fails the
// test when params or result violate the schemas.
func (h *harness) call(op string, params any, extra map[string]string) (sdk.Result, error) {
	h.t.Helper()
	raw, err := json.Marshal(params)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.catalog.CheckParams(op, raw); err != nil {
		h.t.Fatalf("%s params %s rejected by schema: %v", op, raw, err)
	}
	creds := maps.Clone(h.creds)
	maps.Copy(creds, extra)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := h.p.Execute(ctx, sdk.Request{Operation: op, Params: raw, Credentials: creds})
	if err == nil {
		if cerr := h.catalog.CheckResult(op, res); cerr != nil {
			h.t.Fatalf("%s result violates its schema: %v\n%s", op, cerr, res.Output)
		}
	}
	return res, err
}

// must is call that fails the test on error and decodes Output into a map.
func (h *harness) must(op string, params any, extra map[string]string) (map[string]any, sdk.Result) {
	h.t.Helper()
	res, err := h.call(op, params, extra)
	if err != nil {
		h.t.Fatalf("%s %v: %v", op, params, err)
	}
	var out map[string]any
	if err := json.Unmarshal(res.Output, &out); err != nil {
		h.t.Fatalf("%s output: %v", op, err)
	}
	return out, res
}

type m = map[string]any
