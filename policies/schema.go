package policies

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/sitewarden/sitewarden/policies/packs"
)

// stepEnv is what building a step needs: the actions the catalog declares
// and the parameter schemas known for them.
type stepEnv struct {
	actions map[string]string
	schemas map[string]map[string]any
}

func newStepEnv(cfg Config, actions map[string]string) (stepEnv, error) {
	env := stepEnv{actions: actions, schemas: make(map[string]map[string]any, len(cfg.ParamSchemas))}
	for action, raw := range cfg.ParamSchemas {
		var s map[string]any
		if err := json.Unmarshal(raw, &s); err != nil {
			return env, fmt.Errorf("%w: parameter schema of %s: %v", ErrInvalidConfig, action, err)
		}
		env.schemas[action] = s
	}
	return env, nil
}

// ShippedParamSchemas returns the parameter schemas of the plugins that
// ship with Sitewarden (policies/packs/schemas.json), or nil if they do not
// decode (a test keeps them decodable).
func ShippedParamSchemas() map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(packs.SchemasJSON, &m) != nil {
		return nil
	}
	return m
}

// checkParams checks a step's parameters against its action's JSON Schema,
// for the keywords the plugins use: type, properties, required,
// additionalProperties, items, enum, minimum, maximum, minLength,
// maxLength, minItems, maxItems, pattern. A string with placeholders is
// checked for its type only (its value is known when the goal is). path
// names the parameter at fault, for the error's location.
func checkParams(action string, schema map[string]any, params map[string]param) (string, error) {
	props, _ := schema["properties"].(map[string]any)
	for _, k := range sortedKeys(params) {
		ps, ok := props[k].(map[string]any)
		if !ok {
			if schema["additionalProperties"] == false {
				names := sortedKeys(props)
				if len(names) == 0 {
					return "." + k, fmt.Errorf("parameter %s: %s takes no parameters; remove it", k, action)
				}
				return "." + k, fmt.Errorf("parameter %s: %s takes no parameter %s; it takes %s", k, action, k, strings.Join(names, ", "))
			}
			continue
		}
		if err := checkValue(ps, params[k]); err != nil {
			return "." + k, fmt.Errorf("parameter %s of %s: %v", k, action, err)
		}
	}
	req, _ := schema["required"].([]any)
	for _, r := range req {
		if name, _ := r.(string); name != "" {
			if _, ok := params[name]; !ok {
				return "", fmt.Errorf("%s needs parameter %s; add it", action, name)
			}
		}
	}
	return "", nil
}

func checkValue(s map[string]any, p param) error {
	typ, _ := s["type"].(string)
	switch typ {
	case "string":
		if p.kind != paramString {
			return fmt.Errorf("want a string, got %s", describeParam(p))
		}
		if p.tpl.holes() {
			return nil
		}
		v := p.tpl.literal()
		n := float64(utf8.RuneCountInString(v))
		if min, ok := s["minLength"].(float64); ok && n < min {
			return fmt.Errorf("%q is shorter than %v characters", v, min)
		}
		if max, ok := s["maxLength"].(float64); ok && n > max {
			return fmt.Errorf("%q is longer than %v characters", v, max)
		}
		if pat, ok := s["pattern"].(string); ok {
			if re, err := regexp.Compile(pat); err == nil && !re.MatchString(v) {
				return fmt.Errorf("%q does not match %s", v, pat)
			}
		}
		return checkEnum(s, v)
	case "integer", "number":
		var f float64
		switch x := p.lit.(type) {
		case int64:
			f = float64(x)
		case float64:
			if typ == "integer" && x != math.Trunc(x) {
				return fmt.Errorf("want an integer, got %v", x)
			}
			f = x
		default:
			hint := ""
			if p.kind == paramString && !p.tpl.holes() {
				hint = "; write it without quotes"
			}
			return fmt.Errorf("want %s, got %s%s", article(typ), describeParam(p), hint)
		}
		if min, ok := s["minimum"].(float64); ok && f < min {
			return fmt.Errorf("%v is less than the minimum %v", f, min)
		}
		if max, ok := s["maximum"].(float64); ok && f > max {
			return fmt.Errorf("%v is more than the maximum %v", f, max)
		}
		return nil
	case "boolean":
		if _, ok := p.lit.(bool); !ok {
			return fmt.Errorf("want true or false, got %s", describeParam(p))
		}
		return nil
	case "array":
		if p.kind != paramList {
			return fmt.Errorf("want a list, got %s; write [%s]", describeParam(p), describeParam(p))
		}
		n := float64(len(p.list))
		if min, ok := s["minItems"].(float64); ok && n < min {
			return fmt.Errorf("%v values, want at least %v", n, min)
		}
		if max, ok := s["maxItems"].(float64); ok && n > max {
			return fmt.Errorf("%v values, want at most %v", n, max)
		}
		if items, ok := s["items"].(map[string]any); ok {
			for i, e := range p.list {
				if err := checkValue(items, e); err != nil {
					return fmt.Errorf("element %d: %v", i, err)
				}
			}
		}
		return nil
	}
	return nil
}

func checkEnum(s map[string]any, v string) error {
	enum, ok := s["enum"].([]any)
	if !ok || slices.Contains(enum, any(v)) {
		return nil
	}
	return fmt.Errorf("%q is not one of %v", v, enum)
}

func article(typ string) string {
	if typ == "integer" {
		return "an integer"
	}
	return "a number"
}

func describeParam(p param) string {
	switch p.kind {
	case paramString:
		if p.tpl.holes() {
			return "a string with placeholders"
		}
		return fmt.Sprintf("the string %q", p.tpl.literal())
	case paramList:
		return "a list"
	}
	return fmt.Sprintf("%T %v", p.lit, p.lit)
}
