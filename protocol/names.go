package protocol

// MaxNameLen bounds a tenant, client or site name, in bytes.
const MaxNameLen = 63

// ValidName reports whether s may name a tenant, client or site: 1 to
// MaxNameLen ASCII letters, digits, '-', '_' or '.'. Both sides use it:
// the control plane for the names in a site certificate, the runner for the
// site name it asks a fleet token to enroll.
func ValidName(s string) bool {
	if s == "" || len(s) > MaxNameLen {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}

// NameRule says in words what ValidName accepts, for error messages.
const NameRule = "use 1-63 letters, digits, '-', '_' or '.'"
