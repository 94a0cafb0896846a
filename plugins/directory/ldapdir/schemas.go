package ldapdir

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
)

// JSON Schemas of the operations (the SDK's draft 2020-12 subset).

const userProps = `"user": {"type": "string", "minLength": 1, "maxLength": 1024,
    "description": "the account: a login (uid / sAMAccountName / user@domain UPN), a mail address or a DN, as 'by' says"},
  "by": {"type": "string", "enum": ["login", "mail", "dn"], "description": "how 'user' names the account; default login"}`

const guardProps = `"refuse_if_member_of": {"type": "array", "maxItems": 32,
    "items": {"type": "string", "minLength": 1, "maxLength": 1024},
    "description": "group DNs (policy-supplied); the call is refused if the user is a member, directly or through nesting"}`

var (
	schemaUserParams = json.RawMessage(`{"type": "object", "additionalProperties": false, "required": ["user"],
  "properties": {` + userProps + `}}`)
	schemaGuardedParams = json.RawMessage(`{"type": "object", "additionalProperties": false, "required": ["user"],
  "properties": {` + userProps + `, ` + guardProps + `}}`)
	schemaResetParams = json.RawMessage(`{"type": "object", "additionalProperties": false, "required": ["user"],
  "properties": {` + userProps + `, ` + guardProps + `,
  "must_change": {"type": "boolean", "description": "force a change at next logon (default true)"},
  "unlock": {"type": "boolean", "description": "also clear a lockout (AD; OpenLDAP always clears it on reset)"},
  "length": {"type": "integer", "minimum": 16, "maximum": 64, "description": "generated password length (default 20)"}}}`)
)

const (
	strField  = `{"type": "string", "maxLength": 4096}`
	timeField = `{"type": "string", "maxLength": 64, "description": "RFC 3339 UTC, empty when unknown"}`
	flavorFld = `{"type": "string", "enum": ["openldap", "ad"]}`
)

func objectSchema(props map[string]string) json.RawMessage {
	var b strings.Builder
	b.WriteString(`{"type": "object", "additionalProperties": false, "required": [`)
	first := true
	for _, k := range slices.Sorted(maps.Keys(props)) {
		if !first {
			b.WriteString(", ")
		}
		first = false
		b.WriteString(`"` + k + `"`)
	}
	b.WriteString(`], "properties": {`)
	first = true
	for _, k := range slices.Sorted(maps.Keys(props)) {
		if !first {
			b.WriteString(", ")
		}
		first = false
		b.WriteString(`"` + k + `": ` + props[k])
	}
	b.WriteString(`}}`)
	return json.RawMessage(b.String())
}

var (
	schemaAccount = objectSchema(map[string]string{
		"dn": strField, "login": strField, "mail": strField, "display_name": strField, "flavor": flavorFld,
	})
	schemaStatus = objectSchema(map[string]string{
		"dn": strField, "flavor": flavorFld, "locked": `{"type": "boolean"}`, "locked_at": timeField,
		"disabled": `{"type": "boolean"}`, "password_must_change": `{"type": "boolean"}`,
		"password_changed_at": timeField, "password_expires_at": timeField,
		"password_never_expires": `{"type": "boolean"}`, "last_logon_at": timeField,
		"failed_attempts": `{"type": "integer", "minimum": 0}`,
	})
	schemaUnlock = objectSchema(map[string]string{
		"dn": strField, "was_locked": `{"type": "boolean"}`, "locked": `{"type": "boolean"}`,
	})
	schemaReset = objectSchema(map[string]string{
		"dn": strField, "must_change": `{"type": "boolean"}`, "unlocked": `{"type": "boolean"}`,
		"secret": `{"type": "string", "enum": ["password"], "description": "the key of Result.Secrets holding the one-time password"}`,
	})
	schemaVerify = objectSchema(map[string]string{
		"dn": strField, "valid": `{"type": "boolean"}`,
		"outcome": `{"type": "string", "enum": ["` + strings.Join(bindOutcomes, `", "`) + `"]}`,
	})
	schemaGroups = objectSchema(map[string]string{
		"dn": strField, "truncated": `{"type": "boolean"}`,
		"groups": `{"type": "array", "maxItems": 10000, "items": ` + string(objectSchema(map[string]string{
			"dn": strField, "name": strField,
		})) + `}`,
	})
)
