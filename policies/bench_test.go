package policies

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

// packCases loads every case of the reference packs' own tests, compiled
// against all packs together.
func packCases(b *testing.B) (*Scope, []Request) {
	b.Helper()
	s := mustCompile(b, "packs")
	files, err := ReadTestFiles("packs")
	if err != nil {
		b.Fatal(err)
	}
	var reqs []Request
	for _, f := range files {
		tf, err := LoadTestFile(DefaultConfig(), f)
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range tf.Cases {
			r, err := c.Request.request(time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC))
			if err != nil {
				b.Fatal(err)
			}
			reqs = append(reqs, r)
		}
	}
	return s, reqs
}

// BenchmarkDecidePacks decides every request of the reference packs' tests
// and reports the median and the worst case over them (ns and allocations
// per decision): the target is a median over the reference packs.
func BenchmarkDecidePacks(b *testing.B) {
	s, reqs := packCases(b)
	const rounds = 100
	dur := make([]time.Duration, len(reqs))
	n := 0
	for b.Loop() {
		for i, r := range reqs {
			t0 := time.Now()
			for range rounds {
				s.Decide(r)
			}
			dur[i] += time.Since(t0)
		}
		n++
	}
	b.StopTimer()
	ns := make([]float64, len(reqs))
	allocs := make([]float64, len(reqs))
	for i, r := range reqs {
		ns[i] = float64(dur[i].Nanoseconds()) / float64(n*rounds)
		allocs[i] = testing.AllocsPerRun(50, func() { s.Decide(r) })
	}
	sort.Float64s(ns)
	sort.Float64s(allocs)
	b.ReportMetric(ns[len(ns)/2], "median-ns/decision")
	b.ReportMetric(ns[len(ns)-1], "max-ns/decision")
	b.ReportMetric(allocs[len(allocs)/2], "median-allocs/decision")
	b.ReportMetric(allocs[len(allocs)-1], "max-allocs/decision")
	b.ReportMetric(float64(len(reqs)), "cases")
}

// BenchmarkDecideUnlock is the costliest common decision: an account unlock
// that evaluates two deny conditions and one allow condition.
func BenchmarkDecideUnlock(b *testing.B) {
	s := mustCompile(b, "packs")
	req := Request{Agent: "account-helper", Workflow: "account_unlock", Action: "directory.unlock_account",
		Target: map[string]any{"login": "dana", "dn": "CN=Dana,OU=Staff,DC=example,DC=com", "groups": []any{map[string]any{"name": "Staff"}}},
		Goal:   map[string]any{"user": "Dana"}, Now: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	b.ReportAllocs()
	for b.Loop() {
		if d := s.Decide(req); d.Effect != Allow {
			b.Fatal(d)
		}
	}
}

// BenchmarkDecideUnconditional is an allow rule without a condition.
func BenchmarkDecideUnconditional(b *testing.B) {
	s := mustCompile(b, "packs")
	req := Request{Agent: "service-medic", Workflow: "stuck_service", Action: "host.service_status", Now: time.Now()}
	b.ReportAllocs()
	for b.Loop() {
		if d := s.Decide(req); d.Effect != Allow {
			b.Fatal(d)
		}
	}
}

// BenchmarkDecideParallel decides on all cores through an Engine.
func BenchmarkDecideParallel(b *testing.B) {
	s, reqs := packCases(b)
	e := NewEngine(s)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			e.Decide(reqs[i%len(reqs)])
			i++
		}
	})
}

// hundredRules returns a scope of 10 agents with 10 rules each, half of
// them with a condition.
func hundredRules() []byte {
	var sb strings.Builder
	sb.WriteString("apiVersion: sitewarden.dev/v1\nkind: Scope\nclient: bench\nmaxOfflineValidity: 7d\ncatalog:\n")
	sb.WriteString("  - name: p\n    version: 1.0.0\n    sha256: " + strings.Repeat("d", 64) + "\n    actions: [")
	for i := range 20 {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "p.a%d", i)
	}
	sb.WriteString("]\nagents:\n")
	for a := range 10 {
		fmt.Fprintf(&sb, "  - name: agent%d\n    workflows:\n      w: {mode: autonomous, budget: {maxSteps: 5, maxActions: 5, maxWallTime: 5m}}\n    allow:\n", a)
		for r := range 10 {
			fmt.Fprintf(&sb, "      - id: r%d-%d\n        actions: [p.a%d]\n", a, r, (a+r)%20)
			if r%2 == 0 {
				fmt.Fprintf(&sb, "        when: has(target.groups) && !target.groups.exists(g, g == \"Domain Admins\") && goal.n%d > %d\n", r, r)
			}
		}
	}
	return []byte(sb.String())
}

func BenchmarkCompile100Rules(b *testing.B) {
	src := Source{Name: "bench.yaml", Data: hundredRules()}
	s, err := Compile(DefaultConfig(), src)
	if err != nil {
		b.Fatal(err)
	}
	if s.Rules() != 100 {
		b.Fatalf("%d rules", s.Rules())
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(DefaultConfig(), src); err != nil {
			b.Fatal(err)
		}
	}
}
