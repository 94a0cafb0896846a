package goals

// isWindows: file modes are advisory there; the state directory's ACL
// (SYSTEM and Administrators only, set by the installer) protects the
// outcome and secret files.
const isWindows = true
