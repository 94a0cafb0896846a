package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Budgets of the schema validator. A schema or document beyond them is
// rejected rather than processed slowly.
const (
	// MaxSchemaBytes bounds the size of one schema document.
	MaxSchemaBytes = 256 << 10
	// MaxDocumentBytes bounds the size of one validated document
	// (Request.Params, Result.Output).
	MaxDocumentBytes = 4 << 20
	// maxDepth bounds the nesting of schemas and documents.
	maxDepth = 64
)

// Schema is a compiled JSON Schema. The SDK implements this subset of draft
// 2020-12: type (a name or a list), properties, required,
// additionalProperties (false, true or a schema), enum, const,
// minLength/maxLength (in characters), pattern (Go RE2 syntax, unanchored
// as in the spec), minimum/maximum, items, minItems/maxItems, and the
// boolean schemas true and false. Annotations ($schema, $id, $comment,
// title, description, default, examples, format, deprecated, readOnly,
// writeOnly) are accepted and ignored. Any other keyword is an error, so a
// schema never silently promises a check the SDK does not make.
// A Schema is immutable and safe for concurrent use.
type Schema struct {
	root *node
}

type node struct {
	never      bool // the schema 'false'
	types      []string
	properties map[string]*node
	required   []string
	addlFalse  bool
	addl       *node
	enum       []any
	minLength  int
	maxLength  int // -1: none
	pattern    *regexp.Regexp
	minimum    *float64
	maximum    *float64
	items      *node
	minItems   int
	maxItems   int // -1: none
}

var annotationKeywords = []string{
	"$schema", "$id", "$comment", "title", "description", "default", "examples",
	"format", "deprecated", "readOnly", "writeOnly",
}

var typeNames = []string{"object", "array", "string", "integer", "number", "boolean", "null"}

// CompileSchema parses and compiles a schema document. Errors wrap
// ErrInvalidSchema and name the JSON pointer of the offending keyword.
func CompileSchema(raw json.RawMessage) (*Schema, error) {
	if len(raw) > MaxSchemaBytes {
		return nil, fmt.Errorf("%w: %d bytes, more than the %d allowed", ErrInvalidSchema, len(raw), MaxSchemaBytes)
	}
	v, err := decodeJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSchema, err)
	}
	n, err := compileNode(v, "", 0)
	if err != nil {
		return nil, err
	}
	return &Schema{root: n}, nil
}

// decodeJSON decodes one JSON value with numbers kept exact and rejects
// trailing data.
func decodeJSON(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("not valid JSON: data after the value")
	}
	if d := depth(v, 0); d > maxDepth {
		return nil, fmt.Errorf("nested more than %d levels deep", maxDepth)
	}
	return v, nil
}

func depth(v any, d int) int {
	if d > maxDepth {
		return d
	}
	best := d
	switch t := v.(type) {
	case map[string]any:
		for _, c := range t {
			best = max(best, depth(c, d+1))
		}
	case []any:
		for _, c := range t {
			best = max(best, depth(c, d+1))
		}
	}
	return best
}

func schemaErr(ptr, format string, args ...any) error {
	if ptr == "" {
		ptr = "/"
	}
	return fmt.Errorf("%w: at %s: %s", ErrInvalidSchema, ptr, fmt.Sprintf(format, args...))
}

func compileNode(v any, ptr string, d int) (*node, error) {
	if d > maxDepth {
		return nil, schemaErr(ptr, "nested more than %d levels deep", maxDepth)
	}
	n := &node{maxLength: -1, maxItems: -1}
	switch t := v.(type) {
	case bool:
		n.never = !t
		return n, nil
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := n.compileKeyword(k, t[k], ptr+"/"+k, d); err != nil {
				return nil, err
			}
		}
		if n.minimum != nil && n.maximum != nil && *n.minimum > *n.maximum {
			return nil, schemaErr(ptr, "minimum is greater than maximum")
		}
		return n, nil
	default:
		return nil, schemaErr(ptr, "a schema is an object or a boolean")
	}
}

