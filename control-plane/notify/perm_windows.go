package notify

import "io/fs"

// checkPrivate does nothing on Windows: mode bits do not describe access
// there; protect the file with an ACL (docs/notify.md).
func checkPrivate(fs.FileInfo) error { return nil }
