package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// A schema is a compiled subset of JSON Schema, enough for plugin parameter
// schemas: type, properties, required, additionalProperties (boolean),
// enum, const, minLength, maxLength, pattern, minimum, maximum, items,
// minItems, maxItems, anyOf (oneOf, allOf, $ref and the rest are not
// supported). Annotations (title, description, default,
// examples, format, $schema, $id) are ignored. Any other keyword is an
// error: an unsupported constraint must not be silently dropped.
type schema struct {
	types      []string
	properties map[string]*schema
	propOrder  []string
	required   []string
	noExtra    bool
	enum       []string // canonical JSON of each allowed value
	minLength  int
	maxLength  int // -1: unbounded
	pattern    *regexp.Regexp
	minimum    *float64
	maximum    *float64
	items      *schema
	minItems   int
	maxItems   int // -1: unbounded
	anyOf      []*schema
}

// Bounds of what compileSchema and decodeValue accept.
const (
	maxSchemaDepth = 16
	maxSchemaBytes = 64 << 10
	maxValueDepth  = 32
)

var annotations = []string{"title", "description", "default", "examples", "format", "$schema", "$id", "$comment"}

// compileSchema parses a JSON schema document.
func compileSchema(raw []byte) (*schema, error) {
	if len(raw) > maxSchemaBytes {
		return nil, fmt.Errorf("schema is %d bytes, more than %d", len(raw), maxSchemaBytes)
	}
	v, err := decodeValue(raw)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	return compileNode(v, 0)
}

