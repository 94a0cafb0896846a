// Package yamlstrict decodes the YAML files people write (the runner's
// configuration and credentials, the control plane's notification targets)
// strictly, and contains the YAML library's panics: goccy/go-yaml v1.19.2
// dereferences nil on a tagged scalar where a sequence belongs and its
// encoder panics on some keys, so a typo would otherwise crash a service or
// an installer step.
package yamlstrict

import (
	"bytes"
	"errors"

	"github.com/goccy/go-yaml"
)

// ErrMalformed stands for a panic inside the YAML library. Its text quotes
// nothing of the input, which may hold secrets.
var ErrMalformed = errors.New("malformed YAML: the parser failed on it; check the file's indentation and quoting")

// Guard runs fn, turning a panic of the YAML library into ErrMalformed. The
// panic's value is dropped: it may quote the input.
func Guard(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = ErrMalformed
		}
	}()
	return fn()
}

// Decode decodes raw into v strictly (unknown keys, duplicate keys and
// wrong types are errors naming their line), under Guard.
func Decode(raw []byte, v any) error {
	return Guard(func() error { return yaml.NewDecoder(bytes.NewReader(raw), yaml.Strict()).Decode(v) })
}
