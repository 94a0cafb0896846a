// Package pluginhost runs Sitewarden's action plugins: separate binaries
// that speak plugins/sdk over hashicorp/go-plugin (gRPC only), each in its
// own contained process.
//
// A Host finds plugins as sitewarden-plugin-<name> (".exe" on Windows) in
// its plugin directory and starts one only if the SHA-256 of the bytes it
// executes equals the pin the scope's catalog gives for that name. The check
// cannot be raced: on Linux the binary is copied, while being hashed, into a
// sealed memfd and that memfd is executed (/proc/self/fd/N), so the bytes
// hashed are the bytes run; on Windows the file is held open with sharing
// that forbids writing, renaming and deleting it from the hash until the
// process has started (see sandbox_windows.go).
//
// Every plugin process gets mutual TLS on its channel (go-plugin AutoMTLS),
// an empty environment (SkipHostEnv), a start timeout, a per-call deadline
// plus a kill grace, a per-plugin concurrency limit and OS containment:
// Linux — its own process group and PID namespace (when the runner may
// create one), SIGKILL on parent death, rlimits on address space, CPU time,
// processes and open files, optionally another user; Windows — a job object
// that kills the plugin when the runner's handle closes, with memory and
// active-process limits. A crashed plugin fails its call and is restarted,
// with exponential backoff, on next use; a plugin that does not answer by
// its deadline plus grace is killed. Every failure path kills the child.
// Plugin stderr is re-emitted through the runner's slog logger with the
// plugin's name.
//
// With Config.Credentials set, a plugin that declares a required credential
// key (sdk.Info.Credentials) missing from its section is stopped at start
// with ErrMissingCredentials, naming the plugin, section, keys and file.
// Status reports each pinned plugin's state (ready, stopped, crashed,
// refused) for the runner's health; Preflight starts them all in the
// background so that a refusal shows before an action needs the plugin.
package pluginhost
