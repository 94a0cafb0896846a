// Command demo is what 'make run' runs (.ci/run-local.sh): it starts the
// control plane on its embedded defaults in a persistent state directory,
// a demo directory (slapd) for the first client, applies the reference
// policy packs, enrolls and starts one runner for each of two clients, and
// submits the demo goals, printing what happened and where to watch it.
package main
