package audit

import (
	"os"
	"syscall"
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
