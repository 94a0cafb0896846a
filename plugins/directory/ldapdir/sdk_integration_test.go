package ldapdir_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/plugins/directory/ldapdir"
	"github.com/sitewarden/sitewarden/plugins/directory/slapdtest"
	"github.com/sitewarden/sitewarden/plugins/sdk"
	"github.com/sitewarden/sitewarden/plugins/sdk/sdktest"
)

// TestThroughSDKHarness drives the plugin over the SDK's in-memory gRPC link
// (schema validation, wire conversion, error mapping, secret-leak checks)
// against a real slapd: reset a locked user's password and sign in with it.
func TestThroughSDKHarness(t *testing.T) {
	srv := slapdtest.Start(t)
	var logs bytes.Buffer
	h := sdktest.Start(t, ldapdir.NewDefault(&logs))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	info, err := h.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "directory" || len(info.Operations) != 6 {
		t.Fatalf("Describe = %s with %d operations", info.Name, len(info.Operations))
	}
	exec := func(op, params string, extra map[string]string) (sdk.Result, error) {
		creds := srv.Credentials()
		for k, v := range extra {
			creds[k] = v
		}
		return h.Execute(ctx, sdk.Request{Operation: op, Params: json.RawMessage(params), Credentials: creds})
	}
	// The SDK refuses params that violate the schema before the plugin runs.
	if _, err := exec(ldapdir.OpFindUser, `{"user":"alice","by":"phone"}`, nil); !errors.Is(err, sdk.ErrInvalidParams) {
		t.Fatalf("bad params: %v", err)
	}
	if _, err := exec(ldapdir.OpResetPassword, `{"user":"alice","length":8}`, nil); !errors.Is(err, sdk.ErrInvalidParams) {
		t.Fatalf("too short a password length: %v", err)
	}
	// A failed action carries the plugin's message.
	_, err = exec(ldapdir.OpUnlockAccount, `{"user":"ghost"}`, nil)
	if !errors.Is(err, sdk.ErrActionFailed) || !strings.Contains(err.Error(), "ghost") {
		t.Fatalf("ghost: %v", err)
	}
	for range slapdtest.MaxFailure {
		if _, err := exec(ldapdir.OpVerifyCredentials, `{"user":"carol"}`, map[string]string{ldapdir.CredUserPassword: "wrong"}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := exec(ldapdir.OpResetPassword, `{"user":"carol@example.test","by":"mail"}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	pw := res.Secrets[ldapdir.SecretPassword]
	if len(pw) < ldapdir.MinPasswordLength {
		t.Fatalf("no password in Secrets: %v", res.Secrets)
	}
	res, err = exec(ldapdir.OpVerifyCredentials, `{"user":"carol"}`, map[string]string{ldapdir.CredUserPassword: pw})
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Valid   bool
		Outcome string
	}
	if err := json.Unmarshal(res.Output, &out); err != nil || !out.Valid || out.Outcome != ldapdir.OutcomeMustChange {
		t.Fatalf("verify new password = %s (%v)", res.Output, err)
	}
	if strings.Contains(logs.String(), pw) {
		t.Fatal("the generated password appears in the plugin's log")
	}
}
