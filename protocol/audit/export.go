package audit

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// ExportMagic starts every export file: a text line naming the format and
// its version. A new version changes this line.
const ExportMagic = "sitewarden audit export v1\n"

// Frame types of the export format (docs/audit.md, "Export file").
const (
	frameHeader     byte = 1
	frameCheckpoint byte = 2
	frameRecord     byte = 3
	frameEnd        byte = 4
)

// Export limits.
const (
	// maxFrame bounds one frame's payload: a record frame is index, leaf
	// hash and a record of at most MaxRecordSize.
	maxFrame = 8 + tlog.HashSize + MaxRecordSize
	// MaxExportCheckpoints bounds the checkpoints one export may carry.
	MaxExportCheckpoints = 1 << 20
	// maxProof bounds a consistency proof's hash count.
	maxProof = 128
)

// ExportHeader is the first frame of an export: whose log, which key signs
// it, and which records follow. Peaks are the hashes of the complete
// subtrees covering the records before First (see PeakLevels), so the
// verifier can compute the roots of the trees the checkpoints sign.
type ExportHeader struct {
	Origin  string
	Client  string
	Key     string // verifier key string (VerifierKey) of the site's signing key
	First   uint64 // index of the first record
	Count   uint64 // number of records, at least 1
	Created time.Time
	Peaks   []tlog.Hash
}

// ExportCheckpoint is a signed checkpoint in an export. Proof is empty for
// a checkpoint whose size is within the exported range (its root is
// compared with the root computed from the records) and, for the last
// checkpoint only when its size is beyond the range, the consistency proof
// from the tree that ends with the last exported record.
type ExportCheckpoint struct {
	Note  []byte
	Proof []tlog.Hash
}

// ExportRecord is one record frame: its log index, the leaf hash the
// writer computed, and the canonical encoding.
type ExportRecord struct {
	Index    uint64
	Leaf     tlog.Hash
	Encoding []byte
}

// Writer writes an export file in order: the header (NewWriter), every
// checkpoint, exactly Count records, then Close writes the end frame. It
// does not buffer; wrap w in a bufio.Writer and flush it after Close.
type Writer struct {
	w       io.Writer
	h       ExportHeader
	written uint64
	state   byte
}

// NewWriter writes the magic line and the header frame.
func NewWriter(w io.Writer, h ExportHeader) (*Writer, error) {
	if h.Count == 0 {
		return nil, fmt.Errorf("%w: an export holds at least one record", ErrMalformedExport)
	}
	if len(h.Peaks) != len(PeakLevels(h.First)) {
		return nil, fmt.Errorf("%w: %d peaks for first index %d, want %d", ErrMalformedExport, len(h.Peaks), h.First, len(PeakLevels(h.First)))
	}
	for _, s := range []string{h.Origin, h.Client, h.Key} {
		if s == "" || len(s) > MaxFieldLen {
			return nil, fmt.Errorf("%w: origin, client and key must be 1..%d bytes", ErrMalformedExport, MaxFieldLen)
		}
	}
	if _, err := io.WriteString(w, ExportMagic); err != nil {
		return nil, fmt.Errorf("write export: %w", err)
	}
	var p []byte
	for _, s := range []string{h.Origin, h.Client, h.Key} {
		p = binary.BigEndian.AppendUint16(p, uint16(len(s)))
		p = append(p, s...)
	}
	p = binary.BigEndian.AppendUint64(p, h.First)
	p = binary.BigEndian.AppendUint64(p, h.Count)
	p = binary.BigEndian.AppendUint64(p, uint64(h.Created.UnixNano()))
	p = append(p, byte(len(h.Peaks)))
	for _, pk := range h.Peaks {
		p = append(p, pk[:]...)
	}
	xw := &Writer{w: w, h: h, state: frameHeader}
	return xw, xw.frame(frameHeader, p)
}

func (x *Writer) frame(t byte, p []byte) error {
	var hdr [5]byte
	hdr[0] = t
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(p)))
	if _, err := x.w.Write(hdr[:]); err != nil {
		return fmt.Errorf("write export: %w", err)
	}
	if _, err := x.w.Write(p); err != nil {
		return fmt.Errorf("write export: %w", err)
	}
	return nil
}

// WriteCheckpoint writes one checkpoint frame; all checkpoints come before
// the first record.
func (x *Writer) WriteCheckpoint(c ExportCheckpoint) error {
	if x.state != frameHeader && x.state != frameCheckpoint {
		return fmt.Errorf("%w: checkpoints go before records", ErrMalformedExport)
	}
	if len(c.Note) > MaxCheckpointSize || len(c.Proof) > maxProof {
		return fmt.Errorf("%w: checkpoint note or proof too large", ErrMalformedExport)
	}
	p := binary.BigEndian.AppendUint32(nil, uint32(len(c.Note)))
	p = append(p, c.Note...)
	p = append(p, byte(len(c.Proof)))
	for _, h := range c.Proof {
		p = append(p, h[:]...)
	}
	x.state = frameCheckpoint
	return x.frame(frameCheckpoint, p)
}

