package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// module is the import path the package column of the targets is under.
const module = "github.com/sitewarden/sitewarden/"

// Budgets: inputs are bounded.
const (
	maxLine    = 1 << 20 // one line of bench output or of the targets table
	maxLines   = 1 << 20
	maxTargets = 1000
)

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("benchreport", flag.ContinueOnError)
	fs.SetOutput(stderr)
	targets := fs.String("targets", "docs/bench-targets.tsv", "targets table")
	in := fs.String("in", "", "output of 'go test -bench' (required)")
	out := fs.String("out", "docs/benchmarks.md", "report to write")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *in == "" {
		fmt.Fprintln(stderr, "benchreport: -in FILE is required (the output of 'go test -bench')")
		return 2
	}
	if err := generate(*targets, *in, *out, describeMachine(), time.Now()); err != nil {
		fmt.Fprintf(stderr, "benchreport: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "benchreport: wrote %s\n", *out)
	return 0
}

func generate(targetsFile, inFile, outFile string, m machine, now time.Time) error {
	tf, err := os.Open(targetsFile)
	if err != nil {
		return err
	}
	defer tf.Close()
	ts, err := parseTargets(tf)
	if err != nil {
		return fmt.Errorf("%s: %w", targetsFile, err)
	}
	bf, err := os.Open(inFile)
	if err != nil {
		return err
	}
	defer bf.Close()
	res, err := parseBench(bf)
	if err != nil {
		return fmt.Errorf("%s: %w", inFile, err)
	}
	var b strings.Builder
	render(&b, ts, res, m, now)
	tmp := outFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, outFile)
}

// target is one row of the targets table.
type target struct {
	issue, pkg, bench, metric, cmp string
	value                          float64
	baseline, ratio, what          string
}

var comparisons = []string{"<=", ">=", "ratio<=", "ratio>="}

func parseTargets(r io.Reader) ([]target, error) {
	var out []target
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxLine)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 9 {
			return nil, fmt.Errorf("line %d: %d tab-separated columns, want 9 (issue, package, benchmark, metric, comparison, target, baseline, ratio, what)", n, len(f))
		}
		v, err := strconv.ParseFloat(f[5], 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: target %q is not a number", n, f[5])
		}
		if !slices.Contains(comparisons, f[4]) {
			return nil, fmt.Errorf("line %d: comparison %q: use one of %v", n, f[4], comparisons)
		}
		t := target{issue: f[0], pkg: f[1], bench: f[2], metric: f[3], cmp: f[4], value: v, baseline: f[6], ratio: f[7], what: f[8]}
		if strings.HasPrefix(t.cmp, "ratio") && t.baseline == "-" {
			return nil, fmt.Errorf("line %d: a ratio target needs a baseline metric", n)
		}
		if out = append(out, t); len(out) > maxTargets {
			return nil, fmt.Errorf("more than %d targets", maxTargets)
		}
	}
	return out, sc.Err()
}

// result is one benchmark's metrics (the median when it ran several times).
type result struct {
	pkg, name string
	iters     string
	metrics   map[string][]float64
	order     []string
}

func (r *result) get(metric string) (float64, bool) {
	vs := r.metrics[metric]
	if len(vs) == 0 {
		return 0, false
	}
	s := slices.Clone(vs)
	sort.Float64s(s)
	return s[len(s)/2], true
}

// parseBench reads 'go test -bench' output: "pkg:" lines name the package
// of the Benchmark lines that follow.
func parseBench(r io.Reader) ([]*result, error) {
	var out []*result
	byKey := map[string]*result{}
	pkg := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for n := 0; sc.Scan(); n++ {
		if n > maxLines {
			return nil, errors.New("too many lines")
		}
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimPrefix(strings.TrimSpace(p), module)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := trimProcs(f[0])
		key := pkg + " " + name
		res := byKey[key]
		if res == nil {
			res = &result{pkg: pkg, name: name, iters: f[1], metrics: map[string][]float64{}}
			byKey[key] = res
			out = append(out, res)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			if _, seen := res.metrics[f[i+1]]; !seen {
				res.order = append(res.order, f[i+1])
			}
			res.metrics[f[i+1]] = append(res.metrics[f[i+1]], v)
		}
	}
	return out, sc.Err()
}

// trimProcs drops the -GOMAXPROCS suffix of a benchmark name.
func trimProcs(name string) string {
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			return name[:i]
		}
	}
	return name
}

// row is one evaluated target.
type row struct {
	t                        target
	bench                    string
	measured, base, ratio    float64
	hasValue, hasBase, hasRt bool
	verdict                  string // met, NOT MET, not measured
}

