//go:build !linux

package pgtest

import (
	"os"
	"syscall"
)

// The test server is started from Debian packages; other systems compile
// the harness but run it as the current user only.
func runAs(int, int) *syscall.SysProcAttr { return nil }

func serverUser() (uid, gid int, err error) { return -1, -1, nil }

func chown(string, int, int) error { return nil }

func stopSignal() os.Signal { return os.Kill }
