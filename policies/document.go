package policies

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Document identity. Every scope document starts with
//
//	apiVersion: sitewarden.dev/v1
//	kind: Scope
const (
	APIVersion    = "sitewarden.dev/v1"
	KindScope     = "Scope"
	KindScopeTest = "ScopeTest"
)

// Document is one YAML document of a scope, as written. A client's scope may
// be split over several documents (files, or `---` sections); Compile merges
// them. The field names are the YAML keys; docs/policy.md describes each.
type Document struct {
	APIVersion         string                   `yaml:"apiVersion" json:"apiVersion"`
	Kind               string                   `yaml:"kind" json:"kind"`
	Client             string                   `yaml:"client" json:"client"`
	Sites              []string                 `yaml:"sites,omitempty" json:"sites,omitempty"`
	MaxOfflineValidity string                   `yaml:"maxOfflineValidity,omitempty" json:"maxOfflineValidity,omitempty"`
	Catalog            []PluginDoc              `yaml:"catalog,omitempty" json:"catalog,omitempty"`
	Agents             []AgentDoc               `yaml:"agents,omitempty" json:"agents,omitempty"`
	Playbooks          map[string][]PlaybookDoc `yaml:"playbooks,omitempty" json:"playbooks,omitempty"`
	Validation         map[string]StepDoc       `yaml:"validation,omitempty" json:"validation,omitempty"`
}

// PluginDoc is one trusted plugin of the catalog: the binary's name, version
// and SHA-256, and the full names of the actions it declares.
type PluginDoc struct {
	Name    string   `yaml:"name" json:"name"`
	Version string   `yaml:"version" json:"version"`
	SHA256  string   `yaml:"sha256" json:"sha256"`
	Actions []string `yaml:"actions" json:"actions"`
}

// AgentDoc is one agent: the workflows it handles (mode and budget each),
// its allow and deny rules, and its data scope (data kind -> attributes).
type AgentDoc struct {
	Name        string                 `yaml:"name" json:"name"`
	Description string                 `yaml:"description,omitempty" json:"description,omitempty"`
	Workflows   map[string]WorkflowDoc `yaml:"workflows" json:"workflows"`
	Allow       []RuleDoc              `yaml:"allow,omitempty" json:"allow,omitempty"`
	Deny        []RuleDoc              `yaml:"deny,omitempty" json:"deny,omitempty"`
	Data        map[string][]string    `yaml:"data,omitempty" json:"data,omitempty"`
}

// WorkflowDoc is an agent's mode and budget for one workflow class.
type WorkflowDoc struct {
	Mode   string    `yaml:"mode" json:"mode"`
	Budget BudgetDoc `yaml:"budget" json:"budget"`
}

// BudgetDoc bounds one goal: steps (plan/act/validate rounds), actions run,
// and wall time (a duration such as 90s, 10m, 1h).
type BudgetDoc struct {
	MaxSteps    int    `yaml:"maxSteps" json:"maxSteps"`
	MaxActions  int    `yaml:"maxActions" json:"maxActions"`
	MaxWallTime string `yaml:"maxWallTime" json:"maxWallTime"`
}

// RuleDoc is an allow or deny rule: the actions (names or patterns such as
// directory.*) it covers, the workflows it is limited to (empty: all the
// agent's workflows), an optional CEL condition, and for allow rules an
// optional `approval: required`.
type RuleDoc struct {
	ID          string   `yaml:"id" json:"id"`
	Description string   `yaml:"description,omitempty" json:"description,omitempty"`
	Actions     []string `yaml:"actions" json:"actions"`
	Workflows   []string `yaml:"workflows,omitempty" json:"workflows,omitempty"`
	When        string   `yaml:"when,omitempty" json:"when,omitempty"`
	Approval    string   `yaml:"approval,omitempty" json:"approval,omitempty"`
}

// PlaybookDoc is one alternative of a workflow's playbook: an ordered list
// of steps, tried as a whole before the next alternative.
type PlaybookDoc struct {
	Name  string    `yaml:"name" json:"name"`
	Steps []StepDoc `yaml:"steps" json:"steps"`
}

// StepDoc is one action with its parameters. A parameter value is a
// string (which may hold {{goal.ATTR}} placeholders, replaced by the goal's
// attributes), an integer, a number, a boolean, or a list of those; it is
// checked against the action's parameter schema when Config.ParamSchemas
// knows the action.
type StepDoc struct {
	Action string         `yaml:"action" json:"action"`
	Params map[string]any `yaml:"params,omitempty" json:"params,omitempty"`
	// Expect (validation only) holds the top-level values the validation
	// action's result must show for the goal to count as reached.
	Expect map[string]any `yaml:"expect,omitempty" json:"expect,omitempty"`
}

// Source is one file's name and bytes.
type Source struct {
	Name string
	Data []byte
}

// parsedDoc is one decoded document with the AST that locates its fields.
type parsedDoc struct {
	src  string
	body ast.Node
	doc  Document
}

