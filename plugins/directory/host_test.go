package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/internal/testsupport"
	"github.com/sitewarden/sitewarden/plugins/directory/ldapdir"
	"github.com/sitewarden/sitewarden/plugins/directory/slapdtest"
	"github.com/sitewarden/sitewarden/plugins/sdk"
	"github.com/sitewarden/sitewarden/runner/config"
	"github.com/sitewarden/sitewarden/runner/pluginhost"
)

// TestThroughPluginHost runs the real binary under the runner's plugin host
// (SHA-256 pin, AutoMTLS, empty environment, resource limits) against a real
// slapd: lock by failed binds, unlock, reset, sign in with the new password.
func TestThroughPluginHost(t *testing.T) {
	bin := pluginBinary(t)
	srv := slapdtest.Start(t)
	cfg := pluginhost.DefaultConfig()
	cfg.Dir, cfg.WorkDir = t.TempDir(), t.TempDir()
	dst := filepath.Join(cfg.Dir, "sitewarden-plugin-directory")
	copyFile(t, bin, dst)
	pin, err := pluginhost.FileSHA256(dst)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Pins = map[string]string{"directory": pin}
	cfg.StartTimeout = 20 * time.Second // the machine may be loaded
	logs := &testsupport.Buffer{}
	h, err := pluginhost.New(cfg, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = h.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	call := func(op, params string, extra map[string]string) sdk.Result {
		t.Helper()
		creds := srv.Credentials()
		for k, v := range extra {
			creds[k] = v
		}
		res, err := h.Execute(ctx, sdk.Request{Operation: op, Params: json.RawMessage(params), Credentials: creds})
		if err != nil {
			t.Fatalf("%s %s: %v\nhost log:\n%s", op, params, err, logs.String())
		}
		return res
	}
	for range slapdtest.MaxFailure {
		call(ldapdir.OpVerifyCredentials, `{"user":"bob"}`, map[string]string{ldapdir.CredUserPassword: "wrong"})
	}
	var st ldapdir.AccountStatus
	if err := json.Unmarshal(call(ldapdir.OpGetAccountStatus, `{"user":"bob"}`, nil).Output, &st); err != nil || !st.Locked {
		t.Fatalf("status after failed binds: %+v %v", st, err)
	}
	call(ldapdir.OpUnlockAccount, `{"user":"bob"}`, nil)
	pw := call(ldapdir.OpResetPassword, `{"user":"bob"}`, nil).Secrets[ldapdir.SecretPassword]
	out := string(call(ldapdir.OpVerifyCredentials, `{"user":"bob"}`, map[string]string{ldapdir.CredUserPassword: pw}).Output)
	if pw == "" || !strings.Contains(out, `"outcome":"must_change"`) {
		t.Fatalf("verify with the new password: %s", out)
	}
	if strings.Contains(logs.String(), pw) {
		t.Fatal("the generated password appears in the host's log")
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = in.Close() }()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestMissingCredentialsSectionThroughPluginHost: a runner credentials file
// without a "directory" section hands the plugin empty credentials; the real
// binary then fails the call with an error naming the missing keys and
// where to add them (the runner no longer refuses the call itself).
func TestMissingCredentialsSectionThroughPluginHost(t *testing.T) {
	bin := pluginBinary(t)
	cfg := pluginhost.DefaultConfig()
	cfg.Dir, cfg.WorkDir = t.TempDir(), t.TempDir()
	dst := filepath.Join(cfg.Dir, "sitewarden-plugin-directory")
	copyFile(t, bin, dst)
	pin, err := pluginhost.FileSHA256(dst)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Pins = map[string]string{"directory": pin}
	cfg.StartTimeout = 20 * time.Second // the machine may be loaded
	h, err := pluginhost.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = h.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	credsFile := filepath.Join(t.TempDir(), "credentials.yaml")
	if err := os.WriteFile(credsFile, []byte("other:\n  key: value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	store, err := config.LoadCredentials(credsFile)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := store.For(ctx, ldapdir.OpGetAccountStatus)
	if err != nil {
		t.Fatalf("For without a directory section: %v; want empty credentials", err)
	}
	_, err = h.Execute(ctx, sdk.Request{Operation: ldapdir.OpGetAccountStatus, Params: json.RawMessage(`{"user":"bob"}`), Credentials: creds})
	if err == nil || !strings.Contains(err.Error(), `"url", "bind_dn", "bind_password", "base_dn" and "flavor" are missing`) ||
		!strings.Contains(err.Error(), `add a "directory" section`) {
		t.Fatalf("call without credentials: %v; want the plugin's error naming the missing keys", err)
	}
}
