//go:build !windows

package cli

// exeSuffix ends a plugin binary's file name.
const exeSuffix = ""
