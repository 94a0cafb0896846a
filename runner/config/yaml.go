package config

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// errMalformedYAML stands for a panic inside the YAML library: goccy/go-yaml
// v1.19.2 panics on some malformed input (control-plane/notify's fuzzing
// found one; FuzzParse here is seeded with it). The files are written by an
// installer or an operator, and a typo must give an error, not a crash of
// the service or of the MSI's configure step.
var errMalformedYAML = errors.New("malformed YAML: the parser failed on it; check the file's indentation and quoting")

// guardYAML runs decode, turning a panic of the YAML library into
// errMalformedYAML. The panic's value is dropped: it may quote the file,
// and the credentials file holds secrets.
func guardYAML(decode func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errMalformedYAML
		}
	}()
	return decode()
}

// readBounded reads the file at path, refusing one over limit bytes before
// reading it all.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) > limit {
		return nil, fmt.Errorf("%s: over %d bytes; this is not a Sitewarden file", path, limit)
	}
	return raw, nil
}
