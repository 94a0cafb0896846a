package audit

import (
	"os"
	"path/filepath"
)

// defaultDir is where the runner keeps its audit log on Windows:
// %ProgramData%\Sitewarden\audit.
func defaultDir() string {
	base := os.Getenv("ProgramData")
	if base == "" {
		base = `C:\ProgramData`
	}
	return filepath.Join(base, "Sitewarden", "audit")
}
