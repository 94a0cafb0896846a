package audit

import "syscall"

// syncDir makes a directory's entries durable on Windows: FlushFileBuffers
// on a directory handle opened with FILE_FLAG_BACKUP_SEMANTICS and write
// access. NTFS journals file creation; this flush forces the journal out.
func syncDir(dir string) error {
	p, err := syscall.UTF16PtrFromString(dir)
	if err != nil {
		return err
	}
	h, err := syscall.CreateFile(p, syscall.GENERIC_READ|syscall.GENERIC_WRITE,
		syscall.FILE_SHARE_READ|syscall.FILE_SHARE_WRITE|syscall.FILE_SHARE_DELETE, nil,
		syscall.OPEN_EXISTING, syscall.FILE_FLAG_BACKUP_SEMANTICS, 0)
	if err != nil {
		return err
	}
	defer syscall.CloseHandle(h)
	return syscall.FlushFileBuffers(h)
}