// at returns "file:line:col" of the node at a YAML path such as
// "$.agents[0].allow[1].when", or the nearest parent that exists.
func (p *parsedDoc) at(path string) string {
	for path != "" && path != "$" {
		if pp, err := yaml.PathString(path); err == nil {
			if n, err := pp.FilterNode(p.body); err == nil && n != nil && n.GetToken() != nil {
				pos := n.GetToken().Position
				return fmt.Sprintf("%s:%d:%d", p.src, pos.Line, pos.Column)
			}
		}
		path = parentPath(path)
	}
	if p.body != nil && p.body.GetToken() != nil {
		return fmt.Sprintf("%s:%d", p.src, p.body.GetToken().Position.Line)
	}
	return p.src
}

func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i <= 0 {
		return ""
	}
	return path[:i]
}

// errAt formats an ErrInvalidScope error located at path in p.
func (p *parsedDoc) errAt(path, format string, args ...any) error {
	return fmt.Errorf("%s: %w: %s", p.at(path), ErrInvalidScope, fmt.Sprintf(format, args...))
}

// parseDocuments splits a source into YAML documents and calls visit with
// each document's AST and a function that decodes it strictly. Unknown keys,
// wrong types and duplicate keys are errors naming file and line, wrapping
// sentinel.
func parseDocuments(src Source, maxBytes int, sentinel error, visit func(body ast.Node, decode func(any) error) error) (err error) {
	if len(src.Data) > maxBytes {
		return fmt.Errorf("%s: %w: %d bytes, limit %d; split the scope over several files", src.Name, sentinel, len(src.Data), maxBytes)
	}
	defer func() {
		// The YAML library is third-party code fed with untrusted bytes: a
		// panic inside it becomes an error rather than killing the runner.
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: %w: YAML parser failed: %v", src.Name, sentinel, r)
		}
	}()
	file, err := parser.ParseBytes(src.Data, 0)
	if err != nil {
		return fmt.Errorf("%s%s: %w: %s", src.Name, yamlPos(err), sentinel, yamlMessage(err))
	}
	for _, d := range file.Docs {
		if d == nil || d.Body == nil {
			continue
		}
		if _, ok := d.Body.(*ast.NullNode); ok {
			continue
		}
		body := d.Body
		decode := func(v any) error {
			dec := yaml.NewDecoder(bytes.NewReader(nil), yaml.Strict())
			if err := dec.DecodeFromNode(body, v); err != nil {
				return fmt.Errorf("%s%s: %w: %s", src.Name, yamlPos(err), sentinel, yamlMessage(err))
			}
			return nil
		}
		if err := visit(body, decode); err != nil {
			return err
		}
	}
	return nil
}

// yamlPos returns ":line:col" of a go-yaml error, or "".
func yamlPos(err error) string {
	var ye yaml.Error
	if errors.As(err, &ye) && ye.GetToken() != nil {
		return fmt.Sprintf(":%d:%d", ye.GetToken().Position.Line, ye.GetToken().Position.Column)
	}
	return ""
}

// yamlMessage returns a go-yaml error's message without its source excerpt,
// with a hint for the common cases.
func yamlMessage(err error) string {
	var ye yaml.Error
	if !errors.As(err, &ye) {
		return err.Error()
	}
	msg := ye.GetMessage()
	var unknown *yaml.UnknownFieldError
	var typ *yaml.TypeError
	switch {
	case errors.As(err, &unknown):
		msg += "; remove it or fix its spelling (docs/policy.md lists every key)"
	case errors.As(err, &typ):
		msg += "; fix the value's type (docs/policy.md gives each key's type)"
	}
	return msg
}

// decodeScopeSource decodes every document of a scope source.
func decodeScopeSource(src Source, maxBytes int) ([]*parsedDoc, error) {
	var out []*parsedDoc
	err := parseDocuments(src, maxBytes, ErrInvalidScope, func(body ast.Node, decode func(any) error) error {
		p := &parsedDoc{src: src.Name, body: body}
		if err := decode(&p.doc); err != nil {
			return err
		}
		switch {
		case p.doc.APIVersion != APIVersion:
			return p.errAt("$.apiVersion", "apiVersion %q, want %q", p.doc.APIVersion, APIVersion)
		case p.doc.Kind == KindScopeTest:
			return p.errAt("$.kind", "kind %s is a policy test; run it with 'sitewarden scope test %s'", KindScopeTest, src.Name)
		case p.doc.Kind != KindScope:
			return p.errAt("$.kind", "kind %q, want %q", p.doc.Kind, KindScope)
		}
		out = append(out, p)
		return nil
	})
	return out, err
}

// ReadSources reads scope files. A directory stands for every *.yaml and
// *.yml file in it (not recursive) except policy tests (*_test.yaml).
func ReadSources(paths ...string) ([]Source, error) {
	var files []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("read scope: %w", err)
		}
		if !fi.IsDir() {
			files = append(files, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, fmt.Errorf("read scope: %w", err)
		}
		var found []string
		for _, e := range entries {
			n := e.Name()
			if e.IsDir() || isTestFile(n) || !(strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml")) {
				continue
			}
			found = append(found, filepath.Join(p, n))
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("read scope: %w: no *.yaml scope files in directory %s", ErrInvalidScope, p)
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	out := make([]Source, 0, len(files))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read scope: %w", err)
		}
		out = append(out, Source{Name: f, Data: data})
	}
	return out, nil
}

func isTestFile(name string) bool {
	return strings.HasSuffix(name, "_test.yaml") || strings.HasSuffix(name, "_test.yml")
}
