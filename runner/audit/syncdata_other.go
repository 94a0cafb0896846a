//go:build !linux

package audit

import "os"

// syncData flushes f to stable storage: File.Sync is fsync on Unix systems
// and FlushFileBuffers on Windows, which (unlike Badger's msync there)
// reaches the disk.
func syncData(f *os.File) error { return f.Sync() }

// writeSynced writes buf at off, then syncs the file.
func writeSynced(f *os.File, buf []byte, off int64) error {
	if _, err := f.WriteAt(buf, off); err != nil {
		return err
	}
	return syncData(f)
}
