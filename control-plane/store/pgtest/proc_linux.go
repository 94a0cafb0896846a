package pgtest

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// runAs returns process attributes that run the server as uid/gid and kill
// it with the test binary, even on SIGKILL.
func runAs(uid, gid int) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if uid >= 0 {
		a.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	return a
}

// serverUser returns the uid and gid to run PostgreSQL as: -1 (the current
// user) unless running as root, then the postgres system user.
func serverUser() (uid, gid int, err error) {
	if os.Geteuid() != 0 {
		return -1, -1, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return 0, 0, fmt.Errorf("pgtest: running as root needs the postgres system user (created by the Debian postgresql package; run .ci/deps.sh): %w", err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid, nil
}

func chown(path string, uid, gid int) error {
	if uid < 0 {
		return nil
	}
	return os.Chown(path, uid, gid)
}

func stopSignal() os.Signal { return syscall.SIGINT } // fast shutdown
