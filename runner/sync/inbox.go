package sync

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	stdsync "sync"

	"google.golang.org/protobuf/proto"

	"github.com/sitewarden/sitewarden/protocol"
)

// DirInbox is a durable Inbox: each applied item is a file named by its
// cursor under <dir>/<stream>/ (a protocol frame: type, length, payload),
// and <dir>/<stream>/cursor holds the stream's position. An item file is
// written before the cursor moves, so a crash between the two only makes
// the next fetch rewrite the same file.
type DirInbox struct {
	dir string
	mu  stdsync.Mutex
}

var _ Inbox = (*DirInbox)(nil)

// OpenDirInbox opens (creating) the inbox in dir.
func OpenDirInbox(dir string) (*DirInbox, error) {
	for _, s := range []string{StreamGoals, StreamApprovals} {
		if err := os.MkdirAll(filepath.Join(dir, s), 0o700); err != nil {
			return nil, fmt.Errorf("open inbox: %w", err)
		}
	}
	return &DirInbox{dir: dir}, nil
}

func (in *DirInbox) streamDir(stream string) (string, error) {
	if stream != StreamGoals && stream != StreamApprovals {
		return "", fmt.Errorf("inbox: unknown stream %q", stream)
	}
	return filepath.Join(in.dir, stream), nil
}

// Cursor implements Inbox.
func (in *DirInbox) Cursor(_ context.Context, stream string) (uint64, error) {
	d, err := in.streamDir(stream)
	if err != nil {
		return 0, err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return readCursor(d)
}

func readCursor(d string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(d, "cursor"))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("inbox cursor: %w", err)
	}
	c, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("inbox cursor %s: %w", d, err)
	}
	return c, nil
}

// Apply implements Inbox.
func (in *DirInbox) Apply(_ context.Context, stream string, cursor uint64, m proto.Message) error {
	d, err := in.streamDir(stream)
	if err != nil {
		return err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	cur, err := readCursor(d)
	if err != nil {
		return err
	}
	if cursor <= cur {
		return nil
	}
	f, err := protocol.EncodeFrame(m)
	if err != nil {
		return fmt.Errorf("inbox apply: %w", err)
	}
	var buf strings.Builder
	if err := protocol.WriteFrame(&buf, f, 0); err != nil {
		return fmt.Errorf("inbox apply: %w", err)
	}
	if err := WriteDurable(filepath.Join(d, fmt.Sprintf("%020d.frame", cursor)), []byte(buf.String())); err != nil {
		return fmt.Errorf("inbox apply: %w", err)
	}
	if err := WriteDurable(filepath.Join(d, "cursor"), []byte(strconv.FormatUint(cursor, 10)+"\n")); err != nil {
		return fmt.Errorf("inbox apply: %w", err)
	}
	return nil
}

// Received lists the items applied on stream, in cursor order.
func (in *DirInbox) Received(stream string) ([]proto.Message, error) {
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
	out := make([]proto.Message, 0, len(names))
	for _, n := range names {
		fh, err := os.Open(n)
		if err != nil {
			return nil, err
		}
		m, err := protocol.ReadMessage(fh, 0)
		fh.Close()
		if err != nil {
			return nil, fmt.Errorf("inbox %s: %w", filepath.Base(n), err)
		}
		out = append(out, m)
	}
	return out, nil
}
