package sdk

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Limits on a plugin's credential declaration.
const (
	maxCredentialKeys    = 64
	maxCredentialKeyDesc = 200
)

var credKeyRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// CredentialKey is one key a plugin reads from the credentials section the
// runner hands its calls (the section named after the plugin in the
// runner's credentials file). It names the key, never a value.
type CredentialKey struct {
	Name        string // "bind_password": a lowercase identifier
	Description string // one line for the operator who fills the section
	// Required: the plugin cannot work without the key. The runner refuses
	// to start a plugin whose section lacks a required key, and says which.
	Required bool
}

// CredentialSpec is a plugin's declaration of the credential keys it reads.
// Info.Credentials nil means "not declared" (a plugin built before
// declarations existed): the runner checks nothing. A plugin that needs no
// credentials declares an empty spec, &sdk.CredentialSpec{}.
type CredentialSpec struct {
	Keys []CredentialKey
}

// Required returns the names of the required keys, sorted.
func (s *CredentialSpec) Required() []string {
	var out []string
	if s == nil {
		return out
	}
	for _, k := range s.Keys {
		if k.Required {
			out = append(out, k.Name)
		}
	}
	slices.Sort(out)
	return out
}

// Missing returns the required keys that have lacks or holds empty,
// sorted; nil when s is nil (not declared) or nothing is
// missing. Only names are compared and returned.
func (s *CredentialSpec) Missing(have map[string]string) []string {
	var out []string
	for _, k := range s.Required() {
		if have[k] == "" {
			out = append(out, k)
		}
	}
	return out
}

// Declares reports whether s names key.
func (s *CredentialSpec) Declares(key string) bool {
	return s != nil && slices.ContainsFunc(s.Keys, func(k CredentialKey) bool { return k.Name == key })
}

func (s *CredentialSpec) clone() *CredentialSpec {
	if s == nil {
		return nil
	}
	return &CredentialSpec{Keys: slices.Clone(s.Keys)}
}

// check validates the declaration; NewCatalog wraps its error.
func (s *CredentialSpec) check() error {
	if s == nil {
		return nil
	}
	if len(s.Keys) > maxCredentialKeys {
		return fmt.Errorf("declares %d credential keys; the limit is %d", len(s.Keys), maxCredentialKeys)
	}
	seen := map[string]bool{}
	for _, k := range s.Keys {
		switch {
		case !credKeyRE.MatchString(k.Name):
			return fmt.Errorf("credential key %q must match %s", k.Name, credKeyRE)
		case seen[k.Name]:
			return fmt.Errorf("credential key %q is declared twice", k.Name)
		case k.Description == "" || len(k.Description) > maxCredentialKeyDesc || strings.ContainsAny(k.Description, "\r\n"):
			return fmt.Errorf("credential key %q: description must be one line of 1 to %d bytes", k.Name, maxCredentialKeyDesc)
		}
		seen[k.Name] = true
	}
	return nil
}

// Get returns the value of key, "" when it is absent. Plugins read their
// credentials through Get, never by indexing the map, so that a test can
// record which keys a plugin reads (RecordCredentialReads) and compare them
// with its declaration (sdktest.CheckCredentialDeclaration).
func (c Credentials) Get(ctx context.Context, key string) string {
	if r, ok := ctx.Value(credReadsKey{}).(*CredentialReads); ok {
		r.add(key)
	}
	return c[key]
}

// credReadsKey is the context key of a *CredentialReads.
type credReadsKey struct{}

// CredentialReads records the keys Credentials.Get was asked for under a
// context from RecordCredentialReads. Safe for concurrent use. Tests use
// it; in production no context carries one.
type CredentialReads struct {
	mu   sync.Mutex
	keys map[string]bool
}

// RecordCredentialReads returns a context under which every
// Credentials.Get records its key in the returned CredentialReads.
func RecordCredentialReads(ctx context.Context) (context.Context, *CredentialReads) {
	r := &CredentialReads{keys: map[string]bool{}}
	return context.WithValue(ctx, credReadsKey{}, r), r
}

func (r *CredentialReads) add(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys[key] = true
}

// Keys returns the keys read so far, sorted.
func (r *CredentialReads) Keys() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.keys))
	for k := range r.keys {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
