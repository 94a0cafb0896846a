package sdk

import "errors"

// Sentinel errors. Client wraps them with the plugin's message, so callers
// test with errors.Is.
var (
	// ErrActionFailed: the plugin ran the operation and it failed. The
	// wrapped message comes from the plugin and is meant for supervisors.
	ErrActionFailed = errors.New("action failed")
	// ErrInvalidParams: the params do not match the operation's ParamsSchema;
	// the plugin's Execute never ran. Fix the params and call again.
	ErrInvalidParams = errors.New("params do not match the operation's schema")
	// ErrUnknownOperation: the plugin does not offer the operation; check the
	// name against Describe.
	ErrUnknownOperation = errors.New("unknown operation")
	// ErrInvalidResult: the plugin returned a result that violates its
	// ResultSchema or leaks a secret outside Result.Secrets. Do not use it.
	ErrInvalidResult = errors.New("plugin returned an invalid result")
	// ErrInvalidInfo: the plugin's Describe output is malformed (bad name,
	// schema that does not compile, unsupported API version, ...).
	ErrInvalidInfo = errors.New("plugin description is invalid")
	// ErrInvalidSchema: a JSON Schema uses a keyword or value the SDK's
	// subset does not support, or is not valid JSON.
	ErrInvalidSchema = errors.New("invalid JSON schema")
	// ErrSchemaViolation: a JSON document does not match its schema.
	ErrSchemaViolation = errors.New("document does not match schema")
)
