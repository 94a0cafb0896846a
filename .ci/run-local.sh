#!/usr/bin/env bash
# 'make run': starts the control plane and one runner on loopback with their
# embedded defaults, shows what they log, and stops both on Ctrl-C (or after
# RUN_FOR, e.g. RUN_FOR=10s make run).
set -euo pipefail
RUN_FOR=${RUN_FOR:-0}
state=$(mktemp -d)
cleanup() {
	kill "${pids[@]}" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$state"
}
pids=()
trap cleanup EXIT INT TERM
./bin/sitewarden server --for "$RUN_FOR" &
pids+=($!)
./bin/sitewarden-runner run --for "$RUN_FOR" &
pids+=($!)
wait -n "${pids[@]}" || true
