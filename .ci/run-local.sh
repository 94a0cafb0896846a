#!/usr/bin/env bash
# 'make run': starts the control plane on loopback with its embedded
# defaults in a temporary state directory, creates a one-time enrollment
# token, enrolls one runner with it, starts the runner, and shows both JSON
# logs: readiness, the site connecting over QUIC, and its heartbeats. Stops
# both on Ctrl-C (or after RUN_FOR, e.g. RUN_FOR=10s make run).
set -euo pipefail
RUN_FOR=${RUN_FOR:-0}
state=$(mktemp -d)
addr=127.0.0.1:7443
cleanup() {
	kill "${pids[@]}" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$state"
}
pids=()
trap cleanup EXIT INT TERM
./bin/sitewarden server --for "$RUN_FOR" --state "$state/control-plane" --listen "$addr" \
	--heartbeat 2s --log-level debug &
pids+=($!)
# Wait for the control plane to write its CA before asking for a token.
for _ in $(seq 50); do
	[ -f "$state/control-plane/ca/ca.pem" ] && break
	sleep 0.1
done
token=$(./bin/sitewarden token create --state "$state/control-plane" --address "$addr" \
	--client example --site hq --ttl 1h)
./bin/sitewarden-runner enroll --state "$state/runner" --token "$token"
./bin/sitewarden-runner run --for "$RUN_FOR" --state "$state/runner" &
pids+=($!)
wait -n "${pids[@]}" || true
