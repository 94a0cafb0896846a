//go:build !linux

package sambatest

import (
	"os"
	"syscall"
)

// sysProcAttr: samba AD DC is a Linux-only test server; other systems compile the
// harness but have no samba to start.
func sysProcAttr() *syscall.SysProcAttr { return nil }

func terminateSignal() os.Signal { return os.Kill }
