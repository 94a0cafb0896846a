//go:build !windows

package audit

import "os"

// syncDir makes a directory's entries (a newly created segment) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
