package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// FuzzParseBench: any input parses or fails without panicking, and what
// parses renders.
func FuzzParseBench(f *testing.F) {
	seed, err := os.ReadFile("testdata/bench.txt")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte("pkg: x\nBenchmarkA-2 1 NaN ms/op 1e400 x\n"))
	targets, err := os.ReadFile("testdata/targets.tsv")
	if err != nil {
		f.Fatal(err)
	}
	ts, err := parseTargets(bytes.NewReader(targets))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		res, err := parseBench(bytes.NewReader(in))
		if err != nil {
			return
		}
		var b strings.Builder
		render(&b, ts, res, fixedMachine, time.Unix(0, 0))
	})
}

// FuzzParseTargets: any table parses or fails without panicking, and what
// parses evaluates against a saved run.
func FuzzParseTargets(f *testing.F) {
	seed, err := os.ReadFile("testdata/targets.tsv")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte("1\tp\tBenchmarkX/*\tm\tratio>=\t0\tb\t-\tx\n"))
	bench, err := os.ReadFile("testdata/bench.txt")
	if err != nil {
		f.Fatal(err)
	}
	res, err := parseBench(bytes.NewReader(bench))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		ts, err := parseTargets(bytes.NewReader(in))
		if err != nil {
			return
		}
		for _, r := range evaluate(ts, res) {
			if r.verdict == "" {
				t.Fatalf("row without a verdict: %+v", r)
			}
		}
	})
}
