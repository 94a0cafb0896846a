package audit

import "errors"

// Sentinel errors. Callers match them with errors.Is.
var (
	// ErrClosed means the log was closed; the record was not written.
	ErrClosed = errors.New("audit log is closed")
	// ErrReadOnly means the log was opened without a signing key, for
	// reading and export only.
	ErrReadOnly = errors.New("audit log is open read-only (no signing key)")
	// ErrFailed means an earlier write failed and the log refuses further
	// appends until it is reopened (fail closed).
	ErrFailed = errors.New("audit log failed; reopen it to recover")
	// ErrWrongClient means a record names another client or site than the
	// log's.
	ErrWrongClient = errors.New("audit record is for another client or site")
	// ErrWrongLog means the directory holds another site's log or was
	// created with another signing key.
	ErrWrongLog = errors.New("audit directory holds another log")
	// ErrCorrupt means the segment files and the index disagree in a way a
	// crash cannot explain (files removed or altered).
	ErrCorrupt = errors.New("audit log is corrupt")
	// ErrLocked means another process has the log open.
	ErrLocked = errors.New("audit log is open in another process")
	// ErrRange means a requested index range is empty, reversed or beyond
	// the log.
	ErrRange = errors.New("audit index range is invalid")
	// ErrNoLog means a read-only Open found no log in the directory.
	ErrNoLog = errors.New("no audit log in directory")
	// ErrNoRecords means an export found no records to write.
	ErrNoRecords = errors.New("no audit records in range")
)
