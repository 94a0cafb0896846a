package hostops

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// pseudoFS are the mounted file systems that are not volumes.
var pseudoFS = []string{
	"proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "securityfs", "pstore", "debugfs",
	"tracefs", "mqueue", "hugetlbfs", "configfs", "fusectl", "bpf", "autofs", "binfmt_misc",
	"rpc_pipefs", "nsfs", "efivarfs", "ramfs", "selinuxfs", "tmpfs",
}

const maxMounts = 4096

func diskUsage(ctx context.Context) (any, error) {
	data, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return nil, fmt.Errorf("disk_usage: read mounts: %w", err)
	}
	vols := []Volume{}
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 0; sc.Scan() && n < maxMounts; n++ {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		f := strings.Fields(sc.Text())
		if len(f) < 3 || slices.Contains(pseudoFS, f[2]) {
			continue
		}
		mount := unescapeMount(f[1])
		if seen[mount] {
			continue
		}
		seen[mount] = true
		var st unix.Statfs_t
		if err := unix.Statfs(mount, &st); err != nil || st.Blocks == 0 {
			continue
		}
		bs := uint64(st.Bsize)
		vols = append(vols, newVolume(mount, unescapeMount(f[0]), f[2], st.Blocks*bs, st.Bavail*bs))
	}
	return map[string]any{"volumes": vols}, nil
}

// unescapeMount decodes the octal escapes (\040 for a space) of /proc/mounts.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// systemctl is found at a fixed path: plugins run with an empty environment
// (no PATH).
func systemctl() (string, error) {
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		return "", fmt.Errorf("%w: systemd is not running as the init system (/run/systemd/system is missing)", ErrNoServiceManager)
	}
	for _, p := range []string{"/usr/bin/systemctl", "/bin/systemctl"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: systemctl not found in /usr/bin or /bin", ErrNoServiceManager)
}

func serviceStatus(ctx context.Context, name string) (any, error) {
	bin, err := systemctl()
	if err != nil {
		return nil, err
	}
	return showService(ctx, bin, name)
}

func restartService(ctx context.Context, name string) (any, error) {
	bin, err := systemctl()
	if err != nil {
		return nil, err
	}
	if _, err := showService(ctx, bin, name); err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, bin, "restart", "--no-ask-password", "--", name).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("restart %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	return showService(ctx, bin, name)
}

func showService(ctx context.Context, bin, name string) (ServiceState, error) {
	out, err := exec.CommandContext(ctx, bin, "show", "--no-pager",
		"--property=LoadState,ActiveState,SubState,Description,MainPID", "--", name).CombinedOutput()
	if err != nil {
		return ServiceState{}, fmt.Errorf("%w: systemctl show %s: %v: %s", ErrNoServiceManager, name, err, strings.TrimSpace(string(out)))
	}
	return parseSystemctlShow(name, out)
}

// parseSystemctlShow reads 'systemctl show' key=value output.
func parseSystemctlShow(name string, out []byte) (ServiceState, error) {
	kv := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			kv[k] = v
		}
	}
	if kv["LoadState"] == "" {
		return ServiceState{}, fmt.Errorf("systemctl show %s: unexpected output", name)
	}
	if kv["LoadState"] == "not-found" {
		return ServiceState{}, fmt.Errorf("%w: %s (systemd has no such unit)", ErrUnknownService, name)
	}
	pid, _ := strconv.Atoi(kv["MainPID"])
	return ServiceState{
		Name:        name,
		Running:     kv["ActiveState"] == "active",
		State:       kv["ActiveState"],
		SubState:    kv["SubState"],
		Description: kv["Description"],
		PID:         pid,
	}, nil
}

// procSample is one read of a process's CPU ticks and resident memory.
type procSample struct {
	name  string
	ticks uint64
	rss   uint64
}

const clockTicks = 100 // USER_HZ on every Linux the runner supports

func readProcs(limit int) map[int]procSample {
	out := map[int]procSample{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	page := uint64(os.Getpagesize())
	for _, e := range ents {
		if len(out) >= limit {
			break
		}
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s, err := parseStat(data)
		if err != nil {
			continue
		}
		s.rss *= page
		out[pid] = s
	}
	return out
}

// parseStat reads comm, utime+stime and rss (pages) from /proc/<pid>/stat.
func parseStat(data []byte) (procSample, error) {
	s := string(data)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open || end+2 > len(s) {
		return procSample{}, errors.New("malformed stat")
	}
	f := strings.Fields(s[end+2:])
	// f[0] is field 3 (state); utime is field 14, stime 15, rss 24.
	if len(f) < 22 {
		return procSample{}, errors.New("short stat")
	}
	ut, e1 := strconv.ParseUint(f[11], 10, 64)
	st, e2 := strconv.ParseUint(f[12], 10, 64)
	rss, e3 := strconv.ParseUint(f[21], 10, 64)
	if err := errors.Join(e1, e2, e3); err != nil {
		return procSample{}, err
	}
	return procSample{name: s[open+1 : end], ticks: ut + st, rss: rss}, nil
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
		if f, ok := first[pid]; ok && by == "cpu" && secs > 0 && s.ticks >= f.ticks {
			p.CPUPercent = float64(int(float64(s.ticks-f.ticks)/clockTicks/secs*10000)) / 100
		}
		procs = append(procs, p)
	}
	sortProcesses(procs, by)
	if len(procs) > limit {
		procs = procs[:limit]
	}
	return map[string]any{"by": by, "processes": procs}, nil
}
