package sync

// syncDir is a no-op on Windows: NTFS journals the rename itself and a
// directory handle cannot be flushed.
func syncDir(string) error { return nil }
