package config

import (
	"os"
	"path/filepath"
)

func programData() string {
	if d := os.Getenv("ProgramData"); d != "" {
		return d
	}
	return `C:\ProgramData`
}

// DefaultConfigDir is %ProgramData%\Sitewarden.
func DefaultConfigDir() string { return filepath.Join(programData(), "Sitewarden") }

// DefaultStateDir is %ProgramData%\Sitewarden\state.
func DefaultStateDir() string { return filepath.Join(programData(), "Sitewarden", "state") }
