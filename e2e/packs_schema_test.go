package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/sitewarden/sitewarden/plugins/directory/ldapdir"
	"github.com/sitewarden/sitewarden/plugins/host/hostops"
	"github.com/sitewarden/sitewarden/plugins/sdk"
)

var updateSchemas = flag.Bool("update-schemas", false, "rewrite policies/packs/schemas.json from the shipped plugins")

// TestPackSchemasMatchPlugins checks policies/packs/schemas.json, the
// parameter schemas the policy compiler checks playbook steps against,
// holds exactly what the shipped plugins declare (run with
// -update-schemas to rewrite it after changing a plugin's operations).
func TestPackSchemasMatchPlugins(t *testing.T) {
	ctx := context.Background()
	want := map[string]json.RawMessage{}
	for _, p := range []sdk.Plugin{hostops.New(hostops.DefaultConfig()), ldapdir.NewDefault(io.Discard)} {
		info, err := p.Describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range info.Operations {
			var buf bytes.Buffer
			if err := json.Compact(&buf, op.ParamsSchema); err != nil {
				t.Fatalf("%s: %v", op.Name, err)
			}
			want[op.Name] = buf.Bytes()
		}
	}
	raw, err := json.MarshalIndent(want, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	raw = append(raw, '\n')
	path := filepath.Join("..", "policies", "packs", "schemas.json")
	if *updateSchemas {
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, raw) {
		t.Fatalf("%s differs from the shipped plugins' parameter schemas; run 'go test ./e2e -run TestPackSchemasMatchPlugins -update-schemas'", path)
	}
}
