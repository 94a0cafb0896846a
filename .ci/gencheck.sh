#!/usr/bin/env bash
# Fails when the committed generated code differs from what 'make generate'
# produces from the committed sources. Restores the tree either way.
set -euo pipefail
BUF=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mapfile -t gen < <(git ls-files --cached --others --exclude-standard '*.pb.go')
for f in "${gen[@]}"; do mkdir -p "$tmp/$(dirname "$f")"; cp "$f" "$tmp/$f"; done
(cd protocol && $BUF lint && $BUF generate)
(cd plugins/sdk && $BUF lint && $BUF generate)
status=0
for f in $(git ls-files --cached --others --exclude-standard '*.pb.go'); do
	if ! cmp -s "$f" "$tmp/$f"; then
		echo "generated code is stale: $f (run 'make generate' and commit)" >&2
		status=1
	fi
done
for f in "${gen[@]}"; do cp "$tmp/$f" "$f"; done
exit $status
