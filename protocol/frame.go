package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxFrameSize is the payload limit used when a caller passes a limit
// of zero or less: 4 MiB.
const DefaultMaxFrameSize = 4 << 20

// HeaderSize is the size of a frame header: 1 byte type, 4 bytes length.
const HeaderSize = 5

// Frame is one unit on a sync stream.
//
// Encoding: Type (1 byte) | len(Payload) (4 bytes, big-endian) | Payload.
// Payload is the protobuf encoding of the message Type names.
type Frame struct {
	Type    FrameType
	Payload []byte
}

// readChunk bounds each step of a payload read, so a peer that declares a
// large frame and then stops sending costs at most what it actually sent
// (plus one chunk), never the declared size.
const readChunk = 64 << 10

func limitOrDefault(limit int) int {
	if limit <= 0 {
		return DefaultMaxFrameSize
	}
	return limit
}

// ReadFrame reads one frame from r. limit is the maximum payload size
// (DefaultMaxFrameSize when limit <= 0). It returns io.EOF only when r ends
// cleanly before a frame starts; a stream that ends inside a frame gives
// ErrTruncated, an oversize frame ErrFrameTooLarge, an undefined type
// ErrUnknownFrameType. The frame's type is checked but its payload is not
// decoded; see DecodeFrame.
func ReadFrame(r io.Reader, limit int) (Frame, error) {
	limit = limitOrDefault(limit)
	var hdr [HeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return Frame{}, io.EOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return Frame{}, fmt.Errorf("read frame header: %w", ErrTruncated)
		}
		return Frame{}, fmt.Errorf("read frame header: %w", err)
	}
	t := FrameType(hdr[0])
	if !t.Known() {
		return Frame{}, fmt.Errorf("read frame: type %d: %w", hdr[0], ErrUnknownFrameType)
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if uint64(n) > uint64(limit) {
		return Frame{}, fmt.Errorf("read %s frame: declared %d bytes, limit %d: %w", t, n, limit, ErrFrameTooLarge)
	}
	var buf bytes.Buffer
	for remaining := int64(n); remaining > 0; {
		step := min(remaining, readChunk)
		got, err := io.CopyN(&buf, r, step)
		remaining -= got
		if err != nil {
			if errors.Is(err, io.EOF) {
				return Frame{}, fmt.Errorf("read %s frame: %d of %d payload bytes: %w", t, int64(n)-remaining, n, ErrTruncated)
			}
			return Frame{}, fmt.Errorf("read %s frame payload: %w", t, err)
		}
	}
	return Frame{Type: t, Payload: buf.Bytes()}, nil
}

// WriteFrame writes f to w as one Write call. It refuses an undefined type or
// a payload over limit (DefaultMaxFrameSize when limit <= 0) before writing
// anything.
func WriteFrame(w io.Writer, f Frame, limit int) error {
	limit = limitOrDefault(limit)
	if !f.Type.Known() {
		return fmt.Errorf("write frame: type %d: %w", uint8(f.Type), ErrUnknownFrameType)
	}
	if len(f.Payload) > limit {
		return fmt.Errorf("write %s frame: %d bytes, limit %d: %w", f.Type, len(f.Payload), limit, ErrFrameTooLarge)
	}
	buf := make([]byte, HeaderSize+len(f.Payload))
	buf[0] = byte(f.Type)
	binary.BigEndian.PutUint32(buf[1:], uint32(len(f.Payload)))
	copy(buf[HeaderSize:], f.Payload)
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("write %s frame: %w", f.Type, err)
	}
	return nil
}
