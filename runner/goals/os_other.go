//go:build !windows

package goals

const isWindows = false
