// Command faulty is a deliberately bad plugin for pluginhost's fault tests.
// It is built by the tests, never by 'make build'. Its name comes from its
// file name (sitewarden-plugin-<name>), so one binary serves as several
// plugins; named "liar" it claims to be another plugin. Named "needy" it
// declares credential keys (password required, token optional); under any
// other name it declares none, as a plugin built before declarations
// existed.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sitewarden/sitewarden/plugins/sdk"
)

type faulty struct {
	name      string
	asAtStart uint64 // RLIMIT_AS soft limit read first thing in main
}

func op(name, desc, params, result string) sdk.Operation {
	return sdk.Operation{Name: name, Description: desc, ParamsSchema: json.RawMessage(params), ResultSchema: json.RawMessage(result), Risk: sdk.RiskRead}
}

func (f faulty) Describe(context.Context) (sdk.Info, error) {
	n := f.name
	if n == "liar" {
		n = "host"
	}
	obj := `{"type":"object"}`
	var creds *sdk.CredentialSpec
	if n == "needy" {
		creds = &sdk.CredentialSpec{Keys: []sdk.CredentialKey{
			{Name: "password", Description: "the service account's password", Required: true},
			{Name: "token", Description: "an optional API token"},
		}}
	}
	return sdk.Info{Name: n, Version: "0.0.1", APIVersions: []int{sdk.APIVersion}, Credentials: creds, Operations: []sdk.Operation{
		op(n+".echo", "Echo text.", `{"type":"object","additionalProperties":false,"required":["text"],"properties":{"text":{"type":"string","maxLength":1000}}}`, `{"type":"object","required":["text"],"properties":{"text":{"type":"string"}}}`),
		op(n+".crash", "Crash mid-call.", obj, obj),
		op(n+".hang", "Ignore the deadline forever.", obj, obj),
		op(n+".sleep", "Sleep, honouring the deadline.", `{"type":"object","properties":{"ms":{"type":"integer","minimum":0}}}`, obj),
		op(n+".alloc", "Allocate memory without bound.", obj, obj),
		op(n+".fork", "Start child processes that sleep.", `{"type":"object","properties":{"count":{"type":"integer","minimum":0,"maximum":10000}}}`, obj),
		op(n+".write", "Write a file at path.", `{"type":"object","required":["path"],"properties":{"path":{"type":"string"}}}`, obj),
		op(n+".env", "Report the environment and working directory.", obj, obj),
		op(n+".bad_result", "Return a result that violates the schema.", obj, `{"type":"object","required":["ok"],"properties":{"ok":{"type":"boolean"}}}`),
		op(n+".limits", "Report the address-space limit seen when main started.", obj, obj),
		op(n+".secret", "Return the credential as a secret, then fail if asked.", `{"type":"object","properties":{"fail":{"type":"boolean"}}}`, obj),
	}}, nil
}

func out(v any) sdk.Result {
	b, _ := json.Marshal(v)
	return sdk.Result{Output: b}
}

func (f faulty) Execute(ctx context.Context, req sdk.Request) (sdk.Result, error) {
	_, verb, _ := strings.Cut(req.Operation, ".")
	if verb == "echo" {
		// The params ({"text": ...}, checked by the SDK) are the result.
		return sdk.Result{Output: req.Params}, nil
	}
	var p struct {
		Text  string
		MS    int
		Count int
		Path  string
	}
	_ = json.Unmarshal(req.Params, &p)
	switch verb {
	case "crash":
		go func() { panic("faulty: crashing mid-call") }()
		time.Sleep(time.Minute)
	case "hang":
		select {}
	case "sleep":
		select {
		case <-time.After(time.Duration(p.MS) * time.Millisecond):
			return out(map[string]any{}), nil
		case <-ctx.Done():
			return sdk.Result{}, ctx.Err()
		}
	case "alloc":
		var keep [][]byte
		for {
			b := make([]byte, 64<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			keep = append(keep, b)
		}
	case "fork":
		var pids []int
		var firstErr string
		for range p.Count {
			cmd := exec.Command("/proc/self/exe")
			cmd.Env = []string{"FAULTY_CHILD=1"}
			if err := cmd.Start(); err != nil {
				firstErr = err.Error()
				break
			}
			pids = append(pids, cmd.Process.Pid)
		}
		return out(map[string]any{"pids": pids, "error": firstErr}), nil
	case "write":
		err := os.WriteFile(p.Path, []byte("faulty was here\n"), 0o644)
		if err != nil {
			return sdk.Result{}, err
		}
		return out(map[string]any{}), nil
	case "env":
		wd, _ := os.Getwd()
		return out(map[string]any{"env": os.Environ(), "wd": wd, "uid": os.Getuid()}), nil
	case "limits":
		return out(map[string]any{"as_at_start": f.asAtStart}), nil
	case "secret":
		if strings.Contains(string(req.Params), "true") {
			return sdk.Result{}, errors.New("directory refused the reset")
		}
		pw := req.Credentials["password"]
		return sdk.Result{
			Output:       json.RawMessage(`{}`),
			Secrets:      map[string]string{"one_time_password": pw + "-otp"},
			Observations: []sdk.Observation{{Key: "otp", Value: pw + "-otp", Secret: true}, {Key: "user", Value: "dana"}},
		}, nil
	case "bad_result":
		return out(map[string]any{"ok": "yes"}), nil
	}
	return sdk.Result{}, errors.New("unknown verb")
}

func main() {
	if os.Getenv("FAULTY_CHILD") == "1" {
		// A forked child: sleep until killed, ignoring SIGTERM/SIGHUP.
		signal.Ignore(syscall.SIGTERM, syscall.SIGHUP)
		time.Sleep(time.Hour)
		return
	}
	var as syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_AS, &as)
	name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(os.Args[0]), "sitewarden-plugin-"), ".exe")
	sdk.Serve(faulty{name: name, asAtStart: as.Cur})
}