func evaluate(ts []target, res []*result) []row {
	var rows []row
	for _, t := range ts {
		var matched []*result
		for _, r := range res {
			if r.pkg != t.pkg {
				continue
			}
			if parent, ok := strings.CutSuffix(t.bench, "/*"); ok {
				if strings.HasPrefix(r.name, parent+"/") {
					matched = append(matched, r)
				}
			} else if r.name == t.bench {
				matched = append(matched, r)
			}
		}
		if len(matched) == 0 {
			rows = append(rows, row{t: t, bench: t.bench, verdict: "not measured"})
			continue
		}
		for _, r := range matched {
			rw := row{t: t, bench: r.name}
			rw.measured, rw.hasValue = r.get(t.metric)
			if t.baseline != "-" {
				rw.base, rw.hasBase = r.get(t.baseline)
			}
			if t.ratio != "-" {
				rw.ratio, rw.hasRt = r.get(t.ratio)
			} else if rw.hasValue && rw.hasBase && rw.base != 0 {
				rw.ratio, rw.hasRt = rw.measured/rw.base, true
			}
			rw.verdict = verdict(rw)
			rows = append(rows, rw)
		}
	}
	return rows
}

func verdict(r row) string {
	v, ok := r.measured, r.hasValue
	if strings.HasPrefix(r.t.cmp, "ratio") {
		v, ok = r.ratio, r.hasRt
	}
	if !ok {
		return "not measured"
	}
	met := v <= r.t.value
	if strings.HasSuffix(r.t.cmp, ">=") {
		met = v >= r.t.value
	}
	if met {
		return "met"
	}
	return "NOT MET"
}

// maxRuns is the largest number of runs any benchmark's metric has.
func maxRuns(res []*result) int {
	n := 0
	for _, r := range res {
		for _, vs := range r.metrics {
			n = max(n, len(vs))
		}
	}
	return n
}

func render(w io.Writer, ts []target, res []*result, m machine, now time.Time) {
	rows := evaluate(ts, res)
	met := 0
	for _, r := range rows {
		if r.verdict == "met" {
			met++
		}
	}
	fmt.Fprintf(w, "# Benchmarks\n\nGenerated by `make bench` (.ci/bench.sh, e2e/benchreport) on %s from the\n", now.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(w, "run's output and the targets in `docs/bench-targets.tsv`. Do not edit by hand.\n")
	if n := maxRuns(res); n > 1 {
		fmt.Fprintf(w, "Each benchmark ran up to %d times; every figure is the median of its runs.\n", n)
	}
	fmt.Fprintf(w, "\n")
	fmt.Fprintf(w, "## Machine\n\n| CPU | cores | memory | kernel | Go | temp dir filesystem | load average after the run |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n\n", cell(m.CPU), cell(m.Cores), cell(m.Memory), cell(m.Kernel), cell(m.Go), cell(m.TempFS), cell(m.Load))
	fmt.Fprintf(w, "## Targets\n\n%d of %d targets met. A ratio is the measured value over the baseline measured in\nthe same run.\n\n", met, len(rows))
	fmt.Fprintf(w, "| issue | benchmark | metric | target | measured | baseline (same run) | ratio | result |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range rows {
		tgt := r.t.cmp + " " + num(r.t.value)
		if strings.HasPrefix(r.t.cmp, "ratio") {
			tgt = "ratio " + strings.TrimPrefix(r.t.cmp, "ratio") + " " + num(r.t.value) + "×"
		}
		fmt.Fprintf(w, "| %s | %s | %s (%s) | %s | %s | %s | %s | %s |\n", r.t.issue, cell(path.Join(r.t.pkg, r.bench)), cell(r.t.metric), cell(r.t.what),
			tgt, opt(r.measured, r.hasValue), baseCell(r), opt(r.ratio, r.hasRt), r.verdict)
	}
	fmt.Fprintf(w, "\n## Raw results\n")
	last := "\x00"
	for _, r := range res {
		if r.pkg != last {
			fmt.Fprintf(w, "\n### %s\n\n| benchmark | iterations | metrics |\n| --- | --- | --- |\n", cell(r.pkg))
			last = r.pkg
		}
		var ms []string
		for _, k := range r.order {
			v, _ := r.get(k)
			ms = append(ms, num(v)+" "+k)
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", cell(r.name), r.iters, cell(strings.Join(ms, ", ")))
	}
}

func baseCell(r row) string {
	if r.t.baseline == "-" {
		return "-"
	}
	return opt(r.base, r.hasBase) + " " + cell(r.t.baseline)
}

func opt(v float64, ok bool) string {
	if !ok {
		return "-"
	}
	return num(v)
}

// num prints a figure with up to 4 significant digits, never in exponent form.
func num(v float64) string {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if a := absf(v); a >= 1000 {
		s = strconv.FormatFloat(v, 'f', 0, 64)
	} else if a > 0 {
		s = strconv.FormatFloat(v, 'g', 4, 64)
		if strings.ContainsAny(s, "e") {
			s = strconv.FormatFloat(v, 'f', 6, 64)
		}
	}
	return s
}

func absf(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// cell escapes a value for a Markdown table cell.
func cell(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ") }
