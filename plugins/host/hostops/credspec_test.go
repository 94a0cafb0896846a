package hostops

import (
	"encoding/json"
	"testing"

	"github.com/sitewarden/sitewarden/plugins/sdk"
	"github.com/sitewarden/sitewarden/plugins/sdk/sdktest"
)

// TestCredentialDeclaration checks that the plugin, which declares that it
// needs no credentials, reads none: each operation runs to success with a
// full credentials section offered, and any key it reads fails the test.
// host.service_status and host.restart_service are left out: they run
// systemctl (sc.exe on Windows), which needs a running service manager
// that test machines and containers lack; they pass through the same
// Execute, which hands them only their params.
func TestCredentialDeclaration(t *testing.T) {
	root, _ := tree(t)
	offered := sdk.Credentials{"url": "ldaps://dc.example.test", "password": "not-for-host-1"}
	req := func(op string, params any) sdk.Request {
		b, err := json.Marshal(params)
		if err != nil {
			t.Fatal(err)
		}
		return sdk.Request{Operation: op, Params: b, Credentials: offered}
	}
	sdktest.CheckCredentialDeclaration(t, New(DefaultConfig()),
		req("host.disk_usage", map[string]any{}),
		req("host.cleanup", map[string]any{"roots": []string{root}, "older_than_days": 30}),
		req("host.top_processes", map[string]any{"by": "memory", "limit": 3}),
	)
}