func compileNode(v any, depth int) (*schema, error) {
	if depth > maxSchemaDepth {
		return nil, errors.New("schema nested too deeply")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("schema node is %s, want an object", kindOf(v))
	}
	s := &schema{maxLength: -1, maxItems: -1}
	for k, val := range m {
		var err error
		switch k {
		case "type":
			s.types, err = stringOrList(val)
			for _, t := range s.types {
				if !slices.Contains([]string{"object", "string", "integer", "number", "boolean", "array", "null"}, t) {
					err = fmt.Errorf("unknown type %q", t)
				}
			}
		case "properties":
			props, ok := val.(map[string]any)
			if !ok {
				return nil, errors.New("properties must be an object")
			}
			s.properties = make(map[string]*schema, len(props))
			for name, p := range props {
				if s.properties[name], err = compileNode(p, depth+1); err != nil {
					return nil, fmt.Errorf("property %q: %w", name, err)
				}
				s.propOrder = append(s.propOrder, name)
			}
			slices.Sort(s.propOrder)
		case "required":
			s.required, err = stringOrList(val)
		case "additionalProperties":
			b, ok := val.(bool)
			if !ok {
				return nil, errors.New("additionalProperties must be a boolean here")
			}
			s.noExtra = !b
		case "enum":
			list, ok := val.([]any)
			if !ok || len(list) == 0 {
				return nil, errors.New("enum must be a non-empty array")
			}
			for _, e := range list {
				s.enum = append(s.enum, canonical(e))
			}
		case "const":
			s.enum = []string{canonical(val)}
		case "minLength":
			s.minLength, err = count(val)
		case "maxLength":
			s.maxLength, err = count(val)
		case "minItems":
			s.minItems, err = count(val)
		case "maxItems":
			s.maxItems, err = count(val)
		case "pattern":
			p, ok := val.(string)
			if !ok {
				return nil, errors.New("pattern must be a string")
			}
			if s.pattern, err = regexp.Compile(p); err != nil {
				return nil, fmt.Errorf("pattern: %w", err)
			}
		case "minimum", "maximum":
			n, ok := val.(json.Number)
			if !ok {
				return nil, fmt.Errorf("%s must be a number", k)
			}
			f, ferr := n.Float64()
			if ferr != nil {
				return nil, fmt.Errorf("%s: %w", k, ferr)
			}
			if k == "minimum" {
				s.minimum = &f
			} else {
				s.maximum = &f
			}
		case "items":
			s.items, err = compileNode(val, depth+1)
		case "anyOf":
			list, ok := val.([]any)
			if !ok || len(list) == 0 {
				return nil, fmt.Errorf("%s must be a non-empty array", k)
			}
			for i, sub := range list {
				c, cerr := compileNode(sub, depth+1)
				if cerr != nil {
					return nil, fmt.Errorf("%s[%d]: %w", k, i, cerr)
				}
				s.anyOf = append(s.anyOf, c)
			}
		default:
			if !slices.Contains(annotations, k) {
				return nil, fmt.Errorf("unsupported JSON-schema keyword %q", k)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
	}
	return s, nil
}

func stringOrList(v any) ([]string, error) {
	switch v := v.(type) {
	case string:
		return []string{v}, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, errors.New("want strings")
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, errors.New("want a string or an array of strings")
}

func count(v any) (int, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, errors.New("want a non-negative integer")
	}
	i, err := n.Int64()
	if err != nil || i < 0 || i > math.MaxInt32 {
		return 0, errors.New("want a non-negative integer")
	}
	return int(i), nil
}

// validate checks v (as decodeValue returns it) against s. The error names
// the first offending path.
func (s *schema) validate(v any) error { return s.check(v, "$") }

func (s *schema) check(v any, path string) error {
	if len(s.anyOf) > 0 {
		var first error
		for _, alt := range s.anyOf {
			err := alt.check(v, path)
			if err == nil {
				first = nil
				break
			}
			if first == nil {
				first = err
			}
		}
		if first != nil {
			return fmt.Errorf("%s: matches no alternative (first: %w)", path, first)
		}
	}
	if len(s.types) > 0 && !slices.ContainsFunc(s.types, func(t string) bool { return isType(v, t) }) {
		return fmt.Errorf("%s: is %s, want %s", path, kindOf(v), strings.Join(s.types, " or "))
	}
	if len(s.enum) > 0 && !slices.Contains(s.enum, canonical(v)) {
		return fmt.Errorf("%s: value not among the %d allowed", path, len(s.enum))
	}
	switch v := v.(type) {
	case string:
		n := utf8.RuneCountInString(v)
		if n < s.minLength || (s.maxLength >= 0 && n > s.maxLength) {
			return fmt.Errorf("%s: length %d outside [%d, %s]", path, n, s.minLength, bound(s.maxLength))
		}
		if s.pattern != nil && !s.pattern.MatchString(v) {
			return fmt.Errorf("%s: does not match pattern %q", path, s.pattern.String())
		}
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if (s.minimum != nil && f < *s.minimum) || (s.maximum != nil && f > *s.maximum) {
			return fmt.Errorf("%s: %s out of range", path, v)
		}
	case []any:
		if len(v) < s.minItems || (s.maxItems >= 0 && len(v) > s.maxItems) {
			return fmt.Errorf("%s: %d items outside [%d, %s]", path, len(v), s.minItems, bound(s.maxItems))
		}
		if s.items != nil {
			for i, e := range v {
				if err := s.items.check(e, fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
		}
	case map[string]any:
		for _, r := range s.required {
			if _, ok := v[r]; !ok {
				return fmt.Errorf("%s: missing required %q", path, r)
			}
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			p, ok := s.properties[k]
			if !ok {
				if s.noExtra {
					return fmt.Errorf("%s: unexpected property %q", path, k)
				}
				continue
			}
			if err := p.check(v[k], path+"."+k); err != nil {
				return err
			}
		}
	}
	return nil
}

func bound(n int) string {
	if n < 0 {
		return "∞"
	}
	return fmt.Sprint(n)
}

func isType(v any, t string) bool {
	switch t {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "null":
		return v == nil
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		f, err := n.Float64()
		return err == nil && f == math.Trunc(f) && !math.IsInf(f, 0)
	}
	return false
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}

// canonical is the compact JSON of a decoded value (object keys sorted), for
// enum comparison.
func canonical(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// decodeValue decodes exactly one JSON value, numbers as json.Number,
// rejecting trailing data, duplicate object keys and nesting deeper than
// maxValueDepth.
func decodeValue(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	v, err := decodeNext(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

func decodeNext(dec *json.Decoder, depth int) (any, error) {
	if depth > maxValueDepth {
		return nil, errors.New("JSON nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			m := map[string]any{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, ok := kt.(string)
				if !ok {
					return nil, errors.New("object key is not a string")
				}
				if _, dup := m[k]; dup {
					return nil, fmt.Errorf("duplicate object key %q", k)
				}
				if m[k], err = decodeNext(dec, depth+1); err != nil {
					return nil, err
				}
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return m, nil
		case '[':
			list := []any{}
			for dec.More() {
				e, err := decodeNext(dec, depth+1)
				if err != nil {
					return nil, err
				}
				list = append(list, e)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return list, nil
		}
		return nil, fmt.Errorf("unexpected %v", t)
	}
	return tok, nil
}
