package sdktest_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/plugins/sdk"
	"github.com/sitewarden/sitewarden/plugins/sdk/sdktest"
)

// echo is a small plugin exercising every path of the contract.
type echo struct{ calls int }

func (e *echo) Describe(context.Context) (sdk.Info, error) {
	return sdk.Info{
		Name: "echo", Version: "0.1.0", APIVersions: []int{sdk.APIVersion},
		Operations: []sdk.Operation{{
			Name:         "echo.say",
			Description:  "Repeats the text.",
			ParamsSchema: json.RawMessage(`{"type":"object","additionalProperties":false,"required":["text"],"properties":{"text":{"type":"string","maxLength":32},"mode":{"enum":["ok","fail","leak","bad","panic"]}}}`),
			ResultSchema: json.RawMessage(`{"type":"object","required":["text"],"properties":{"text":{"type":"string"}}}`),
			Risk:         sdk.RiskRead,
		}},
	}, nil
}

func (e *echo) Execute(_ context.Context, req sdk.Request) (sdk.Result, error) {
	e.calls++
	var p struct{ Text, Mode string }
	if err := json.Unmarshal(req.Params, &p); err != nil {
		return sdk.Result{}, err
	}
	switch p.Mode {
	case "fail":
		return sdk.Result{}, errors.New("the directory refused")
	case "leak":
		return sdk.Result{Output: json.RawMessage(`{"text":"pw-123456"}`), Secrets: map[string]string{"password": "pw-123456"}}, nil
	case "bad":
		return sdk.Result{Output: json.RawMessage(`{"txt":1}`)}, nil
	case "panic":
		panic("boom " + req.Credentials["password"])
	}
	out, _ := json.Marshal(map[string]string{"text": p.Text})
	return sdk.Result{
		Output:       out,
		Secrets:      map[string]string{"token": "t0ps3cret"},
		Observations: []sdk.Observation{{Key: "user", Value: req.Credentials["user"]}},
	}, nil
}

func TestHarness(t *testing.T) {
	e := &echo{}
	h := sdktest.Start(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	res, err := h.Execute(ctx, sdk.Request{Operation: "echo.say", Params: json.RawMessage(`{"text":"hi"}`), Credentials: sdk.Credentials{"user": "svc"}})
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Output) != `{"text":"hi"}` || res.Secrets["token"] != "t0ps3cret" || len(res.Observations) != 1 || res.Observations[0].Value != "svc" {
		t.Fatalf("round trip lost data: %+v", res)
	}

	tests := []struct {
		name    string
		req     sdk.Request
		want    error
		errSub  string
		reached bool
	}{
		{"invalid params", sdk.Request{Operation: "echo.say", Params: json.RawMessage(`{"text":1}`)}, sdk.ErrInvalidParams, "at /text", false},
		{"missing params", sdk.Request{Operation: "echo.say"}, sdk.ErrInvalidParams, `"text" is missing`, false},
		{"unknown op", sdk.Request{Operation: "echo.shout", Params: json.RawMessage(`{}`)}, sdk.ErrUnknownOperation, "echo.shout", false},
		{"action failure", sdk.Request{Operation: "echo.say", Params: json.RawMessage(`{"text":"x","mode":"fail"}`)}, sdk.ErrActionFailed, "the directory refused", true},
		{"secret leak", sdk.Request{Operation: "echo.say", Params: json.RawMessage(`{"text":"x","mode":"leak"}`)}, sdk.ErrInvalidResult, `secret "password"`, true},
		{"result schema", sdk.Request{Operation: "echo.say", Params: json.RawMessage(`{"text":"x","mode":"bad"}`)}, sdk.ErrInvalidResult, `"text" is missing`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.calls
			_, err := h.Execute(ctx, tt.req)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.errSub) {
				t.Fatalf("want %v containing %q, got %v", tt.want, tt.errSub, err)
			}
			if reached := e.calls > before; reached != tt.reached {
				t.Fatalf("plugin Execute reached=%v, want %v", reached, tt.reached)
			}
		})
	}

	t.Run("panic fails the call only", func(t *testing.T) {
		_, err := h.Execute(ctx, sdk.Request{Operation: "echo.say", Params: json.RawMessage(`{"text":"x","mode":"panic"}`), Credentials: sdk.Credentials{"password": "hunter22"}})
		if err == nil || strings.Contains(err.Error(), "hunter22") || !strings.Contains(err.Error(), "panicked") {
			t.Fatalf("want a panic error without the secret, got %v", err)
		}
		if _, err := h.Execute(ctx, sdk.Request{Operation: "echo.say", Params: json.RawMessage(`{"text":"again"}`)}); err != nil {
			t.Fatalf("plugin unusable after a panic: %v", err)
		}
	})
}

type badInfo struct{ info sdk.Info }

func (b badInfo) Describe(context.Context) (sdk.Info, error) { return b.info, nil }
func (b badInfo) Execute(context.Context, sdk.Request) (sdk.Result, error) {
	return sdk.Result{}, nil
}

