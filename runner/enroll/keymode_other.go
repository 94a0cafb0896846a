//go:build !windows

package enroll

import (
	"fmt"
	"os"
)

// checkKeyMode refuses a key file others can read or write.
func checkKeyMode(path string, fi os.FileInfo) error {
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		return fmt.Errorf("%w: %s has mode %04o, others can read it; run 'chmod 600 %s' (and consider the key exposed)", ErrBadAuditKey, path, m, path)
	}
	return nil
}
