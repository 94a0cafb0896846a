package hostops

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/plugins/sdk"
	"github.com/sitewarden/sitewarden/plugins/sdk/sdktest"
)

func call(t *testing.T, h *sdktest.Harness, op, params string) (json.RawMessage, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := h.Execute(ctx, sdk.Request{Operation: op, Params: json.RawMessage(params)})
	return res.Output, err
}

func TestDescribeIsValid(t *testing.T) {
	h := sdktest.Start(t, New(DefaultConfig()))
	info := h.Catalog().Info()
	if info.Name != "host" || len(info.Operations) != 5 {
		t.Fatalf("info = %+v", info)
	}
	if op, _ := h.Catalog().Operation("host.cleanup"); op.Risk != sdk.RiskDestructive {
		t.Fatalf("cleanup risk = %s", op.Risk)
	}
}

func TestCleanupThroughTheSDK(t *testing.T) {
	h := sdktest.Start(t, New(DefaultConfig()))
	root, _ := tree(t)
	out, err := call(t, h, "host.cleanup", `{"roots":["`+root+`"],"older_than_days":30}`)
	if err != nil {
		t.Fatal(err)
	}
	var res CleanupResult
	if err := json.Unmarshal(out, &res); err != nil || !res.DryRun || res.Files != 2 {
		t.Fatalf("cleanup = %s, %v", out, err)
	}
	if _, err := call(t, h, "host.cleanup", `{"roots":["`+root+`"],"older_than_days":0}`); !errors.Is(err, sdk.ErrInvalidParams) {
		t.Fatalf("older_than_days 0: want ErrInvalidParams, got %v", err)
	}
	if _, err := call(t, h, "host.cleanup", `{"roots":["//"],"older_than_days":3}`); !errors.Is(err, sdk.ErrActionFailed) || !strings.Contains(err.Error(), "file-system root") {
		t.Fatalf("root /: want an action failure, got %v", err)
	}
}

func TestDiskUsageMatchesStatfs(t *testing.T) {
	h := sdktest.Start(t, New(DefaultConfig()))
	out, err := call(t, h, "host.disk_usage", `{}`)
	if err != nil {
		t.Fatal(err)
	}
	var res struct{ Volumes []Volume }
	if err := json.Unmarshal(out, &res); err != nil || len(res.Volumes) == 0 {
		t.Fatalf("disk_usage = %s, %v", out, err)
	}
	for _, v := range res.Volumes {
		if v.TotalBytes == 0 || v.UsedBytes+v.FreeBytes > v.TotalBytes || v.UsedPercent < 0 || v.UsedPercent > 100 {
			t.Errorf("inconsistent volume %+v", v)
		}
	}
	checkRootVolume(t, res.Volumes)
}

func TestTopProcessesFindsABusyProcess(t *testing.T) {
	busy := exec.Command("/bin/sh", "-c", "while :; do :; done")
	if err := busy.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = busy.Process.Kill(); _ = busy.Wait() }()
	time.Sleep(100 * time.Millisecond)
	h := sdktest.Start(t, New(DefaultConfig()))
	out, err := call(t, h, "host.top_processes", `{"by":"cpu","limit":20}`)
	if err != nil {
		t.Fatal(err)
	}
	var res struct{ Processes []Process }
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	found := false
	for i, p := range res.Processes {
		if i > 0 && p.CPUPercent > res.Processes[i-1].CPUPercent {
			t.Fatalf("not sorted by CPU: %+v", res.Processes)
		}
		if p.PID == busy.Process.Pid && p.CPUPercent > 10 {
			found = true
		}
	}
	if !found {
		t.Fatalf("busy process %d not among the top CPU users: %+v", busy.Process.Pid, res.Processes)
	}
	out, err = call(t, h, "host.top_processes", `{"by":"memory","limit":100}`)
	if err != nil {
		t.Fatal(err)
	}
	res.Processes = nil
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Processes) < 2 || res.Processes[0].RSSBytes < 1<<20 {
		t.Fatalf("memory list implausible: %+v", res.Processes)
	}
	for i, p := range res.Processes {
		if i > 0 && p.RSSBytes > res.Processes[i-1].RSSBytes {
			t.Fatalf("not sorted by memory: %+v", res.Processes)
		}
	}
}

func TestServiceNameSchemaRefusesOptionInjection(t *testing.T) {
	h := sdktest.Start(t, New(DefaultConfig()))
	for _, name := range []string{"--help", "-H host", "a b", "x;reboot", ""} {
		b, _ := json.Marshal(map[string]string{"name": name})
		if _, err := call(t, h, "host.service_status", string(b)); !errors.Is(err, sdk.ErrInvalidParams) {
			t.Errorf("service name %q: want ErrInvalidParams, got %v", name, err)
		}
	}
}
