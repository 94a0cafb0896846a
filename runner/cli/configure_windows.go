package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/windows"

	"github.com/sitewarden/sitewarden/runner/config"
	"github.com/sitewarden/sitewarden/runner/service"
)

// dataDirSDDL gives SYSTEM and Administrators full control of the data
// directory and its contents, and nobody else anything: the protected DACL
// drops what %ProgramData% would pass down (Users: read).
const dataDirSDDL = "D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"

// restrictDir limits the default data directory (%ProgramData%\Sitewarden),
// where the token, the configuration and the state live, to SYSTEM and
// Administrators. Another directory is left as its owner set it.
func restrictDir(dir string) error {
	if !strings.EqualFold(filepath.Clean(dir), filepath.Clean(config.DefaultConfigDir())) {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	sd, err := windows.SecurityDescriptorFromString(dataDirSDDL)
	if err != nil {
		return fmt.Errorf("data directory ACL: %w", err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("data directory ACL: %w", err)
	}
	err = windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
	if err != nil {
		return fmt.Errorf("limit %s to SYSTEM and Administrators: %w; run as an administrator", dir, err)
	}
	return nil
}

func setServiceRecovery() error {
	return service.SetRecovery(service.DefaultConfig("").Name)
}
