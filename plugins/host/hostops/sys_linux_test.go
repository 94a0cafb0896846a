package hostops

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sitewarden/sitewarden/plugins/sdk/sdktest"
)

// checkRootVolume compares the volume holding "/" with statfs.
func checkRootVolume(t *testing.T, vols []Volume) {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs("/", &st); err != nil {
		t.Fatal(err)
	}
	for _, v := range vols {
		if v.Mount == "/" {
			if want := st.Blocks * uint64(st.Bsize); v.TotalBytes != want {
				t.Fatalf("/ total = %d, statfs says %d", v.TotalBytes, want)
			}
			return
		}
	}
	t.Fatalf("no volume for / in %+v", vols)
}

func TestParseSystemctlShow(t *testing.T) {
	tests := []struct {
		name, out string
		want      ServiceState
		err       error
	}{
		{"running", "LoadState=loaded\nActiveState=active\nSubState=running\nDescription=OpenSSH server\nMainPID=812\n",
			ServiceState{Name: "ssh", Running: true, State: "active", SubState: "running", Description: "OpenSSH server", PID: 812}, nil},
		{"failed", "LoadState=loaded\nActiveState=failed\nSubState=failed\nDescription=x\nMainPID=0\n",
			ServiceState{Name: "ssh", State: "failed", SubState: "failed", Description: "x"}, nil},
		{"not found", "LoadState=not-found\nActiveState=inactive\nSubState=dead\nMainPID=0\n", ServiceState{}, ErrUnknownService},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSystemctlShow("ssh", []byte(tt.out))
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("want %v, got %v", tt.err, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
	if _, err := parseSystemctlShow("ssh", []byte("garbage")); err == nil {
		t.Fatal("garbage accepted")
	}
}

func TestParseStat(t *testing.T) {
	s, err := parseStat([]byte("42 (a (weird) name) S 1 42 42 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 1 0 100 1000000 321 18446744073709551615"))
	if err != nil || s.name != "a (weird) name" || s.ticks != 200 || s.rss != 321 {
		t.Fatalf("got %+v, %v", s, err)
	}
	if _, err := parseStat([]byte("42 (x")); err == nil {
		t.Fatal("truncated stat accepted")
	}
}

// TestServiceOperations runs service_status and restart_service against
// systemd when it is the init system. Where it is not (this CI machine is
// a Firecracker VM whose PID 1 is not systemd), the operations must fail
// with a clear ErrNoServiceManager, and the live service test is skipped
// with that reason.
func TestServiceOperations(t *testing.T) {
	p := New(DefaultConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		comm, _ := os.ReadFile("/proc/1/comm")
		_, err := serviceStatus(ctx, "ssh")
		if !errors.Is(err, ErrNoServiceManager) {
			t.Fatalf("without systemd: want ErrNoServiceManager, got %v", err)
		}
		_, err = restartService(ctx, "ssh")
		if !errors.Is(err, ErrNoServiceManager) {
			t.Fatalf("without systemd: want ErrNoServiceManager, got %v", err)
		}
		t.Skipf("no service manager runs here: PID 1 is %q, not systemd (/run/systemd/system is missing), so no service can be queried or restarted; the refusal path was checked", strings.TrimSpace(string(comm)))
	}
	h := sdktest.Start(t, p)
	_, err := call(t, h, "host.service_status", `{"name":"sitewarden-no-such-unit"}`)
	if err == nil {
		t.Fatal("unknown unit accepted")
	}
	out, err := call(t, h, "host.service_status", `{"name":"systemd-journald"}`)
	if err != nil {
		t.Fatal(err)
	}
	var st ServiceState
	if err := json.Unmarshal(out, &st); err != nil || !st.Running {
		t.Fatalf("journald status = %s, %v", out, err)
	}
	out, err = call(t, h, "host.restart_service", `{"name":"systemd-journald"}`)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &st); err != nil || !st.Running {
		t.Fatalf("journald after restart = %s, %v", out, err)
	}
}
