#!/usr/bin/env bash
# Runs every fuzz target in the module for a bounded time each.
set -euo pipefail
FUZZTIME=${1:-30s}
fail=0
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	targets=$(grep -hoE '^func (Fuzz[A-Za-z0-9_]+)\(f \*testing\.F\)' "$dir"/*_test.go 2>/dev/null | sed -E 's/^func (Fuzz[A-Za-z0-9_]+).*/\1/' || true)
	for t in $targets; do
		echo "fuzz: $pkg $t ($FUZZTIME)"
		if ! go test -run '^$' -fuzz "^${t}\$" -fuzztime "$FUZZTIME" "$pkg" >"/tmp/fuzz-$t.log" 2>&1; then
			echo "fuzz: $pkg $t FAILED; see /tmp/fuzz-$t.log and the new testdata/fuzz/$t entry" >&2
			tail -20 "/tmp/fuzz-$t.log" >&2
			fail=1
		fi
	done
done
exit $fail
