package slapdtest

import (
	"os"
	"syscall"
)

// sysProcAttr makes slapd die with the test binary, even on SIGKILL.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

func terminateSignal() os.Signal { return syscall.SIGTERM }
