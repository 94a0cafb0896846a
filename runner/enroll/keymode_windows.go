package enroll

import (
	"os"
)

// checkKeyMode has nothing to check on Windows: POSIX modes do not apply;
// access is governed by the state directory's ACL.
func checkKeyMode(string, os.FileInfo) error { return nil }
