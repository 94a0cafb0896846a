package hostops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"
)

func diskUsage(ctx context.Context) (any, error) {
	buf := make([]uint16, 512)
	n, err := windows.GetLogicalDriveStrings(uint32(len(buf)), &buf[0])
	if err != nil {
		return nil, fmt.Errorf("disk_usage: list drives: %w", err)
	}
	vols := []Volume{}
	for _, d := range strings.Split(windows.UTF16ToString(buf[:n]), "\x00") {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if d == "" {
			continue
		}
		var avail, total, free uint64
		p, err := windows.UTF16PtrFromString(d)
		if err != nil || windows.GetDiskFreeSpaceEx(p, &avail, &total, &free) != nil || total == 0 {
			continue // empty card readers, disconnected network drives
		}
		vols = append(vols, newVolume(d, "", "", total, avail))
	}
	return map[string]any{"volumes": vols}, nil
}

var stateNames = map[svc.State]string{
	svc.Stopped: "stopped", svc.StartPending: "start-pending", svc.StopPending: "stop-pending",
	svc.Running: "running", svc.ContinuePending: "continue-pending", svc.PausePending: "pause-pending",
	svc.Paused: "paused",
}

func openService(name string) (*mgr.Mgr, *mgr.Service, error) {
	m, err := mgr.Connect()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: connect to the Service Control Manager: %v", ErrNoServiceManager, err)
	}
	s, err := m.OpenService(name)
	if err != nil {
		m.Disconnect()
		if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
			return nil, nil, fmt.Errorf("%w: %s", ErrUnknownService, name)
		}
		return nil, nil, fmt.Errorf("open service %s: %w", name, err)
	}
	return m, s, nil
}

func queryService(name string, s *mgr.Service) (ServiceState, error) {
	st, err := s.Query()
	if err != nil {
		return ServiceState{}, fmt.Errorf("query service %s: %w", name, err)
	}
	out := ServiceState{Name: name, Running: st.State == svc.Running, State: stateNames[st.State], PID: int(st.ProcessId)}
	if cfg, err := s.Config(); err == nil {
		out.Description = cfg.DisplayName
	}
	return out, nil
}

func serviceStatus(_ context.Context, name string) (any, error) {
	m, s, err := openService(name)
	if err != nil {
		return nil, err
	}
	defer m.Disconnect()
	defer s.Close()
	return queryService(name, s)
}

// restartService stops the service, waits for it to stop (bounded by ctx),
// starts it and waits for it to run.
func restartService(ctx context.Context, name string) (any, error) {
	m, s, err := openService(name)
	if err != nil {
		return nil, err
	}
	defer m.Disconnect()
	defer s.Close()
	st, err := s.Query()
	if err != nil {
		return nil, fmt.Errorf("query service %s: %w", name, err)
	}
	if st.State != svc.Stopped {
		if _, err := s.Control(svc.Stop); err != nil {
			return nil, fmt.Errorf("stop service %s: %w", name, err)
		}
		if err := waitState(ctx, s, svc.Stopped); err != nil {
			return nil, fmt.Errorf("stop service %s: %w", name, err)
		}
	}
	if err := s.Start(); err != nil {
		return nil, fmt.Errorf("start service %s: %w", name, err)
	}
	if err := waitState(ctx, s, svc.Running); err != nil {
		return nil, fmt.Errorf("start service %s: %w", name, err)
	}
	return queryService(name, s)
}

func waitState(ctx context.Context, s *mgr.Service, want svc.State) error {
	for {
		st, err := s.Query()
		if err != nil {
			return err
		}
		if st.State == want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("still %s: %w", stateNames[st.State], ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

type processMemoryCounters struct {
	CB                         uint32
	PageFaultCount             uint32
	PeakWorkingSetSize         uintptr
	WorkingSetSize             uintptr
	QuotaPeakPagedPoolUsage    uintptr
	QuotaPagedPoolUsage        uintptr
	QuotaPeakNonPagedPoolUsage uintptr
	QuotaNonPagedPoolUsage     uintptr
	PagefileUsage              uintptr
	PeakPagefileUsage          uintptr
}

type procSample struct {
	name string
	cpu  time.Duration
	rss  uint64
}

func readProcs(limit int) map[int]procSample {
	out := map[int]procSample{}
	snap, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPPROCESS, 0)
	if err != nil {
		return out
	}
	defer windows.CloseHandle(snap)
	memInfo := windows.NewLazySystemDLL("kernel32.dll").NewProc("K32GetProcessMemoryInfo")
	var e windows.ProcessEntry32
	e.Size = uint32(unsafe.Sizeof(e))
	for err = windows.Process32First(snap, &e); err == nil && len(out) < limit; err = windows.Process32Next(snap, &e) {
		s := procSample{name: windows.UTF16ToString(e.ExeFile[:])}
		if h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, e.ProcessID); err == nil {
			var c, x, k, u windows.Filetime
			if windows.GetProcessTimes(h, &c, &x, &k, &u) == nil {
				s.cpu = time.Duration(k.Nanoseconds() + u.Nanoseconds())
			}
			var pmc processMemoryCounters
			pmc.CB = uint32(unsafe.Sizeof(pmc))
			if r, _, _ := memInfo.Call(uintptr(h), uintptr(unsafe.Pointer(&pmc)), uintptr(pmc.CB)); r != 0 {
				s.rss = uint64(pmc.WorkingSetSize)
			}
			windows.CloseHandle(h)
		}
		out[int(e.ProcessID)] = s
	}
	return out
}

func topProcesses(ctx context.Context, by string, limit int, cfg Config) (any, error) {
	first := readProcs(cfg.MaxProcesses)
	start := time.Now()
	if by == "cpu" {
		t := time.NewTimer(cfg.CPUSample)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
	second := readProcs(cfg.MaxProcesses)
	secs := time.Since(start).Seconds()
	procs := make([]Process, 0, len(second))
	for pid, s := range second {
		p := Process{PID: pid, Name: s.name, RSSBytes: s.rss}
		if f, ok := first[pid]; ok && by == "cpu" && secs > 0 && s.cpu >= f.cpu {
			p.CPUPercent = float64(int((s.cpu-f.cpu).Seconds()/secs*10000)) / 100
		}
		procs = append(procs, p)
	}
	sortProcesses(procs, by)
	if len(procs) > limit {
		procs = procs[:limit]
	}
	return map[string]any{"by": by, "processes": procs}, nil
}
