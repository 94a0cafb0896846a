package sdk

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Limits on a plugin's description.
const (
	maxOperations       = 256
	maxDescriptionBytes = 4 << 10
	// minSecretLen is the shortest secret value CheckResult looks for in
	// Output and Observations; shorter values would match by chance.
	minSecretLen = 6
)

var (
	pluginNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
	opNameRE     = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}\.[a-z][a-z0-9_]{0,62}$`)
)

// Catalog is a plugin's Info, checked, with its schemas compiled. The SDK's
// server, the host and sdktest all validate through it. Immutable and safe
// for concurrent use.
type Catalog struct {
	info    Info
	ops     map[string]Operation
	params  map[string]*Schema
	results map[string]*Schema
}

// NewCatalog checks info and compiles its schemas. It fails (wrapping
// ErrInvalidInfo) when the plugin name is not a lowercase identifier, the
// plugin does not speak APIVersion, an operation is not named
// "<plugin>.<verb>", is duplicated, has no description, an unknown risk, a
// schema that does not compile, or a ReversedBy/VerifiedBy that is not a
// well-formed operation name; a reversible operation must name ReversedBy;
// a credential key is not a lowercase identifier, is declared twice or has
// no one-line description.
func NewCatalog(info Info) (*Catalog, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: plugin %q: %s", ErrInvalidInfo, info.Name, fmt.Sprintf(format, args...))
	}
	if !pluginNameRE.MatchString(info.Name) {
		return nil, bad("name must match %s", pluginNameRE)
	}
	if info.Version == "" {
		return nil, bad("version is empty")
	}
	if !slices.Contains(info.APIVersions, APIVersion) {
		return nil, bad("speaks API versions %v, this host speaks %d; rebuild the plugin with a current SDK", info.APIVersions, APIVersion)
	}
	if len(info.Operations) == 0 || len(info.Operations) > maxOperations {
		return nil, bad("offers %d operations; want 1 to %d", len(info.Operations), maxOperations)
	}
	if err := info.Credentials.check(); err != nil {
		return nil, bad("%v", err)
	}
	c := &Catalog{
		info:    cloneInfo(info),
		ops:     make(map[string]Operation, len(info.Operations)),
		params:  make(map[string]*Schema, len(info.Operations)),
		results: make(map[string]*Schema, len(info.Operations)),
	}
	for _, op := range info.Operations {
		if !opNameRE.MatchString(op.Name) || !strings.HasPrefix(op.Name, info.Name+".") {
			return nil, bad("operation %q must be named %q followed by a lowercase verb", op.Name, info.Name+".")
		}
		if _, dup := c.ops[op.Name]; dup {
			return nil, bad("operation %q is declared twice", op.Name)
		}
		if op.Description == "" || len(op.Description) > maxDescriptionBytes {
			return nil, bad("operation %q: description must be 1 to %d bytes", op.Name, maxDescriptionBytes)
		}
		if !op.Risk.Valid() {
			return nil, bad("operation %q: risk %q is not read, write or destructive", op.Name, op.Risk)
		}
		for _, ref := range []string{op.ReversedBy, op.VerifiedBy} {
			if ref != "" && !opNameRE.MatchString(ref) {
				return nil, bad("operation %q: %q is not an operation name", op.Name, ref)
			}
		}
		if len(op.VerifyExpect) > 0 && op.VerifiedBy == "" {
			return nil, bad("operation %q has VerifyExpect but names no VerifiedBy", op.Name)
		}
		for k, v := range op.VerifyExpect {
			switch v.(type) {
			case string, bool, float64, int, int64:
			default:
				return nil, bad("operation %q: VerifyExpect[%q] must be a string, number or boolean, got %T", op.Name, k, v)
			}
			if k == "" {
				return nil, bad("operation %q: VerifyExpect has an empty or malformed key", op.Name)
			}
		}
		if op.Reversible && op.ReversedBy == "" {
			return nil, bad("operation %q is reversible but names no ReversedBy", op.Name)
		}
		ps, err := CompileSchema(op.ParamsSchema)
		if err != nil {
			return nil, bad("operation %q: params schema: %v", op.Name, err)
		}
		rs, err := CompileSchema(op.ResultSchema)
		if err != nil {
			return nil, bad("operation %q: result schema: %v", op.Name, err)
		}
		c.ops[op.Name] = op
		c.params[op.Name] = ps
		c.results[op.Name] = rs
	}
	return c, nil
}

func cloneInfo(info Info) Info {
	info.APIVersions = slices.Clone(info.APIVersions)
	info.Operations = slices.Clone(info.Operations)
	info.Credentials = info.Credentials.clone()
	for i := range info.Operations {
		info.Operations[i].ParamsSchema = bytes.Clone(info.Operations[i].ParamsSchema)
		info.Operations[i].ResultSchema = bytes.Clone(info.Operations[i].ResultSchema)
	}
	return info
}

// Info returns a copy of the checked description.
func (c *Catalog) Info() Info { return cloneInfo(c.info) }

// Credentials returns the plugin's credential declaration; nil when the
// plugin declares none (built before declarations existed).
func (c *Catalog) Credentials() *CredentialSpec { return c.info.Credentials.clone() }

// Operation returns the named operation.
func (c *Catalog) Operation(name string) (Operation, bool) {
	op, ok := c.ops[name]
	return op, ok
}

// NormalizeParams returns params, or "{}" when params is empty.
func NormalizeParams(params json.RawMessage) json.RawMessage {
	if len(bytes.TrimSpace(params)) == 0 {
		return json.RawMessage("{}")
	}
	return params
}

// CheckParams validates params (empty means {}) against the operation's
// ParamsSchema. Errors wrap ErrUnknownOperation or ErrInvalidParams.
func (c *Catalog) CheckParams(op string, params json.RawMessage) error {
	s, ok := c.params[op]
	if !ok {
		return fmt.Errorf("%w: plugin %q has no operation %q", ErrUnknownOperation, c.info.Name, op)
	}
	if err := s.Validate(NormalizeParams(params)); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalidParams, op, err)
	}
	return nil
}

// CheckResult validates res.Output against the operation's ResultSchema
// (an empty Output is JSON null) and checks that no secret value appears in
// Output or in a non-secret Observation. Errors wrap ErrUnknownOperation or
// ErrInvalidResult and never quote a secret.
func (c *Catalog) CheckResult(op string, res Result) error {
	s, ok := c.results[op]
	if !ok {
		return fmt.Errorf("%w: plugin %q has no operation %q", ErrUnknownOperation, c.info.Name, op)
	}
	out := res.Output
	if len(bytes.TrimSpace(out)) == 0 {
		out = json.RawMessage("null")
	}
	if err := s.Validate(out); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalidResult, op, err)
	}
	for name, secret := range res.Secrets {
		if len(secret) < minSecretLen {
			continue
		}
		if bytes.Contains(res.Output, []byte(secret)) {
			return fmt.Errorf("%w: %s: secret %q also appears in Output", ErrInvalidResult, op, name)
		}
		for _, o := range res.Observations {
			if !o.Secret && strings.Contains(o.Value, secret) {
				return fmt.Errorf("%w: %s: secret %q also appears in observation %q", ErrInvalidResult, op, name, o.Key)
			}
		}
	}
	return nil
}
