package pluginhost

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const exeSuffix = ""

// maxBinaryBytes bounds a plugin binary.
const maxBinaryBytes = 512 << 20

func defaultPluginDir() string { return "/usr/lib/sitewarden/plugins" }

func validateOS(c Config) error {
	if c.RunAs != nil && os.Geteuid() != 0 {
		return errors.New("pluginhost: RunAs needs the runner to run as root; unset it or run the runner as root")
	}
	if c.IsolatePIDs && os.Geteuid() != 0 {
		return errors.New("pluginhost: IsolatePIDs needs the runner to run as root; unset it or run the runner as root")
	}
	return nil
}

// pinnedBinary is the verified program, ready to execute.
//
// Linux closes go-plugin SecureConfig's check-then-exec gap like this: the
// file is opened once and copied, while being hashed, into an anonymous
// memfd, which is then sealed against any further write, grow or shrink.
// Only if the hash equals the pin is the memfd executed, by the path
// /proc/self/fd/N, which the child resolves to the same sealed memfd it
// inherited. Renaming, replacing or rewriting the file on disk after the
// copy changes nothing that runs. The memfd is reopened read-only before
// exec because execve refuses a file that is open for writing (ETXTBSY).
type pinnedBinary struct {
	execPath string
	fd       *os.File
}

func (b *pinnedBinary) release() { _ = b.fd.Close() }

