package sdktest_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/sitewarden/sitewarden/plugins/sdk"
	"github.com/sitewarden/sitewarden/plugins/sdk/sdktest"
)

// keyReader is a plugin that declares spec and reads the keys named in
// its params through sdk.Credentials.Get.
type keyReader struct{ spec *sdk.CredentialSpec }

func (k keyReader) Describe(context.Context) (sdk.Info, error) {
	return sdk.Info{
		Name: "reader", Version: "0.1.0", APIVersions: []int{sdk.APIVersion},
		Operations: []sdk.Operation{{
			Name: "reader.read", Description: "Reads the named credential keys.",
			ParamsSchema: json.RawMessage(`{"type":"object","properties":{"keys":{"type":"array","items":{"type":"string"}}}}`),
			ResultSchema: json.RawMessage(`true`), Risk: sdk.RiskRead,
		}},
		Credentials: k.spec,
	}, nil
}

func (k keyReader) Execute(ctx context.Context, req sdk.Request) (sdk.Result, error) {
	var p struct{ Keys []string }
	if err := json.Unmarshal(req.Params, &p); err != nil {
		return sdk.Result{}, err
	}
	for _, key := range p.Keys {
		if req.Credentials.Get(ctx, key) == "" {
			return sdk.Result{}, errors.New("missing " + key)
		}
	}
	return sdk.Result{}, nil
}

func readKeys(keys ...string) sdk.Request {
	b, _ := json.Marshal(map[string][]string{"keys": keys})
	creds := sdk.Credentials{}
	for _, k := range keys {
		creds[k] = "value-of-" + k
	}
	return sdk.Request{Operation: "reader.read", Params: b, Credentials: creds}
}

var urlAndPassword = &sdk.CredentialSpec{Keys: []sdk.CredentialKey{
	{Name: "url", Description: "where the service is", Required: true},
	{Name: "password", Description: "the service account's password", Required: true},
	{Name: "ca_pem", Description: "optional CA to trust"},
}}

// TestCredentialProblems checks that the declaration check catches both
// mismatches, accepts a matching declaration (optional keys need not be
// read) and exempts goal secrets.
func TestCredentialProblems(t *testing.T) {
	tests := []struct {
		name  string
		spec  *sdk.CredentialSpec
		calls []sdk.Request
		want  []string // substrings, one per expected problem
	}{
		{"matches", urlAndPassword, []sdk.Request{readKeys("url", "password")}, nil},
		{"matches over several calls", urlAndPassword, []sdk.Request{readKeys("url"), readKeys("password", "ca_pem")}, nil},
		{"goal secret exempt", urlAndPassword, []sdk.Request{readKeys("url", "password", sdk.GoalSecretPrefix+"password")}, nil},
		{"reads undeclared", urlAndPassword, []sdk.Request{readKeys("url", "password", "token")},
			[]string{`reads credential key "token" but does not declare it`}},
		{"required never read", urlAndPassword, []sdk.Request{readKeys("url")},
			[]string{`declares required credential key "password" but never reads it`}},
		{"needs none but reads", &sdk.CredentialSpec{}, []sdk.Request{readKeys("url")},
			[]string{`reads credential key "url"`}},
		{"not declared", nil, []sdk.Request{readKeys()}, []string{"declares no credentials"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sdktest.CredentialProblems(context.Background(), keyReader{tt.spec}, tt.calls)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("problems = %q, want %d matching %q", got, len(tt.want), tt.want)
			}
			for i := range got {
				if !strings.Contains(got[i], tt.want[i]) {
					t.Errorf("problem %d = %q, want it to contain %q", i, got[i], tt.want[i])
				}
			}
		})
	}
	// A failing call means the reads are incomplete: an error, not a pass.
	failing := readKeys("url")
	failing.Credentials = sdk.Credentials{}
	if _, err := sdktest.CredentialProblems(context.Background(), keyReader{urlAndPassword}, []sdk.Request{failing}); err == nil {
		t.Fatal("a failing call was accepted")
	}
}

// TestCredentialSpecCrossesTheWire checks that a declaration survives
// Describe over gRPC, that "needs none" stays distinct from "not declared"
// (an older plugin), and that Missing compares names only.
func TestCredentialSpecCrossesTheWire(t *testing.T) {
	for _, tt := range []struct {
		name string
		spec *sdk.CredentialSpec
	}{{"declared", urlAndPassword}, {"needs none", &sdk.CredentialSpec{}}, {"not declared", nil}} {
		t.Run(tt.name, func(t *testing.T) {
			h := sdktest.Start(t, keyReader{tt.spec})
			info, err := h.Describe(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			got := info.Credentials
			switch {
			case tt.spec == nil && got != nil:
				t.Fatalf("an undeclared spec arrived as %+v", got)
			case tt.spec != nil && (got == nil || !slices.Equal(got.Keys, tt.spec.Keys)):
				t.Fatalf("spec after the wire = %+v, want %+v", got, tt.spec)
			}
			if h.Catalog().Credentials() == nil != (tt.spec == nil) {
				t.Fatalf("catalog declaration nil = %v", h.Catalog().Credentials() == nil)
			}
		})
	}
	missing := urlAndPassword.Missing(map[string]string{"url": "ldaps://x", "password": "", "other": "y"})
	if !slices.Equal(missing, []string{"password"}) {
		t.Fatalf("Missing = %q, want [password] (an empty value counts as missing; optional keys never do)", missing)
	}
	var undeclared *sdk.CredentialSpec
	if m := undeclared.Missing(nil); m != nil {
		t.Fatalf("an undeclared spec reports missing keys %q", m)
	}
}
