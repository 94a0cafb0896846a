package sdk

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustSchema(t *testing.T, path string) *Schema {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := CompileSchema(raw)
	if err != nil {
		t.Fatalf("compile %s: %v", path, err)
	}
	return s
}

func TestSchemaValidate(t *testing.T) {
	acct := mustSchema(t, "testdata/schemas/account.json")
	nested := mustSchema(t, "testdata/schemas/nested.json")
	tests := []struct {
		name   string
		s      *Schema
		doc    string
		errSub string // "" = valid
	}{
		{"minimal", acct, `{"login":"dana"}`, ""},
		{"full", acct, `{"login":"dana.k","by":"mail","days":30,"roots":["/tmp"],"dry_run":true,"ratio":null}`, ""},
		{"integer as 30.0", acct, `{"login":"dana","days":30.0}`, ""},
		{"number accepts integer", acct, `{"login":"dana","ratio":3}`, ""},
		{"missing required", acct, `{}`, `required property "login"`},
		{"extra property", acct, `{"login":"dana","evil":1}`, `"evil" is not allowed`},
		{"wrong type", acct, `{"login":5}`, "at /login: got integer, want string"},
		{"not an object", acct, `[]`, "got array, want object"},
		{"empty string", acct, `{"login":""}`, "fewer than minLength"},
		{"too long", acct, `{"login":"` + strings.Repeat("a", 65) + `"}`, "more than maxLength"},
		{"pattern", acct, `{"login":"Dana"}`, "does not match pattern"},
		{"enum", acct, `{"login":"dana","by":"uid"}`, "not one of"},
		{"fraction is not integer", acct, `{"login":"dana","days":1.5}`, "got number, want integer"},
		{"minimum", acct, `{"login":"dana","days":0}`, "less than minimum"},
		{"maximum", acct, `{"login":"dana","days":4000}`, "greater than maximum"},
		{"minItems", acct, `{"login":"dana","roots":[]}`, "fewer than minItems"},
		{"maxItems", acct, `{"login":"dana","roots":["a","b","c","d","e","f","g","h","i"]}`, "more than maxItems"},
		{"items", acct, `{"login":"dana","roots":["a",1]}`, "at /roots/1"},
		{"trailing data", acct, `{"login":"dana"} {}`, "data after the value"},
		{"not json", acct, `{login}`, "not valid JSON"},
		{"additionalProperties schema ok", nested, `{"a":{"x":1,"y":2}}`, ""},
		{"additionalProperties schema", nested, `{"a":{"x":"1"}}`, "at /a/x"},
		{"const deep equal", nested, `{"c":{"x":[1,2]}}`, ""},
		{"const mismatch", nested, `{"c":{"x":[1,3]}}`, "not one of"},
		{"too deep", nested, strings.Repeat("[", 100) + strings.Repeat("]", 100), "nested more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Validate(json.RawMessage(tt.doc))
			if tt.errSub == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrSchemaViolation) || !strings.Contains(err.Error(), tt.errSub) {
				t.Fatalf("want ErrSchemaViolation containing %q, got %v", tt.errSub, err)
			}
		})
	}
}

func TestSchemaViolationQuotesNoValue(t *testing.T) {
	s := mustSchema(t, "testdata/schemas/account.json")
	err := s.Validate(json.RawMessage(`{"login":"Sup3rSecretValue"}`))
	if err == nil || strings.Contains(err.Error(), "Sup3rSecretValue") {
		t.Fatalf("error must not quote the value: %v", err)
	}
}

func TestCompileSchemaRejects(t *testing.T) {
	tests := []struct{ name, schema, errSub string }{
		{"unsupported keyword", `{"oneOf":[]}`, `keyword "oneOf"`},
		{"unknown type", `{"type":"int"}`, `unknown type "int"`},
		{"bad pattern", `{"pattern":"("}`, "does not compile"},
		{"negative count", `{"minLength":-1}`, "non-negative integer"},
		{"not a schema", `"string"`, "object or a boolean"},
		{"nested unsupported", `{"properties":{"a":{"anyOf":[]}}}`, "at /properties/a/anyOf"},
		{"min over max", `{"minimum":5,"maximum":1}`, "greater than maximum"},
		{"empty", ``, "not valid JSON"},
		{"empty enum", `{"enum":[]}`, "non-empty array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CompileSchema(json.RawMessage(tt.schema))
			if err == nil || !errors.Is(err, ErrInvalidSchema) || !strings.Contains(err.Error(), tt.errSub) {
				t.Fatalf("want ErrInvalidSchema containing %q, got %v", tt.errSub, err)
			}
		})
	}
}

func TestSchemaBooleanSchemas(t *testing.T) {
	never, err := CompileSchema(json.RawMessage(`{"properties":{"x":false}}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := never.Validate(json.RawMessage(`{"x":1}`)); err == nil {
		t.Fatal("false schema accepted a value")
	}
	if err := never.Validate(json.RawMessage(`{"y":1}`)); err != nil {
		t.Fatalf("unexpected: %v", err)
	}
}

// FuzzSchema compiles fuzzed schemas and validates fuzzed documents
// against them: neither may panic, and a compiled schema validates the
// same document the same way twice.
func FuzzSchema(f *testing.F) {
	files, _ := filepath.Glob("testdata/schemas/*.json")
	for _, p := range files {
		raw, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw, []byte(`{"login":"dana","days":3,"roots":["a"],"a":{"b":1}}`))
	}
	f.Fuzz(func(t *testing.T, schema, doc []byte) {
		s, err := CompileSchema(schema)
		if err != nil {
			if !errors.Is(err, ErrInvalidSchema) {
				t.Fatalf("compile error does not wrap ErrInvalidSchema: %v", err)
			}
			return
		}
		err1 := s.Validate(doc)
		err2 := s.Validate(doc)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("validation is not deterministic: %v vs %v", err1, err2)
		}
		if err1 != nil && !errors.Is(err1, ErrSchemaViolation) {
			t.Fatalf("validation error does not wrap ErrSchemaViolation: %v", err1)
		}
	})
}
