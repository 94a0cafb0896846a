package msi

import (
	"context"
	"fmt"
	"strings"
)

// What wixl cannot express, added with msibuild (SQL on the built package).
const (
	// DataDirSDDL limits %ProgramData%\Sitewarden (config, token, state) to
	// SYSTEM and Administrators, inherited by everything in it; the
	// protected DACL drops what %ProgramData% passes down (Users: read).
	// Applied by Windows Installer 5 when CreateFolders creates the
	// directory; the runner's configure action sets the same ACL.
	DataDirSDDL = "D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"

	// msidbCustomActionTypeHideTarget keeps the configure action's command
	// line (it carries ENROLL_TOKEN) out of the installer's log; wixl does
	// not set it from HideTarget="yes".
	hideTarget = 0x2000

	// Custom action type of the configure action as wixl writes it:
	// 18 (exe from an installed file) + 1024 (deferred) + 2048 (no
	// impersonation: LocalSystem).
	configureType = 18 + 1024 + 2048
)

// eventMessageFile is the Event Log source's message file (REG_EXPAND_SZ).
const eventMessageFile = `%SystemRoot%\System32\EventCreate.exe`

// Sequence numbers wixl gets wrong (it places After= actions at the end of
// its list) or cannot set (MajorUpgrade's Schedule attribute).
var sequence = map[string]int{
	// Remove the old version first, right after InstallInitialize: an
	// upgrade is then an uninstall (service stopped and deleted, binaries
	// removed, data kept) followed by a clean install, and file-version
	// rules never decide which binary stays.
	"RemoveExistingProducts": 1510,
	// After DeleteServices (2000), before RemoveFiles (3500): the runner
	// binary that runs it is still there, the service is stopped.
	"PurgeData": 2010,
	// After InstallServices (5800), before StartServices (5900).
	"ConfigureRunner": 5810,
}

// SecureProperties may be passed from the command line to the
// installation's server side (per-machine installs).
var SecureProperties = []string{"CONTROL_PLANE", "ENROLL_TOKEN", "PROXY", "LOG_LEVEL", "SITE_NAME", "INSTALLDIR", "PURGE"}

// postProcess edits the package wixl built: file versions, sequences, the
// configure action's HideTarget bit, secure properties and the data
// directory's ACL.
func postProcess(ctx context.Context, dir, path, version string) error {
	files, err := ReadTable(ctx, path, "File")
	if err != nil {
		return err
	}
	props, err := ReadTable(ctx, path, "Property")
	if err != nil {
		return err
	}
	secure := ""
	for _, p := range props {
		if p["Property"] == "SecureCustomProperties" {
			secure = p["Value"]
		}
	}
	if secure == "" {
		return fmt.Errorf("msi: wixl wrote no SecureCustomProperties; the WiX source must keep MajorUpgrade")
	}
	var q []string
	// The binaries carry no version resource yet (Go does not write one),
	// so wixl leaves File.Version empty and hashes them instead; each gets
	// the product version, the version of the build that made it.
	for _, f := range files {
		q = append(q,
			fmt.Sprintf("UPDATE `File` SET `Version` = '%s.0' WHERE `File` = '%s'", version, f["File"]),
			fmt.Sprintf("DELETE FROM `MsiFileHash` WHERE `File_` = '%s'", f["File"]))
	}
	for action, n := range sequence {
		q = append(q, fmt.Sprintf("UPDATE `InstallExecuteSequence` SET `Sequence` = %d WHERE `Action` = '%s'", n, action))
	}
	// wixl writes Type="expandable" as a plain string; "#%" makes it
	// REG_EXPAND_SZ, which the Event Log needs to expand %SystemRoot%.
	q = append(q, "UPDATE `Registry` SET `Value` = '#%"+eventMessageFile+"' WHERE `Name` = 'EventMessageFile'")
	q = append(q,
		fmt.Sprintf("UPDATE `CustomAction` SET `Type` = %d WHERE `Action` = 'ConfigureRunner'", configureType|hideTarget),
		fmt.Sprintf("UPDATE `Property` SET `Value` = '%s;%s' WHERE `Property` = 'SecureCustomProperties'", secure, strings.Join(SecureProperties, ";")),
		"CREATE TABLE `MsiLockPermissionsEx` (`MsiLockPermissionsEx` CHAR(72) NOT NULL, `LockObject` CHAR(72) NOT NULL, `Table` CHAR(32) NOT NULL, `SDDLText` LONGCHAR NOT NULL, `Condition` CHAR(255) PRIMARY KEY `MsiLockPermissionsEx`)",
		fmt.Sprintf("INSERT INTO `MsiLockPermissionsEx` (`MsiLockPermissionsEx`, `LockObject`, `Table`, `SDDLText`) VALUES ('DataDirAcl', 'DATADIR', 'CreateFolder', '%s')", DataDirSDDL),
	)
	args := []string{path}
	for _, s := range q {
		args = append(args, "-q", s)
	}
	_, err = tool(ctx, dir, "msibuild", args...)
	return err
}
