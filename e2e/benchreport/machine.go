package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// machine describes where the benchmarks ran.
type machine struct {
	CPU, Cores, Memory, Kernel, Go, TempFS string
	// Load is the load average (1, 5, 15 min) when the report is written:
	// the machine is shared, and other work slows every figure.
	Load string
}

func describeMachine() machine {
	m := machine{CPU: "unknown", Cores: strconv.Itoa(runtime.NumCPU()), Memory: "unknown", Kernel: runtime.GOOS,
		Go: runtime.Version(), TempFS: "unknown", Load: "unknown"}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.Load = strings.Join(f[:3], " ")
		}
	}
	if v := procField("/proc/cpuinfo", "model name"); v != "" {
		m.CPU = v
	}
	if v := procField("/proc/meminfo", "MemTotal"); v != "" {
		if kb, err := strconv.ParseFloat(strings.TrimSuffix(v, " kB"), 64); err == nil {
			m.Memory = fmt.Sprintf("%.1f GiB", kb/(1<<20))
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = runtime.GOOS + " " + strings.TrimSpace(string(b))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output(); err == nil {
		m.Go = strings.TrimSpace(string(out))
	}
	if fs, dev := mountOf(os.TempDir()); fs != "" {
		m.TempFS = fs + " (" + os.TempDir() + ")" + diskCache(dev)
	}
	return m
}

// mountOf returns the file system type and source device of the mount that
// holds dir (the longest mount point that is a prefix of it).
func mountOf(dir string) (fstype, device string) {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return "", ""
	}
	best := ""
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		mp := f[1]
		if (dir == mp || strings.HasPrefix(dir, strings.TrimSuffix(mp, "/")+"/")) && len(mp) >= len(best) {
			best, fstype, device = mp, f[2], f[0]
		}
	}
	return fstype, device
}

// diskCache describes how the block device behind dev acknowledges writes
// (its write cache and FUA support), which sets the cost of every durable
// write: with a write-back cache and no FUA each one needs a cache flush.
func diskCache(dev string) string {
	name, ok := strings.CutPrefix(dev, "/dev/")
	if !ok {
		return ""
	}
	for _, q := range []string{"/sys/class/block/" + name + "/queue", "/sys/class/block/" + name + "/../queue"} {
		wc, err1 := os.ReadFile(q + "/write_cache")
		fua, err2 := os.ReadFile(q + "/fua")
		if err1 == nil && err2 == nil {
			f := "no FUA"
			if strings.TrimSpace(string(fua)) == "1" {
				f = "FUA"
			}
			return fmt.Sprintf(", %s: %s cache, %s", name, strings.TrimSpace(string(wc)), f)
		}
	}
	return ""
}

// procField returns the value of the first "key : value" line of a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 0; sc.Scan() && n < 10000; n++ {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
