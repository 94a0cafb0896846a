package config

import (
	"fmt"
	"io"
	"os"
)

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
