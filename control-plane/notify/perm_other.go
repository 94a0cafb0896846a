//go:build !windows

package notify

import (
	"fmt"
	"io/fs"
)

// checkPrivate refuses a file that group or others may read or write.
func checkPrivate(fi fs.FileInfo) error {
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		return fmt.Errorf("%w (mode %04o): it holds webhook tokens and secrets; run chmod 600 on it", ErrFilePermissions, m)
	}
	return nil
}