func (n *node) compileKeyword(k string, v any, ptr string, d int) error {
	var err error
	switch k {
	case "type":
		n.types, err = compileTypes(v, ptr)
	case "properties":
		m, ok := v.(map[string]any)
		if !ok {
			return schemaErr(ptr, "properties must be an object")
		}
		n.properties = make(map[string]*node, len(m))
		for name, sub := range m {
			c, err := compileNode(sub, ptr+"/"+name, d+1)
			if err != nil {
				return err
			}
			n.properties[name] = c
		}
	case "required":
		list, ok := v.([]any)
		if !ok {
			return schemaErr(ptr, "required must be an array of strings")
		}
		for _, e := range list {
			s, ok := e.(string)
			if !ok {
				return schemaErr(ptr, "required must be an array of strings")
			}
			n.required = append(n.required, s)
		}
	case "additionalProperties":
		if b, ok := v.(bool); ok {
			n.addlFalse = !b
			return nil
		}
		n.addl, err = compileNode(v, ptr, d+1)
	case "enum":
		list, ok := v.([]any)
		if !ok || len(list) == 0 {
			return schemaErr(ptr, "enum must be a non-empty array")
		}
		n.enum = list
	case "const":
		n.enum = []any{v}
	case "minLength":
		n.minLength, err = compileCount(v, ptr)
	case "maxLength":
		n.maxLength, err = compileCount(v, ptr)
	case "minItems":
		n.minItems, err = compileCount(v, ptr)
	case "maxItems":
		n.maxItems, err = compileCount(v, ptr)
	case "pattern":
		s, ok := v.(string)
		if !ok {
			return schemaErr(ptr, "pattern must be a string")
		}
		n.pattern, err = regexp.Compile(s)
		if err != nil {
			return schemaErr(ptr, "pattern does not compile (Go RE2 syntax): %v", err)
		}
	case "minimum", "maximum":
		f, ok := number(v)
		if !ok {
			return schemaErr(ptr, "%s must be a number", k)
		}
		if k == "minimum" {
			n.minimum = &f
		} else {
			n.maximum = &f
		}
	case "items":
		n.items, err = compileNode(v, ptr, d+1)
	default:
		if slices.Contains(annotationKeywords, k) {
			return nil
		}
		return schemaErr(ptr, "keyword %q is not in the SDK's JSON Schema subset (see docs/plugins.md)", k)
	}
	return err
}

func compileTypes(v any, ptr string) ([]string, error) {
	var names []string
	switch t := v.(type) {
	case string:
		names = []string{t}
	case []any:
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, schemaErr(ptr, "type must be a string or an array of strings")
			}
			names = append(names, s)
		}
	default:
		return nil, schemaErr(ptr, "type must be a string or an array of strings")
	}
	if len(names) == 0 {
		return nil, schemaErr(ptr, "type must name at least one type")
	}
	for _, s := range names {
		if !slices.Contains(typeNames, s) {
			return nil, schemaErr(ptr, "unknown type %q (want one of %s)", s, strings.Join(typeNames, ", "))
		}
	}
	return names, nil
}

func compileCount(v any, ptr string) (int, error) {
	num, ok := v.(json.Number)
	if !ok {
		return 0, schemaErr(ptr, "must be a non-negative integer")
	}
	i, err := strconv.ParseInt(num.String(), 10, 32)
	if err != nil || i < 0 {
		return 0, schemaErr(ptr, "must be a non-negative integer")
	}
	return int(i), nil
}

func number(v any) (float64, bool) {
	num, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := num.Float64()
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// Validate checks one JSON document against the schema. The error wraps
// ErrSchemaViolation and names the JSON pointer of the first mismatch; it
// quotes no values from the document, so it is safe to log.
func (s *Schema) Validate(doc json.RawMessage) error {
	if len(doc) > MaxDocumentBytes {
		return fmt.Errorf("%w: %d bytes, more than the %d allowed", ErrSchemaViolation, len(doc), MaxDocumentBytes)
	}
	v, err := decodeJSON(doc)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSchemaViolation, err)
	}
	return s.root.validate(v, "")
}

