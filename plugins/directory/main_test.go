package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sitewarden/sitewarden/internal/testsupport"
	"github.com/sitewarden/sitewarden/plugins/directory/ldapdir"
	"github.com/sitewarden/sitewarden/plugins/directory/slapdtest"
	"github.com/sitewarden/sitewarden/plugins/sdk"
)

// pluginBinary returns the built plugin: bin/plugins/ from 'make build' when
// SITEWARDEN_BIN is set, else a fresh 'go build' into the test's temp dir.
func pluginBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() { built.path, built.err = findOrBuild() })
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// built is the plugin binary, found or built once per test binary and
// removed by TestMain.
var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

func findOrBuild() (string, error) {
	if dir := os.Getenv("SITEWARDEN_BIN"); dir != "" {
		p := filepath.Join(dir, "plugins", "sitewarden-plugin-directory")
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("SITEWARDEN_BIN=%s but %v: run 'make build'", dir, err)
		}
		return p, nil
	}
	var err error
	if built.dir, err = os.MkdirTemp("", "directory-plugin-"); err != nil {
		return "", err
	}
	out := filepath.Join(built.dir, "sitewarden-plugin-directory")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, ".")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, b)
	}
	return out, nil
}

// TestPluginBinary starts the real plugin binary the way go-plugin's host
// does (magic cookie, empty environment otherwise, handshake line on stdout,
// gRPC over the announced unix socket) and runs an unlock-and-reset against a
// real slapd through the SDK's client. The runner's plugin host (with
// AutoMTLS and pinning) is tested in runner/pluginhost; this package may not
// import go-plugin (e2e/arch_test.go), so it speaks the handshake itself.
func TestPluginBinary(t *testing.T) {
	bin := pluginBinary(t)
	srv := slapdtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = []string{sdk.MagicCookieKey + "=" + sdk.MagicCookieValue, "PLUGIN_PROTOCOL_VERSIONS=1",
		"PLUGIN_UNIX_SOCKET_DIR=" + t.TempDir()}
	stderr := &testsupport.Buffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(20 * time.Second):
		t.Fatalf("no handshake line within 20 s; stderr:\n%s", stderr.String())
	}
	// CORE|APP|NETWORK|ADDR|PROTOCOL|CERT
	parts := strings.Split(line, "|")
	if len(parts) < 5 || parts[1] != "1" || parts[4] != "grpc" {
		t.Fatalf("handshake line %q", line)
	}
	target := parts[3]
	if parts[2] == "unix" {
		target = "unix://" + target
	}
	cc, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cc.Close() }()
	client := sdk.NewClient(cc)
	info, err := client.Describe(ctx)
	if err != nil {
		t.Fatalf("Describe: %v\nstderr:\n%s", err, stderr.String())
	}
	cat, err := sdk.NewCatalog(info)
	if err != nil {
		t.Fatal(err)
	}
	call := func(op, params string, extra map[string]string) sdk.Result {
		t.Helper()
		creds := srv.Credentials()
		for k, v := range extra {
			creds[k] = v
		}
		res, err := client.Execute(ctx, sdk.Request{Operation: op, Params: json.RawMessage(params), Credentials: creds})
		if err != nil {
			t.Fatalf("%s %s: %v", op, params, err)
		}
		if err := cat.CheckResult(op, res); err != nil {
			t.Fatal(err)
		}
		return res
	}
	for range slapdtest.MaxFailure {
		call(ldapdir.OpVerifyCredentials, `{"user":"alice"}`, map[string]string{ldapdir.CredUserPassword: "wrong"})
	}
	if out := string(call(ldapdir.OpGetAccountStatus, `{"user":"alice"}`, nil).Output); !strings.Contains(out, `"locked":true`) {
		t.Fatalf("status after failed binds: %s", out)
	}
	if out := string(call(ldapdir.OpUnlockAccount, `{"user":"alice"}`, nil).Output); !strings.Contains(out, `"locked":false`) {
		t.Fatalf("unlock: %s", out)
	}
	pw := call(ldapdir.OpResetPassword, `{"user":"alice","must_change":false}`, nil).Secrets[ldapdir.SecretPassword]
	out := string(call(ldapdir.OpVerifyCredentials, `{"user":"alice"}`, map[string]string{ldapdir.CredUserPassword: pw}).Output)
	if pw == "" || !strings.Contains(out, `"outcome":"ok"`) {
		t.Fatalf("verify with the new password: %s", out)
	}
	if strings.Contains(stderr.String(), pw) {
		t.Fatal("the generated password appears on the plugin's stderr")
	}
	if !strings.Contains(stderr.String(), ldapdir.OpResetPassword) {
		t.Fatalf("the plugin logged no call on stderr:\n%s", stderr.String())
	}
}
