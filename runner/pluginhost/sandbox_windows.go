package pluginhost

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Windows containment, in design:
//
//   - Pin check without a race: the binary is opened with CreateFile and a
//     share mode of FILE_SHARE_READ only, so while the host holds that handle
//     nobody can open the file for writing, rename it or delete it
//     (sharing violation). The host hashes the file through that handle,
//     compares with the pin, starts the process from the same path and only
//     then closes the handle: the bytes hashed are the bytes the loader maps.
//   - Job object: every plugin gets its own job, created before the process
//     starts, with JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE (the runner holds the
//     only handle, so when the runner dies for any reason the kernel closes
//     it and kills every process in the job: no orphans), a job memory limit
//     (Limits.MemoryBytes), an active-process limit (Limits.Processes), a
//     per-process user-time limit (Limits.CPUSeconds) and
//     DIE_ON_UNHANDLED_EXCEPTION (no error dialogs holding a hung process).
//   - No window before the job applies: the process is created suspended
//     (CREATE_SUSPENDED), assigned to the job, then resumed with
//     NtResumeProcess, so its first instruction already runs inside the job
//     and anything it starts is in the job too.
//   - go-plugin talks over loopback TCP on Windows; AutoMTLS makes that
//     channel mutually authenticated, so another local process cannot call
//     or impersonate the plugin.
//   - RunAs is not offered: run the runner service under a low-privilege
//     virtual account (NT SERVICE\sitewarden-runner) instead.

const exeSuffix = ".exe"

// maxBinaryBytes bounds a plugin binary.
const maxBinaryBytes = 512 << 20

func defaultPluginDir() string {
	pf := os.Getenv("ProgramFiles")
	if pf == "" {
		pf = `C:\Program Files`
	}
	return filepath.Join(pf, "Sitewarden", "plugins")
}

func validateOS(c Config) error {
	if c.RunAs != nil {
		return errors.New("pluginhost: RunAs is Linux-only; on Windows run the runner service under a low-privilege account")
	}
	if c.IsolatePIDs {
		return errors.New("pluginhost: IsolatePIDs is Linux-only; on Windows the job object contains every process a plugin starts")
	}
	return nil
}

// pinnedBinary is the verified file, held open without write or delete
// sharing until the process has started.
type pinnedBinary struct {
	execPath string
	f        *os.File
}

func (b *pinnedBinary) release() { _ = b.f.Close() }

func openPinned(path, pin, name string) (*pinnedBinary, error) {
	p16, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	h, err := windows.CreateFile(p16, windows.GENERIC_READ, windows.FILE_SHARE_READ, nil,
		windows.OPEN_EXISTING, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: open without write sharing: %w", ErrNotFound, path, err)
	}
	f := os.NewFile(uintptr(h), path)
	hash := sha256.New()
	n, err := io.Copy(hash, io.LimitReader(f, maxBinaryBytes+1))
	if err != nil || n > maxBinaryBytes {
		f.Close()
		return nil, fmt.Errorf("%w: %s: read binary (%d bytes): %v", ErrStart, name, n, err)
	}
	if got := hex.EncodeToString(hash.Sum(nil)); got != pin {
		f.Close()
		return nil, fmt.Errorf("%w: %s has SHA-256 %s, the catalog pins %s; it was not started (reinstall the plugin or update the catalog)", ErrPinMismatch, path, got, pin)
	}
	return &pinnedBinary{execPath: path, f: f}, nil
}

func containCmd(cmd *exec.Cmd, _ Config) {
	cmd.SysProcAttr = &syscall.SysProcAttr{
		CreationFlags: windows.CREATE_SUSPENDED | windows.CREATE_NEW_PROCESS_GROUP,
		HideWindow:    true,
	}
}

// containment is the plugin's job object.
type containment struct{ job windows.Handle }

func (c *containment) kill() error { return windows.TerminateJobObject(c.job, 1) }

func (c *containment) release() { _ = windows.CloseHandle(c.job) }

func newJob(l Limits) (windows.Handle, error) {
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return 0, fmt.Errorf("create job object: %w", err)
	}
	var info windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION
	flags := uint32(windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | windows.JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION)
	if l.MemoryBytes > 0 {
		flags |= windows.JOB_OBJECT_LIMIT_JOB_MEMORY
		info.JobMemoryLimit = uintptr(l.MemoryBytes)
	}
	if l.Processes > 0 {
		flags |= windows.JOB_OBJECT_LIMIT_ACTIVE_PROCESS
		info.BasicLimitInformation.ActiveProcessLimit = uint32(l.Processes)
	}
	if l.CPUSeconds > 0 {
		flags |= windows.JOB_OBJECT_LIMIT_PROCESS_TIME
		info.BasicLimitInformation.PerProcessUserTimeLimit = int64(l.CPUSeconds) * 10_000_000 // 100 ns units
	}
	info.BasicLimitInformation.LimitFlags = flags
	if _, err := windows.SetInformationJobObject(job, windows.JobObjectExtendedLimitInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))); err != nil {
		windows.CloseHandle(job)
		return 0, fmt.Errorf("set job limits: %w", err)
	}
	return job, nil
}

// startContained creates the process suspended, puts it in a fresh job
// and resumes it.
func startContained(cmd *exec.Cmd, cfg Config, _ <-chan struct{}) (*containment, error) {
	job, err := newJob(cfg.Limits)
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		windows.CloseHandle(job)
		return nil, err
	}
	fail := func(err error) (*containment, error) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		windows.CloseHandle(job)
		return nil, err
	}
	ph, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE|windows.PROCESS_SUSPEND_RESUME,
		false, uint32(cmd.Process.Pid))
	if err != nil {
		return fail(fmt.Errorf("open plugin process: %w", err))
	}
	defer windows.CloseHandle(ph)
	if err := windows.AssignProcessToJobObject(job, ph); err != nil {
		return fail(fmt.Errorf("assign plugin to job object: %w", err))
	}
	resume := windows.NewLazySystemDLL("ntdll.dll").NewProc("NtResumeProcess")
	if st, _, _ := resume.Call(uintptr(ph)); st != 0 {
		return fail(fmt.Errorf("resume plugin: NTSTATUS %#x", st))
	}
	return &containment{job: job}, nil
}

// prepareWorkDir creates the plugin's working directory.
func prepareWorkDir(dir string, _ *RunAs) error { return os.MkdirAll(dir, 0o700) }
