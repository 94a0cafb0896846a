#!/usr/bin/env bash
# 'make bench': runs every benchmark BENCHCOUNT times (default 3; the report
# takes each metric's median, so one noisy run does not decide a target) and
# writes docs/benchmarks.md with
# e2e/benchreport from the run's output and the targets in
# docs/bench-targets.tsv (target, measured value, baseline from the same run,
# ratio, met or not, the machine, and the raw results), so no figure in the
# docs is typed by hand. BENCH_OUT=FILE keeps the raw output.
set -euo pipefail
BENCHTIME=${1:-1s}
BENCHCOUNT=${BENCHCOUNT:-3}
out=${BENCH_OUT:-$(mktemp)}
[ -n "${BENCH_OUT:-}" ] || trap 'rm -f "$out"' EXIT
# A failing benchmark still gets the report written (its targets show as not
# measured), then fails the run.
status=0
SITEWARDEN_BIN=$PWD/bin go test -run '^$' -bench . -benchmem -benchtime "$BENCHTIME" -count "$BENCHCOUNT" -timeout 60m ./... | tee "$out" || status=$?
go run ./e2e/benchreport -targets docs/bench-targets.tsv -in "$out" -out docs/benchmarks.md
exit "$status"