func violation(ptr, format string, args ...any) error {
	if ptr == "" {
		ptr = "/"
	}
	return fmt.Errorf("%w: at %s: %s", ErrSchemaViolation, ptr, fmt.Sprintf(format, args...))
}

func typeOf(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case json.Number:
		if isInteger(t) {
			return "integer"
		}
		return "number"
	}
	return "unknown"
}

func isInteger(num json.Number) bool {
	if _, err := strconv.ParseInt(num.String(), 10, 64); err == nil {
		return true
	}
	f, err := num.Float64()
	return err == nil && !math.IsInf(f, 0) && f == math.Trunc(f)
}

func (n *node) validate(v any, ptr string) error {
	if n.never {
		return violation(ptr, "no value is allowed here")
	}
	if len(n.types) > 0 {
		got := typeOf(v)
		ok := slices.Contains(n.types, got) || (got == "integer" && slices.Contains(n.types, "number"))
		if !ok {
			return violation(ptr, "got %s, want %s", got, strings.Join(n.types, " or "))
		}
	}
	if n.enum != nil && !slices.ContainsFunc(n.enum, func(e any) bool { return equalJSON(e, v) }) {
		return violation(ptr, "value is not one of the %d allowed by enum/const", len(n.enum))
	}
	switch t := v.(type) {
	case string:
		return n.validateString(t, ptr)
	case json.Number:
		f, _ := t.Float64()
		if n.minimum != nil && f < *n.minimum {
			return violation(ptr, "less than minimum %v", *n.minimum)
		}
		if n.maximum != nil && f > *n.maximum {
			return violation(ptr, "greater than maximum %v", *n.maximum)
		}
	case []any:
		if len(t) < n.minItems {
			return violation(ptr, "%d items, fewer than minItems %d", len(t), n.minItems)
		}
		if n.maxItems >= 0 && len(t) > n.maxItems {
			return violation(ptr, "%d items, more than maxItems %d", len(t), n.maxItems)
		}
		if n.items != nil {
			for i, e := range t {
				if err := n.items.validate(e, ptr+"/"+strconv.Itoa(i)); err != nil {
					return err
				}
			}
		}
	case map[string]any:
		return n.validateObject(t, ptr)
	}
	return nil
}

func (n *node) validateString(s, ptr string) error {
	l := utf8.RuneCountInString(s)
	if l < n.minLength {
		return violation(ptr, "%d characters, fewer than minLength %d", l, n.minLength)
	}
	if n.maxLength >= 0 && l > n.maxLength {
		return violation(ptr, "%d characters, more than maxLength %d", l, n.maxLength)
	}
	if n.pattern != nil && !n.pattern.MatchString(s) {
		return violation(ptr, "does not match pattern %q", n.pattern.String())
	}
	return nil
}

func (n *node) validateObject(m map[string]any, ptr string) error {
	for _, r := range n.required {
		if _, ok := m[r]; !ok {
			return violation(ptr, "required property %q is missing", r)
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		sub := ptr + "/" + escapePointer(k)
		if p, ok := n.properties[k]; ok {
			if err := p.validate(m[k], sub); err != nil {
				return err
			}
			continue
		}
		if n.addlFalse {
			return violation(ptr, "property %q is not allowed (additionalProperties is false)", k)
		}
		if n.addl != nil {
			if err := n.addl.validate(m[k], sub); err != nil {
				return err
			}
		}
	}
	return nil
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func equalJSON(a, b any) bool {
	switch x := a.(type) {
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		if x == y {
			return true
		}
		fx, e1 := x.Float64()
		fy, e2 := y.Float64()
		return e1 == nil && e2 == nil && fx == fy
	case []any:
		y, ok := b.([]any)
		return ok && slices.EqualFunc(x, y, equalJSON)
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !equalJSON(xv, yv) {
				return false
			}
		}
		return true
	default:
		return a == b
	}
}