// WriteRecord writes the record at index, which must be the next one.
func (x *Writer) WriteRecord(index uint64, encoding []byte) error {
	if x.state != frameCheckpoint && x.state != frameRecord {
		return fmt.Errorf("%w: write at least one checkpoint before records", ErrMalformedExport)
	}
	if index != x.h.First+x.written || x.written >= x.h.Count {
		return fmt.Errorf("%w: record %d out of order (next is %d of %d)", ErrMalformedExport, index, x.h.First+x.written, x.h.Count)
	}
	if len(encoding) > MaxRecordSize {
		return fmt.Errorf("%w: record %d is %d bytes", ErrMalformedExport, index, len(encoding))
	}
	leaf := LeafHash(encoding)
	p := make([]byte, 0, 8+len(leaf)+len(encoding))
	p = binary.BigEndian.AppendUint64(p, index)
	p = append(p, leaf[:]...)
	p = append(p, encoding...)
	x.state = frameRecord
	x.written++
	return x.frame(frameRecord, p)
}

// Close writes the end frame after exactly Count records.
func (x *Writer) Close() error {
	if x.written != x.h.Count {
		return fmt.Errorf("%w: wrote %d records, the header promises %d", ErrMalformedExport, x.written, x.h.Count)
	}
	x.state = frameEnd
	return x.frame(frameEnd, binary.BigEndian.AppendUint64(nil, x.written))
}

// Reader reads an export file frame by frame, checking the framing, field
// sizes and frame order but no hash or signature (that is Verify's work).
type Reader struct {
	r       *bufio.Reader
	h       ExportHeader
	state   byte
	records uint64
	cps     int
	buf     []byte
}

// Item is one frame after the header: exactly one field is set, or none at
// the end frame.
type Item struct {
	Checkpoint *ExportCheckpoint
	Record     *ExportRecord
}

// NewReader reads the magic line and the header frame.
func NewReader(r io.Reader) (*Reader, error) {
	x := &Reader{r: bufio.NewReaderSize(r, 64<<10)}
	magic := make([]byte, len(ExportMagic))
	if _, err := io.ReadFull(x.r, magic); err != nil {
		return nil, fmt.Errorf("%w: file is shorter than the format line", ErrMalformedExport)
	}
	if string(magic) != ExportMagic {
		return nil, fmt.Errorf("%w: not a Sitewarden audit export v1 (first line %q)", ErrMalformedExport, firstLine(magic))
	}
	t, p, err := x.frame()
	if err != nil {
		return nil, err
	}
	if t != frameHeader {
		return nil, fmt.Errorf("%w: first frame has type %d, want the header", ErrMalformedExport, t)
	}
	h, err := parseHeader(p)
	if err != nil {
		return nil, err
	}
	x.h, x.state = h, frameHeader
	return x, nil
}

func firstLine(b []byte) string {
	for i, c := range b {
		if c == '\n' {
			return string(b[:i])
		}
	}
	return string(b)
}

// Header returns the export's header.
func (x *Reader) Header() ExportHeader { return x.h }

func (x *Reader) frame() (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(x.r, hdr[:]); err != nil {
		return 0, nil, fmt.Errorf("%w: ends inside a frame header", ErrTruncatedExport)
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("%w: frame of %d bytes exceeds the %d byte limit", ErrMalformedExport, n, maxFrame)
	}
	if cap(x.buf) < int(n) {
		x.buf = make([]byte, n)
	}
	x.buf = x.buf[:n]
	if _, err := io.ReadFull(x.r, x.buf); err != nil {
		return 0, nil, fmt.Errorf("%w: ends inside a frame of %d bytes", ErrTruncatedExport, n)
	}
	return hdr[0], x.buf, nil
}

type cursor struct {
	b   []byte
	bad bool
}

func (c *cursor) take(n int) []byte {
	if c.bad || n > len(c.b) {
		c.bad = true
		return nil
	}
	out := c.b[:n]
	c.b = c.b[n:]
	return out
}

