package audit

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	protocolaudit "github.com/sitewarden/sitewarden/protocol/audit"
)

// Segment files (docs/audit.md, "Durability"): each is preallocated to its
// full size with zeros, then filled with entries
//
//	uint32 BE record length (>= 1) | uint32 BE CRC-32C(index || record) |
//	uint64 BE index | record
//
// A zero length ends a segment's data. A group commit is one write and one
// data sync and never spans two segments.
const (
	entryHeader = 16
	segSuffix   = ".seg"
	tmpSuffix   = ".tmp"
	// maxWriteBytes bounds one group commit's write: a batch stops growing
	// past 1 MiB, so a write is at most 1 MiB plus one record.
	maxWriteBytes = 1<<20 + entryHeader + protocolaudit.MaxRecordSize
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// entryCRC is CRC-32C(index || rec), given index as its 8 big-endian
// bytes (a slice of the entry's header: a local array would escape to the
// heap through crc32.Update).
func entryCRC(index []byte, rec []byte) uint32 {
	return crc32.Update(crc32.Update(0, castagnoli, index), castagnoli, rec)
}

// appendEntry appends one segment entry to buf.
func appendEntry(buf []byte, index uint64, rec []byte) []byte {
	h := len(buf)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(rec)))
	buf = append(buf, 0, 0, 0, 0) // CRC, below
	buf = binary.BigEndian.AppendUint64(buf, index)
	binary.BigEndian.PutUint32(buf[h+4:], entryCRC(buf[h+8:h+16], rec))
	return append(buf, rec...)
}

func segName(seq uint64) string { return fmt.Sprintf("%016d%s", seq, segSuffix) }

// segment is one open segment file.
type segment struct {
	seq  uint64
	path string
	f    *os.File
	size int64 // file size (capacity)
	off  int64 // end of data
}

// listSegments returns the segment sequence numbers in dir, in order, and
// removes leftovers of interrupted creations (*.tmp).
func listSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list audit segments: %w", err)
	}
	var seqs []uint64
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, tmpSuffix) {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return nil, fmt.Errorf("remove unfinished segment: %w", err)
			}
			continue
		}
		n, ok := strings.CutSuffix(name, segSuffix)
		if !ok {
			continue
		}
		seq, err := strconv.ParseUint(n, 10, 64)
		if err != nil || segName(seq) != name {
			return nil, fmt.Errorf("%w: unexpected file %s in %s", ErrCorrupt, name, dir)
		}
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	return seqs, nil
}

// createSegment makes segment seq in dir: written as zeros to size bytes
// under a temporary name, synced, renamed into place, directory synced. A
// crash leaves either no segment or a complete, empty one.
func createSegment(dir string, seq uint64, size int64) (*segment, error) {
	final := filepath.Join(dir, segName(seq))
	tmp := final + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create audit segment: %w", err)
	}
	fail := func(err error) (*segment, error) {
		f.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("create audit segment %s: %w", final, err)
	}
	zeros := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(zeros)) {
		n := min(int64(len(zeros)), size-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return fail(err)
		}
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fail(err)
	}
	if err := syncDir(dir); err != nil {
		return fail(err)
	}
	return &segment{seq: seq, path: final, f: f, size: size}, nil
}

func openSegment(dir string, seq uint64) (*segment, error) {
	path := filepath.Join(dir, segName(seq))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open audit segment: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open audit segment: %w", err)
	}
	return &segment{seq: seq, path: path, f: f, size: st.Size()}, nil
}

// firstIndex returns the index of the segment's first entry, and false
// when it holds none.
func (s *segment) firstIndex() (uint64, bool, error) {
	var h [entryHeader]byte
	if s.size < entryHeader {
		return 0, false, nil
	}
	if _, err := s.f.ReadAt(h[:], 0); err != nil {
		return 0, false, fmt.Errorf("read audit segment %s: %w", s.path, err)
	}
	if binary.BigEndian.Uint32(h[:4]) == 0 {
		return 0, false, nil
	}
	return binary.BigEndian.Uint64(h[8:]), true, nil
}

// errTorn marks the first entry that is not complete and intact.
var errTorn = errors.New("torn entry")

// scan reads the segment's entries in order, expecting the first to have
// index want, and calls fn for each. It sets s.off to the end of the
// intact data and returns the next expected index. It returns errTorn
// (wrapped, with the offset) when data ends in an incomplete, corrupt or
// out-of-sequence entry rather than in zeros.
func (s *segment) scan(want uint64, fn func(index uint64, rec []byte) error) (uint64, error) {
	r := bufio.NewReaderSize(io.NewSectionReader(s.f, 0, s.size), 1<<20)
	var off int64
	var h [entryHeader]byte
	rec := make([]byte, 0, 4096)
	for {
		s.off = off
		if off+entryHeader > s.size {
			return want, nil // full: the remaining bytes are too few for an entry
		}
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return want, fmt.Errorf("read audit segment %s: %w", s.path, err)
		}
		n := int64(binary.BigEndian.Uint32(h[:4]))
		if n == 0 {
			return want, nil
		}
		crc, index := binary.BigEndian.Uint32(h[4:8]), binary.BigEndian.Uint64(h[8:])
		if n > protocolaudit.MaxRecordSize || off+entryHeader+n > s.size {
			return want, fmt.Errorf("%w at %s:%d: length %d", errTorn, s.path, off, n)
		}
		if int64(cap(rec)) < n {
			rec = make([]byte, n)
		}
		rec = rec[:n]
		if _, err := io.ReadFull(r, rec); err != nil {
			return want, fmt.Errorf("read audit segment %s: %w", s.path, err)
		}
		if entryCRC(h[8:], rec) != crc {
			return want, fmt.Errorf("%w at %s:%d: checksum mismatch", errTorn, s.path, off)
		}
		if index != want {
			return want, fmt.Errorf("%w at %s:%d: index %d, want %d", errTorn, s.path, off, index, want)
		}
		if err := fn(index, rec); err != nil {
			return want, err
		}
		want++
		off += entryHeader + n
	}
}

// zeroTail overwrites the bytes a torn or unsynced group commit may have
// left after the end of data, then syncs, so later entries are never
// followed by stale ones.
func (s *segment) zeroTail() error {
	n := min(int64(maxWriteBytes), s.size-s.off)
	if n <= 0 {
		return nil
	}
	if _, err := s.f.WriteAt(make([]byte, n), s.off); err != nil {
		return fmt.Errorf("repair audit segment %s: %w", s.path, err)
	}
	if err := syncData(s.f); err != nil {
		return fmt.Errorf("repair audit segment %s: %w", s.path, err)
	}
	return nil
}

// write appends buf (whole entries) at the end of data, durably
// (writeSynced).
func (s *segment) write(buf []byte) error {
	if err := writeSynced(s.f, buf, s.off); err != nil {
		return fmt.Errorf("write audit segment %s: %w", s.path, err)
	}
	s.off += int64(len(buf))
	return nil
}
