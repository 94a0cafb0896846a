// Package sdktest runs a plugin in-process over an in-memory gRPC link
// (bufconn), through the same server code as sdk.Serve: parameter
// validation, wire conversion and error mapping are exercised exactly as in
// production, without a child process. Results are checked against the
// operation's ResultSchema, and secrets against leaks, before the test sees
// them.
//
//	h := sdktest.Start(t, myPlugin{})
//	res, err := h.Execute(ctx, sdk.Request{Operation: "host.disk_usage", Params: json.RawMessage(`{}`)})
package sdktest

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/sitewarden/sitewarden/plugins/sdk"
)

const bufSize = 1 << 20

// Harness is a plugin served in-process. It implements sdk.Plugin.
type Harness struct {
	client  *sdk.Client
	catalog *sdk.Catalog
}

var _ sdk.Plugin = (*Harness)(nil)

// Start serves p over bufconn, checks its Describe output with
// sdk.NewCatalog (failing the test if it is invalid) and returns the
// harness. Everything is stopped when the test ends.
func Start(t testing.TB, p sdk.Plugin) *Harness {
	t.Helper()
	lis := bufconn.Listen(bufSize)
	srv := grpc.NewServer()
	sdk.RegisterServer(srv, p)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	cc, err := grpc.NewClient("passthrough:///sdktest",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		srv.Stop()
		t.Fatalf("sdktest: dial in-memory link: %v", err)
	}
	t.Cleanup(func() {
		_ = cc.Close()
		srv.Stop()
		<-done
	})
	h := &Harness{client: sdk.NewClient(cc)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := h.client.Describe(ctx)
	if err != nil {
		t.Fatalf("sdktest: %v", err)
	}
	if h.catalog, err = sdk.NewCatalog(info); err != nil {
		t.Fatalf("sdktest: %v", err)
	}
	return h
}

// Catalog returns the plugin's checked description.
func (h *Harness) Catalog() *sdk.Catalog { return h.catalog }

// Describe calls the plugin's Describe over the link.
func (h *Harness) Describe(ctx context.Context) (sdk.Info, error) { return h.client.Describe(ctx) }

// Execute calls the plugin over the link. Errors are those of sdk.Client;
// a result that violates the operation's ResultSchema or leaks a secret is
// an error wrapping sdk.ErrInvalidResult.
func (h *Harness) Execute(ctx context.Context, req sdk.Request) (sdk.Result, error) {
	res, err := h.client.Execute(ctx, req)
	if err != nil {
		return sdk.Result{}, err
	}
	if err := h.catalog.CheckResult(req.Operation, res); err != nil {
		return sdk.Result{}, fmt.Errorf("sdktest: %w", err)
	}
	return res, nil
}

// CredentialProblems checks p's credential declaration (Info.Credentials)
// against what it reads: it runs each call in-process, directly on
// p.Execute (params checked against the schema first), under
// sdk.RecordCredentialReads, and reports, one line each, a key read
// through sdk.Credentials.Get that is not declared and a required key
// never read. Goal secrets (sdk.GoalSecretPrefix) are per-call and exempt.
// A plugin that declares nothing is one problem. A call that fails is an
// error: the calls must take the plugin's full path, so give each the
// credentials it needs. The calls should cover every operation that reads
// credentials.
func CredentialProblems(ctx context.Context, p sdk.Plugin, calls []sdk.Request) ([]string, error) {
	info, err := p.Describe(ctx)
	if err != nil {
		return nil, fmt.Errorf("sdktest: describe: %w", err)
	}
	cat, err := sdk.NewCatalog(info)
	if err != nil {
		return nil, fmt.Errorf("sdktest: %w", err)
	}
	spec := cat.Credentials()
	if spec == nil {
		return []string{fmt.Sprintf("plugin %q declares no credentials (Info.Credentials is nil); declare its keys, or &sdk.CredentialSpec{} when it needs none", info.Name)}, nil
	}
	rctx, reads := sdk.RecordCredentialReads(ctx)
	for _, req := range calls {
		if err := cat.CheckParams(req.Operation, req.Params); err != nil {
			return nil, fmt.Errorf("sdktest: %w", err)
		}
		req.Params = sdk.NormalizeParams(req.Params)
		if _, err := p.Execute(rctx, req); err != nil {
			return nil, fmt.Errorf("sdktest: %s failed, so its reads are incomplete: %w", req.Operation, err)
		}
	}
	var problems []string
	read := reads.Keys()
	for _, k := range read {
		if !strings.HasPrefix(k, sdk.GoalSecretPrefix) && !spec.Declares(k) {
			problems = append(problems, fmt.Sprintf("plugin %q reads credential key %q but does not declare it", info.Name, k))
		}
	}
	for _, k := range spec.Required() {
		if !slices.Contains(read, k) {
			problems = append(problems, fmt.Sprintf("plugin %q declares required credential key %q but never reads it", info.Name, k))
		}
	}
	return problems, nil
}

// CheckCredentialDeclaration fails t for every problem CredentialProblems
// finds.
func CheckCredentialDeclaration(t testing.TB, p sdk.Plugin, calls ...sdk.Request) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	problems, err := CredentialProblems(ctx, p, calls)
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range problems {
		t.Error(pr)
	}
}