func openPinned(path, pin, name string) (*pinnedBinary, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	defer f.Close()
	mfd, err := unix.MemfdCreate("sitewarden-plugin-"+name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_EXEC)
	if errors.Is(err, unix.EINVAL) { // kernels before 6.3 do not know MFD_EXEC
		mfd, err = unix.MemfdCreate("sitewarden-plugin-"+name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: memfd_create: %w", ErrStart, name, err)
	}
	mem := os.NewFile(uintptr(mfd), "memfd:"+name)
	defer mem.Close()
	hash := sha256.New()
	n, err := io.CopyBuffer(io.MultiWriter(mem, hash), io.LimitReader(f, maxBinaryBytes+1), make([]byte, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: copy binary: %w", ErrStart, name, err)
	}
	if n > maxBinaryBytes {
		return nil, fmt.Errorf("%w: %s: binary larger than %d bytes", ErrStart, name, maxBinaryBytes)
	}
	if got := hex.EncodeToString(hash.Sum(nil)); got != pin {
		return nil, fmt.Errorf("%w: %s has SHA-256 %s, the catalog pins %s; it was not started (reinstall the plugin or update the catalog)", ErrPinMismatch, path, got, pin)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(mfd), unix.F_ADD_SEALS, seals); err != nil {
		return nil, fmt.Errorf("%w: %s: seal memfd: %w", ErrStart, name, err)
	}
	ro, err := os.OpenFile("/proc/self/fd/"+strconv.Itoa(mfd), os.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: reopen memfd: %w", ErrStart, name, err)
	}
	return &pinnedBinary{execPath: "/proc/self/fd/" + strconv.Itoa(int(ro.Fd())), fd: ro}, nil
}

// containCmd sets what the kernel applies at fork: a new process group, a
// new PID namespace when configured (the plugin is its init, so everything
// it forks dies with it), SIGKILL when the starting thread dies, and the
// run-as user.
func containCmd(cmd *exec.Cmd, cfg Config) {
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if cfg.IsolatePIDs {
		attr.Cloneflags = syscall.CLONE_NEWPID
	}
	if cfg.RunAs != nil {
		attr.Credential = &syscall.Credential{Uid: cfg.RunAs.UID, Gid: cfg.RunAs.GID, Groups: []uint32{}}
	}
	cmd.SysProcAttr = attr
}

// containment is a started plugin's kill switch.
type containment struct{ pid int }

// kill sends SIGKILL to the plugin's process group (and so, with a PID
// namespace, to everything in it).
func (c *containment) kill() error {
	err := syscall.Kill(-c.pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

func (c *containment) release() {}

// startContained starts cmd from a goroutine locked to its own OS thread
// and keeps that thread alive until the plugin exits: Linux delivers the
// parent-death signal when the *thread* that forked exits, so starting from
// an arbitrary thread could kill the plugin early. The thread is never
// unlocked, so the Go runtime retires it when the goroutine ends.
//
// The rlimits must bind before the plugin runs its first instruction, and
// Go's fork cannot set them in the child. So the child is started traced
// (PTRACE_TRACEME, the last step before execve): the kernel stops it right
// after execve, the host applies the limits with prlimit, and detaches,
// which lets it run. Where ptrace is not allowed (some container seccomp
// profiles), the child is started normally and limited just after execve.
func startContained(cmd *exec.Cmd, cfg Config, exited <-chan struct{}) (*containment, error) {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err := startLimited(cmd, cfg)
		errc <- err
		if err == nil {
			<-exited
		}
	}()
	if err := <-errc; err != nil {
		return nil, err
	}
	return &containment{pid: cmd.Process.Pid}, nil
}

// startLimited starts cmd with its rlimits applied before it runs. It must
// run on a locked thread: ptrace requests come from the tracing thread.
func startLimited(cmd *exec.Cmd, cfg Config) error {
	traced := *cmd
	attr := *cmd.SysProcAttr
	attr.Ptrace = true
	traced.SysProcAttr = &attr
	err := startRetry(&traced)
	if errors.Is(err, syscall.EPERM) {
		// ptrace refused: start untraced and limit right after execve.
		if err := startRetry(cmd); err != nil {
			return err
		}
		if err := limitAs(cmd.Process.Pid, cfg.Limits, cfg.RunAs); err != nil {
			killAndReap(cmd)
			return err
		}
		return nil
	}
	if err != nil {
		return err
	}
	*cmd = traced
	pid := cmd.Process.Pid
	var ws syscall.WaitStatus
	for {
		_, err = syscall.Wait4(pid, &ws, 0, nil)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil || !ws.Stopped() {
		killAndReap(cmd)
		return fmt.Errorf("plugin did not stop after exec (status %v): %v", ws, err)
	}
	if err := limitAs(pid, cfg.Limits, cfg.RunAs); err != nil {
		killAndReap(cmd)
		return err
	}
	if err := syscall.PtraceDetach(pid); err != nil {
		killAndReap(cmd)
		return fmt.Errorf("release plugin after setting limits: %w", err)
	}
	return nil
}

func killAndReap(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

// startRetry starts cmd, retrying briefly on ETXTBSY: a process forked
// concurrently elsewhere in the runner may hold a copy of the memfd's
// writable descriptor until its own exec.
func startRetry(cmd *exec.Cmd) error {
	var err error
	for range 20 {
		c := *cmd // a failed Start may not be repeated on the same Cmd
		if err = c.Start(); err == nil {
			*cmd = c
			return nil
		}
		if !errors.Is(err, syscall.ETXTBSY) {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
	return err
}

// limitAs applies the rlimits to the plugin. prlimit on another user's
// process needs CAP_SYS_RESOURCE, which a root runner may lack (containers,
// hardened units); a process may always limit one with its own ids. So with
// RunAs, this thread alone (it is locked and dedicated to this plugin)
// takes the plugin's real and effective ids, keeping root as its saved id,
// applies the limits, and returns to root. Other threads of the runner are
// untouched: the raw setres[ug]id system calls act on the calling thread.
func limitAs(pid int, l Limits, runAs *RunAs) error {
	if runAs == nil {
		return applyRlimits(pid, l)
	}
	ruid, euid, _ := unix.Getresuid()
	rgid, egid, _ := unix.Getresgid()
	keep := ^uintptr(0) // -1: leave the saved id alone
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(runAs.GID), uintptr(runAs.GID), keep); e != 0 {
		return fmt.Errorf("switch thread to the plugin's group: %w", e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(runAs.UID), uintptr(runAs.UID), keep); e != 0 {
		unix.RawSyscall(unix.SYS_SETRESGID, uintptr(rgid), uintptr(egid), keep)
		return fmt.Errorf("switch thread to the plugin's user: %w", e)
	}
	err := applyRlimits(pid, l)
	_, _, e1 := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(ruid), uintptr(euid), keep)
	_, _, e2 := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(rgid), uintptr(egid), keep)
	if e1 != 0 || e2 != 0 {
		// The thread is never reused (it stays locked until it exits), so
		// this is reported, not fatal.
		err = errors.Join(err, fmt.Errorf("restore thread ids: %v %v", e1, e2))
	}
	return err
}

func applyRlimits(pid int, l Limits) error {
	set := func(res int, name string, soft, hard uint64) error {
		if soft == 0 {
			return nil
		}
		if err := unix.Prlimit(pid, res, &unix.Rlimit{Cur: soft, Max: hard}, nil); err != nil {
			return fmt.Errorf("set %s limit: %w", name, err)
		}
		return nil
	}
	return errors.Join(
		set(unix.RLIMIT_AS, "address space", l.MemoryBytes, l.MemoryBytes),
		set(unix.RLIMIT_CPU, "CPU time", l.CPUSeconds, l.CPUSeconds+5),
		set(unix.RLIMIT_NPROC, "process", l.Processes, l.Processes),
		set(unix.RLIMIT_NOFILE, "open file", l.OpenFiles, l.OpenFiles),
	)
}

// prepareWorkDir creates the plugin's working directory, private to the
// plugin's user.
func prepareWorkDir(dir string, runAs *RunAs) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	if runAs != nil {
		if err := os.Chmod(parentDir(dir), 0o711); err != nil {
			return err
		}
		return os.Chown(dir, int(runAs.UID), int(runAs.GID))
	}
	return nil
}
