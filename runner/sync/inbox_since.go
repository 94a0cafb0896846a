package sync

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/sitewarden/sitewarden/protocol"
)

// Delivered is one applied inbox item with its cursor.
type Delivered struct {
	Cursor  uint64
	Message proto.Message
}

// Since returns at most max items applied on stream with a cursor above
// after, in cursor order: what a consumer that has handled everything up to
// after has still to handle.
func (in *DirInbox) Since(stream string, after uint64, max int) ([]Delivered, error) {
	d, err := in.streamDir(stream)
	if err != nil {
		return nil, err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	names, err := filepath.Glob(filepath.Join(d, "*.frame"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []Delivered
	for _, n := range names {
		c, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(n), ".frame"), 10, 64)
		if err != nil || c <= after {
			continue
		}
		fh, err := os.Open(n)
		if err != nil {
			return nil, err
		}
		m, err := protocol.ReadMessage(fh, 0)
		fh.Close()
		if err != nil {
			return nil, fmt.Errorf("inbox %s: %w", filepath.Base(n), err)
		}
		out = append(out, Delivered{Cursor: c, Message: m})
		if len(out) == max {
			break
		}
	}
	return out, nil
}
