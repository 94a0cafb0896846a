//go:build !linux

package slapdtest

import (
	"os"
	"syscall"
)

// sysProcAttr: slapd is a Linux-only test server; other systems compile the
// harness but have no slapd to start.
func sysProcAttr() *syscall.SysProcAttr { return nil }

func terminateSignal() os.Signal { return os.Kill }