func (c *cursor) u64() uint64 {
	b := c.take(8)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func (c *cursor) str() string {
	b := c.take(2)
	if b == nil {
		return ""
	}
	return string(c.take(int(binary.BigEndian.Uint16(b))))
}

func (c *cursor) hashes(n int) []tlog.Hash {
	out := make([]tlog.Hash, 0, n)
	for range n {
		b := c.take(tlog.HashSize)
		if b == nil {
			return nil
		}
		out = append(out, tlog.Hash(b))
	}
	return out
}

func parseHeader(p []byte) (ExportHeader, error) {
	c := &cursor{b: p}
	var h ExportHeader
	h.Origin, h.Client, h.Key = c.str(), c.str(), c.str()
	h.First, h.Count = c.u64(), c.u64()
	h.Created = time.Unix(0, int64(c.u64())).UTC()
	np := c.take(1)
	if np != nil {
		h.Peaks = c.hashes(int(np[0]))
	}
	switch {
	case c.bad || len(c.b) != 0:
		return h, fmt.Errorf("%w: header frame is %d bytes and does not parse", ErrMalformedExport, len(p))
	case h.Origin == "" || h.Client == "" || h.Key == "":
		return h, fmt.Errorf("%w: header lacks origin, client or key", ErrMalformedExport)
	case h.Count == 0:
		return h, fmt.Errorf("%w: header declares no records", ErrMalformedExport)
	case h.First > 1<<62 || h.Count > 1<<62:
		return h, fmt.Errorf("%w: header declares first %d and count %d beyond the format's range", ErrMalformedExport, h.First, h.Count)
	case len(h.Peaks) != len(PeakLevels(h.First)):
		return h, fmt.Errorf("%w: header has %d peak hashes, first index %d needs %d", ErrMalformedExport, len(h.Peaks), h.First, len(PeakLevels(h.First)))
	}
	return h, nil
}

// Next returns the next frame after the header. It returns io.EOF after
// the end frame (when nothing follows it), ErrTruncatedExport when the file
// stops early, and ErrMalformedExport for anything out of place. A
// returned Record's Encoding is only valid until the next call.
func (x *Reader) Next() (Item, error) {
	if x.state == frameEnd {
		if _, err := x.r.ReadByte(); err == nil {
			return Item{}, fmt.Errorf("%w: data after the end frame", ErrMalformedExport)
		}
		return Item{}, io.EOF
	}
	t, p, err := x.frame()
	if err != nil {
		if errors.Is(err, ErrTruncatedExport) {
			return Item{}, fmt.Errorf("%w after %d of %d records; the file was cut short", ErrTruncatedExport, x.records, x.h.Count)
		}
		return Item{}, err
	}
	c := &cursor{b: p}
	switch t {
	case frameCheckpoint:
		if x.state != frameHeader && x.state != frameCheckpoint {
			return Item{}, fmt.Errorf("%w: checkpoint frame after record %d; checkpoints come before records", ErrMalformedExport, x.h.First+x.records-1)
		}
		if x.cps++; x.cps > MaxExportCheckpoints {
			return Item{}, fmt.Errorf("%w: more than %d checkpoints", ErrMalformedExport, MaxExportCheckpoints)
		}
		lb := c.take(4)
		var cp ExportCheckpoint
		if lb != nil {
			l := binary.BigEndian.Uint32(lb)
			if l > MaxCheckpointSize {
				return Item{}, fmt.Errorf("%w: checkpoint %d is %d bytes, limit %d", ErrMalformedExport, x.cps, l, MaxCheckpointSize)
			}
			cp.Note = append([]byte(nil), c.take(int(l))...)
		}
		if np := c.take(1); np != nil {
			cp.Proof = c.hashes(int(np[0]))
		}
		if c.bad || len(c.b) != 0 {
			return Item{}, fmt.Errorf("%w: checkpoint frame %d does not parse", ErrMalformedExport, x.cps)
		}
		x.state = frameCheckpoint
		return Item{Checkpoint: &cp}, nil
	case frameRecord:
		if x.state == frameHeader {
			return Item{}, fmt.Errorf("%w: records before any checkpoint", ErrMalformedExport)
		}
		var rec ExportRecord
		rec.Index = c.u64()
		if lb := c.take(tlog.HashSize); lb != nil {
			rec.Leaf = tlog.Hash(lb)
		}
		if c.bad {
			return Item{}, fmt.Errorf("%w: record frame after record %d is %d bytes, too short", ErrMalformedExport, x.h.First+x.records, len(p))
		}
		rec.Encoding = c.b
		x.records++
		x.state = frameRecord
		return Item{Record: &rec}, nil
	case frameEnd:
		n := c.u64()
		if c.bad || len(c.b) != 0 {
			return Item{}, fmt.Errorf("%w: end frame does not parse", ErrMalformedExport)
		}
		if x.state != frameRecord || n != x.records || n != x.h.Count {
			return Item{}, fmt.Errorf("%w: end frame after %d records (it says %d, the header %d); records are missing", ErrTruncatedExport, x.records, n, x.h.Count)
		}
		x.state = frameEnd
		return Item{}, nil
	case frameHeader:
		return Item{}, fmt.Errorf("%w: a second header frame after %d records; two exports spliced together?", ErrMalformedExport, x.records)
	default:
		return Item{}, fmt.Errorf("%w: unknown frame type %d after %d records", ErrMalformedExport, t, x.records)
	}
}