func TestNewCatalogRejects(t *testing.T) {
	good := func() sdk.Info {
		e := &echo{}
		info, _ := e.Describe(context.Background())
		return info
	}
	tests := []struct {
		name   string
		mutate func(*sdk.Info)
		errSub string
	}{
		{"name", func(i *sdk.Info) { i.Name = "Echo" }, "name must match"},
		{"api version", func(i *sdk.Info) { i.APIVersions = []int{2} }, "rebuild the plugin"},
		{"op prefix", func(i *sdk.Info) { i.Operations[0].Name = "other.say" }, `must be named "echo."`},
		{"risk", func(i *sdk.Info) { i.Operations[0].Risk = "harmless" }, "risk"},
		{"schema", func(i *sdk.Info) { i.Operations[0].ParamsSchema = json.RawMessage(`{"allOf":[]}`) }, "allOf"},
		{"reversible", func(i *sdk.Info) { i.Operations[0].Reversible = true }, "names no ReversedBy"},
		{"duplicate", func(i *sdk.Info) { i.Operations = append(i.Operations, i.Operations[0]) }, "declared twice"},
		{"no description", func(i *sdk.Info) { i.Operations[0].Description = "" }, "description"},
		{"expect without verifier", func(i *sdk.Info) { i.Operations[0].VerifyExpect = map[string]any{"ok": true} }, "names no VerifiedBy"},
		{"expect of a list", func(i *sdk.Info) {
			i.Operations[0].VerifiedBy = "echo.say"
			i.Operations[0].VerifyExpect = map[string]any{"ok": []any{1}}
		}, "must be a string, number or boolean"},
		{"credential key name", func(i *sdk.Info) {
			i.Credentials = &sdk.CredentialSpec{Keys: []sdk.CredentialKey{{Name: "Bind-DN", Description: "x"}}}
		}, `credential key "Bind-DN" must match`},
		{"credential key twice", func(i *sdk.Info) {
			k := sdk.CredentialKey{Name: "url", Description: "x"}
			i.Credentials = &sdk.CredentialSpec{Keys: []sdk.CredentialKey{k, k}}
		}, `credential key "url" is declared twice`},
		{"credential key description", func(i *sdk.Info) {
			i.Credentials = &sdk.CredentialSpec{Keys: []sdk.CredentialKey{{Name: "url", Description: "two\nlines"}}}
		}, "one line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := good()
			tt.mutate(&info)
			_, err := sdk.NewCatalog(info)
			if !errors.Is(err, sdk.ErrInvalidInfo) || !strings.Contains(err.Error(), tt.errSub) {
				t.Fatalf("want ErrInvalidInfo containing %q, got %v", tt.errSub, err)
			}
		})
	}
	if _, err := sdk.NewCatalog(good()); err != nil {
		t.Fatalf("good info rejected: %v", err)
	}
}

// TestVerifyExpectCrossesTheWire checks that an operation's verification
// expectation survives Describe over gRPC.
func TestVerifyExpectCrossesTheWire(t *testing.T) {
	info, _ := (&echo{}).Describe(context.Background())
	info.Operations[0].VerifiedBy = "echo.say"
	info.Operations[0].VerifyExpect = map[string]any{"text": "hi", "ok": true, "n": 2.0}
	h := sdktest.Start(t, badInfo{info})
	got, err := h.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	exp := got.Operations[0].VerifyExpect
	if exp["text"] != "hi" || exp["ok"] != true || exp["n"] != 2.0 || len(exp) != 3 {
		t.Fatalf("VerifyExpect after the wire = %v", exp)
	}
}

// TestServerRejectsBadInfo checks that a plugin describing itself wrongly
// fails Describe over the wire instead of serving unchecked operations.
func TestServerRejectsBadInfo(t *testing.T) {
	info := sdk.Info{Name: "bad", Version: "1", APIVersions: []int{1}, Operations: []sdk.Operation{{Name: "bad.x", Description: "x", ParamsSchema: json.RawMessage(`{"oneOf":[]}`), ResultSchema: json.RawMessage(`true`), Risk: sdk.RiskRead}}}
	ft := &fakeT{TB: t}
	func() {
		defer func() { _ = recover() }()
		sdktest.Start(ft, badInfo{info})
	}()
	if !ft.failed || !strings.Contains(ft.msg, "oneOf") {
		t.Fatalf("harness accepted an invalid description: failed=%v msg=%q", ft.failed, ft.msg)
	}
}

// fakeT records Fatalf instead of ending the test.
type fakeT struct {
	testing.TB
	failed bool
	msg    string
}

func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed = true
	f.msg = strings.TrimSpace(strings.ReplaceAll(format, "%v", "") + " " + strings.TrimSpace(strings.Join(strs(args), " ")))
	panic("fatal")
}

func strs(args []any) []string {
	var out []string
	for _, a := range args {
		if e, ok := a.(error); ok {
			out = append(out, e.Error())
		}
	}
	return out
}
