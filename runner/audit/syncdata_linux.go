package audit

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// syncData flushes f's data to stable storage. Segments are preallocated
// and zero-filled, so their size never changes while records are written
// and fdatasync need not flush any metadata.
func syncData(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}

// writeSynced writes buf at off and makes it durable with one
// pwritev2(RWF_DSYNC) system call (Linux 4.7+): the same guarantee as a
// pwrite followed by fdatasync, without the second call. On kernels or
// file systems without RWF_DSYNC it falls back to exactly that.
func writeSynced(f *os.File, buf []byte, off int64) error {
	fd := int(f.Fd())
	for len(buf) > 0 {
		n, err := unix.Pwritev2(fd, [][]byte{buf}, off, unix.RWF_DSYNC)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL):
			return writeThenSync(f, buf, off)
		case err != nil:
			return err
		case n == 0:
			return io.ErrShortWrite
		}
		buf, off = buf[n:], off+int64(n)
	}
	return nil
}

// writeThenSync is writeSynced in two calls: pwrite, then fdatasync.
func writeThenSync(f *os.File, buf []byte, off int64) error {
	if _, err := f.WriteAt(buf, off); err != nil {
		return err
	}
	if err := syncData(f); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	return nil
}
