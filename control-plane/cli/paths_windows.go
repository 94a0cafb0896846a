package cli

import (
	"os"
	"path/filepath"
)

func defaultStateDir() string {
	d := os.Getenv("ProgramData")
	if d == "" {
		d = `C:\ProgramData`
	}
	return filepath.Join(d, "Sitewarden", "control-plane")
}
