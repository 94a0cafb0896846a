#!/usr/bin/env bash
# 'make run': the demo (e2e/demo). Starts the control plane on its embedded
# defaults with its state in $RUN_STATE (default .run-state, kept between
# runs), a demo directory (slapd) for the first client, applies the
# reference policy packs, enrolls and starts one runner for each of two
# clients, submits the demo goals and prints what happened, the web UI
# address and the one-time admin setup link. Uses a local Ollama if one
# answers at $OLLAMA_HOST, else the playbook planner. Ctrl-C stops
# everything; RUN_FOR=10m bounds it. 'make run' builds the binaries and
# installs the system packages first ('make deps').
set -euo pipefail
RUN_FOR=${RUN_FOR:-0}
RUN_STATE=${RUN_STATE:-.run-state}
BIN_DIR=${BIN_DIR:-bin}
RUN_LISTEN=${RUN_LISTEN:-127.0.0.1:7443}
RUN_HTTP_LISTEN=${RUN_HTTP_LISTEN:-127.0.0.1:8443}
go build -o "$BIN_DIR/sitewarden-demo" ./e2e/demo
exec "$BIN_DIR/sitewarden-demo" --bin "$BIN_DIR" --state "$RUN_STATE" --for "$RUN_FOR" \
	--listen "$RUN_LISTEN" --http-listen "$RUN_HTTP_LISTEN"
