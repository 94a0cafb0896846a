package sync

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	stdsync "sync"

	"github.com/sitewarden/sitewarden/protocol"
)

// DirOutbox is a durable Outbox kept as one file per item in a directory:
// an item is on disk (written, flushed, renamed into place, directory
// flushed) before Add returns, and leaves only through Done or Reject.
//
// File format, version 1 (name: 20-digit sequence number + ".item"):
// "SWO1" | uint16 BE len(id) | id | 1 byte frame type | payload.
// A crash can leave only ".tmp" files, which Open removes.
//
// Why not Badger: Badger's SyncWrites does not reach the disk on Windows
// (see runner/audit's package comment), and an outbox item must be durable
// before the agent moves on.
type DirOutbox struct {
	dir string
	max int

	mu    stdsync.Mutex
	seq   uint64
	order []outboxEntry // ascending seq
	byKey map[string]uint64
}

type outboxEntry struct {
	seq uint64
	key string
}

var _ Outbox = (*DirOutbox)(nil)

const (
	outboxMagic  = "SWO1"
	outboxSuffix = ".item"
	rejectedDir  = "rejected"
)

// ErrOutboxFull means the outbox holds its maximum number of items.
var ErrOutboxFull = errors.New("outbox full")

// OpenDirOutbox opens (creating) the outbox in dir, holding at most max
// items (limit <= 0: 1,000,000).
func OpenDirOutbox(dir string, limit int) (*DirOutbox, error) {
	if limit <= 0 {
		limit = 1_000_000
	}
	if err := os.MkdirAll(filepath.Join(dir, rejectedDir), 0o700); err != nil {
		return nil, fmt.Errorf("open outbox: %w", err)
	}
	o := &DirOutbox{dir: dir, max: limit, byKey: map[string]uint64{}}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("open outbox: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			_ = os.Remove(filepath.Join(dir, name))
			continue
		}
		seqStr, ok := strings.CutSuffix(name, outboxSuffix)
		if !ok {
			continue
		}
		seq, err := strconv.ParseUint(seqStr, 10, 64)
		if err != nil {
			continue
		}
		it, err := readOutboxFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("open outbox: %s: %w; move the file aside to continue", name, err)
		}
		o.order = append(o.order, outboxEntry{seq: seq, key: it.key()})
		o.byKey[it.key()] = seq
		o.seq = max(o.seq, seq)
	}
	sort.Slice(o.order, func(i, j int) bool { return o.order[i].seq < o.order[j].seq })
	return o, nil
}

func (o *DirOutbox) path(seq uint64) string {
	return filepath.Join(o.dir, fmt.Sprintf("%020d%s", seq, outboxSuffix))
}

// Add stores it durably at the end of the queue. Adding an item whose type
// and id are already queued does nothing (stable ids make retries harmless).
func (o *DirOutbox) Add(_ context.Context, it Item) error {
	if it.ID == "" || len(it.ID) > 1024 {
		return fmt.Errorf("outbox add: item id must be 1-1024 bytes")
	}
	if !it.Type.Known() {
		return fmt.Errorf("outbox add %s: %w", it.ID, protocol.ErrUnknownFrameType)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.byKey[it.key()]; ok {
		return nil
	}
	if len(o.order) >= o.max {
		return fmt.Errorf("outbox add %s: %w (%d items); the control plane has been unreachable for long: check the link", it.ID, ErrOutboxFull, o.max)
	}
	seq := o.seq + 1
	buf := make([]byte, 0, 7+len(it.ID)+len(it.Payload))
	buf = append(buf, outboxMagic...)
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(it.ID)))
	buf = append(buf, it.ID...)
	buf = append(buf, byte(it.Type))
	buf = append(buf, it.Payload...)
	if err := WriteDurable(o.path(seq), buf); err != nil {
		return fmt.Errorf("outbox add %s: %w", it.ID, err)
	}
	o.seq = seq
	o.order = append(o.order, outboxEntry{seq: seq, key: it.key()})
	o.byKey[it.key()] = seq
	return nil
}

// Pending implements Outbox.
func (o *DirOutbox) Pending(_ context.Context, n int) ([]Item, error) {
	o.mu.Lock()
	ents := append([]outboxEntry(nil), o.order[:min(n, len(o.order))]...)
	o.mu.Unlock()
	out := make([]Item, 0, len(ents))
	for _, e := range ents {
		it, err := readOutboxFile(o.path(e.seq))
		if errors.Is(err, os.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("outbox read %s: %w", e.key, err)
		}
		out = append(out, it)
	}
	return out, nil
}

// Done implements Outbox.
func (o *DirOutbox) Done(_ context.Context, it Item) error {
	return o.remove(it.key(), "")
}

// Reject implements Outbox: the item moves to the rejected/ subdirectory
// with a .reason file beside it.
func (o *DirOutbox) Reject(_ context.Context, it Item, reason string) error {
	if reason == "" {
		reason = "refused"
	}
	return o.remove(it.key(), reason)
}

func (o *DirOutbox) remove(id, rejectReason string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	seq, ok := o.byKey[id]
	if !ok {
		return nil
	}
	p := o.path(seq)
	if rejectReason != "" {
		dst := filepath.Join(o.dir, rejectedDir, filepath.Base(p))
		if err := WriteDurable(dst+".reason", []byte(rejectReason+"\n")); err != nil {
			return fmt.Errorf("outbox reject %s: %w", id, err)
		}
		if err := os.Rename(p, dst); err != nil {
			return fmt.Errorf("outbox reject %s: %w", id, err)
		}
	} else if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("outbox done %s: %w", id, err)
	}
	if err := syncDir(o.dir); err != nil {
		return fmt.Errorf("outbox %s: %w", id, err)
	}
	delete(o.byKey, id)
	for i, e := range o.order {
		if e.seq == seq {
			o.order = append(o.order[:i], o.order[i+1:]...)
			break
		}
	}
	return nil
}

// Len returns the number of queued items.
func (o *DirOutbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.order)
}

func readOutboxFile(p string) (Item, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return Item{}, err
	}
	return decodeOutboxItem(b)
}

// decodeOutboxItem parses the version-1 item file format.
func decodeOutboxItem(b []byte) (Item, error) {
	if len(b) < 7 || string(b[:4]) != outboxMagic {
		return Item{}, errors.New("not an outbox item (bad magic)")
	}
	n := int(binary.BigEndian.Uint16(b[4:6]))
	if n == 0 || len(b) < 6+n+1 {
		return Item{}, errors.New("truncated outbox item")
	}
	it := Item{ID: string(b[6 : 6+n]), Type: protocol.FrameType(b[6+n]), Payload: b[7+n:]}
	if !it.Type.Known() {
		return Item{}, fmt.Errorf("outbox item %s: %w", it.ID, protocol.ErrUnknownFrameType)
	}
	return it, nil
}

// WriteDurable writes data to p (mode 0600) through a flushed temporary
// file p+".tmp" and a rename, then flushes the directory: after it returns,
// a crash leaves either the old file or the new one. Callers must not write
// the same path concurrently.
func WriteDurable(p string, data []byte) error {
	tmp := p + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		return err
	}
	return syncDir(filepath.Dir(p))
}
