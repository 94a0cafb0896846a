package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var fixedMachine = machine{CPU: "Test CPU", Cores: "2", Memory: "4.0 GiB", Kernel: "linux 6.1", Go: "go1.26.8", TempFS: "ext4 (/tmp)", Load: "0.50 0.40 0.30"}

// TestReportFromSavedOutput renders the report from a saved 'go test
// -bench' output (testdata/bench.txt, taken from a real 'make bench' run,
// plus two web page results, one over its target) and a snapshot of the
// targets table (testdata/targets.tsv), so that adding a target to
// docs/bench-targets.tsv does not change this test's expected counts;
// TestTargetsNameRealBenchmarks checks the real table.
func TestReportFromSavedOutput(t *testing.T) {
	out := filepath.Join(t.TempDir(), "benchmarks.md")
	when := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	if err := generate("testdata/targets.tsv", "testdata/bench.txt", out, fixedMachine, when); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	md := string(raw)
	for _, want := range []string{
		"on 2026-11-26 12:00 UTC",
		"| Test CPU | 2 | 4.0 GiB | linux 6.1 | go1.26.8 | ext4 (/tmp) | 0.50 0.40 0.30 |",
		// measured, no baseline
		"| 3 | policies/BenchmarkDecidePacks | median-ns/decision (decide on the reference packs, median) | <= 2000 | 495.4 | - | - | met |",
		// the benchmark's own ratio against a baseline from the same run
		"| 4 | runner/audit/BenchmarkAppendDurable8 | rec/s (8 durable writers vs a Badger WriteBatch with SyncWrites) | ratio >= 0.8× | 45625 | 455652 badger-wb-rec/s | 0.1001 | NOT MET |",
		"| 5 | runner/pluginhost/BenchmarkWarmCall | host-p50-ns (warm plugin call vs a raw go-plugin gRPC echo) | ratio <= 1.3× | 198054 | 165546 raw-p50-ns | 1.196 | met |",
		// a value target with a baseline shown beside it
		"| 7 | e2e/BenchmarkControlPlaneIdleMemory | KiB/idle-site(control-plane-RSS) (control plane memory per idle site, 2,000 sites) | <= 64 | 53.94 | 75.47 KiB/idle-conn(bare-quic-RSS) | 0.7147 | met |",
		// every sub-benchmark of a /* row
		"| 8 | control-plane/web/BenchmarkPages/overview | ms/page",
		"| <= 100 | 150 | - | - | NOT MET |",
		// a benchmark missing from the run
		"| 10 | e2e/BenchmarkReplicasFleet | ms-worst-fanout (scope change to 2,000 sites over two replicas) | <= 3000 | - | - | - | not measured |",
		"15 of 20 targets met.",
		// raw tables below the summary
		"### runner/audit",
		"| BenchmarkAppendDurable8 | 54517 | 21918 ns/op, 8620 badger-txn-rec/s,",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if strings.Index(md, "## Raw results") < strings.Index(md, "## Targets") {
		t.Error("raw results come before the summary")
	}
}

func TestMedianOfRepeatedRuns(t *testing.T) {
	res, err := parseBench(strings.NewReader("pkg: github.com/sitewarden/sitewarden/x\n" +
		"BenchmarkA-2 \t 10\t 5 ms/op\nBenchmarkA-2 \t 10\t 1 ms/op\nBenchmarkA-2 \t 10\t 3 ms/op\nnot a benchmark line\n"))
	if err != nil || len(res) != 1 {
		t.Fatalf("%v, %d results", err, len(res))
	}
	if v, ok := res[0].get("ms/op"); !ok || v != 3 || res[0].pkg != "x" || res[0].name != "BenchmarkA" {
		t.Errorf("got %s/%s %v %v", res[0].pkg, res[0].name, v, ok)
	}
	if n := maxRuns(res); n != 3 {
		t.Errorf("maxRuns = %d, want 3", n)
	}
}

func TestTargetsTableErrors(t *testing.T) {
	for name, in := range map[string]string{
		"columns":    "3\tpolicies\tBenchmarkX\tns/op\t<=\t1\n",
		"number":     "3\tpolicies\tBenchmarkX\tns/op\t<=\tfast\t-\t-\tx\n",
		"comparison": "3\tpolicies\tBenchmarkX\tns/op\t<\t1\t-\t-\tx\n",
		"ratio":      "3\tpolicies\tBenchmarkX\tns/op\tratio<=\t1\t-\t-\tx\n",
	} {
		if _, err := parseTargets(strings.NewReader(in)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestTargetsNameRealBenchmarks: every row of the checked-in table names a
// benchmark function and metrics that its package's tests report, so a
// renamed benchmark or metric shows up here, not as "not measured".
func TestTargetsNameRealBenchmarks(t *testing.T) {
	f, err := os.Open("../../docs/bench-targets.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ts, err := parseTargets(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range ts {
		src := testSources(t, filepath.Join("../..", tg.pkg))
		fn, _, _ := strings.Cut(tg.bench, "/")
		if !strings.Contains(src, "func "+fn+"(b *testing.B)") {
			t.Errorf("issue %s: no func %s(b *testing.B) in %s", tg.issue, fn, tg.pkg)
		}
		for _, m := range []string{tg.metric, tg.baseline, tg.ratio} {
			if m != "-" && m != "ns/op" && !strings.Contains(src, `"`+m+`"`) {
				t.Errorf("issue %s: %s does not report metric %q", tg.issue, tg.pkg, m)
			}
		}
	}
}

func testSources(t *testing.T, dir string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no tests in %s (%v)", dir, err)
	}
	var b strings.Builder
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(raw)
	}
	return b.String()
}

// TestDescribeMachine: the report names the temp directory's real file
// system (from the mount table: "ext4", where statfs says "ext2/ext3") and,
// where sysfs tells, its disk's write cache.
func TestDescribeMachine(t *testing.T) {
	fs, dev := mountOf(os.TempDir())
	if fs == "" || dev == "" {
		t.Fatalf("no mount holds %s", os.TempDir())
	}
	m := describeMachine()
	if !strings.HasPrefix(m.TempFS, fs+" ("+os.TempDir()+")") {
		t.Errorf("TempFS %q, want it to start with %s (%s)", m.TempFS, fs, os.TempDir())
	}
	if strings.Contains(m.TempFS, "ext2/ext3") {
		t.Errorf("TempFS %q names statfs's family, not the mount's type", m.TempFS)
	}
	if got, _ := mountOf("/"); got == "" {
		t.Error("no mount for /")
	}
}
