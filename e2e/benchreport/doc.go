// Command benchreport writes docs/benchmarks.md ('make bench', .ci/bench.sh)
// from the output of 'go test -bench' and the checked-in targets table
// (docs/bench-targets.tsv): for each metric an issue names, its target, the
// value measured, the baseline measured in the same run, the ratio and
// whether the target is met, with a description of the machine and the raw
// results below. No figure in the report is typed by hand.
package main
