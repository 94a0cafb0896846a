package model

import (
	"strings"
	"testing"
)

func TestSchemaValidate(t *testing.T) {
	cleanup := `{"type":"object","properties":{"path":{"type":"string","pattern":"^[A-Z]:\\\\"},"max_mb":{"type":"integer","minimum":1,"maximum":10240},"kinds":{"type":"array","items":{"enum":["temp","logs"]},"maxItems":2},"force":{"type":"boolean"}},"required":["path"],"additionalProperties":false}`
	s, err := compileSchema([]byte(cleanup))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		value string
		err   string // "" = valid
	}{
		{`{"path":"C:\\temp"}`, ""},
		{`{"path":"C:\\temp","max_mb":500,"kinds":["temp","logs"],"force":false}`, ""},
		{`{"path":"C:\\temp","max_mb":5e2}`, ""},
		{`{}`, `missing required "path"`},
		{`{"path":"/tmp"}`, "does not match pattern"},
		{`{"path":"C:\\","max_mb":0}`, "out of range"},
		{`{"path":"C:\\","max_mb":1.5}`, "want integer"},
		{`{"path":"C:\\","kinds":["temp","logs","temp"]}`, "3 items"},
		{`{"path":"C:\\","kinds":["windows"]}`, "not among"},
		{`{"path":"C:\\","force":"yes"}`, "want boolean"},
		{`{"path":"C:\\","extra":1}`, `unexpected property "extra"`},
		{`[]`, "want object"},
	} {
		v, err := decodeValue([]byte(tc.value))
		if err != nil {
			t.Fatalf("%s: %v", tc.value, err)
		}
		err = s.validate(v)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.value, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: err = %v, want %q", tc.value, err, tc.err)
		}
	}
}

func TestSchemaCompileRejects(t *testing.T) {
	for _, bad := range []string{
		`[]`,
		`{"type":"object","$ref":"#/x"}`,
		`{"oneOf":[{"type":"string"}]}`,
		`{"type":"strin"}`,
		`{"type":"object","additionalProperties":{"type":"string"}}`,
		`{"type":"string","pattern":"("}`,
		`{"type":"string","maxLength":-1}`,
		`{"enum":[]}`,
		`{"type":"object"} {}`,
		strings.Repeat(`{"items":`, 40) + `{}` + strings.Repeat(`}`, 40),
	} {
		if _, err := compileSchema([]byte(bad)); err == nil {
			t.Errorf("compiled %s", bad)
		}
	}
}

func TestDecodeValueRejects(t *testing.T) {
	for _, bad := range []string{``, `{`, `{"a":1,"a":2}`, `1 2`, `{"a":}`, strings.Repeat("[", 100) + strings.Repeat("]", 100)} {
		if _, err := decodeValue([]byte(bad)); err == nil {
			t.Errorf("decoded %q", bad)
		}
	}
}
