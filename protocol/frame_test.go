package protocol

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"testing/iotest"

	"google.golang.org/protobuf/proto"
)

var update = flag.Bool("update", false, "rewrite golden frames in testdata/")

func goldenPath(t FrameType) string {
	return filepath.Join("testdata", "frames", t.String()+".bin")
}

func TestEveryFrameTypeHasASample(t *testing.T) {
	s := samples()
	for _, ft := range FrameTypes() {
		if _, ok := s[ft]; !ok {
			t.Errorf("no sample message for frame type %s", ft)
		}
	}
	if len(s) != len(FrameTypes()) {
		t.Errorf("%d samples for %d frame types", len(s), len(FrameTypes()))
	}
}

func TestMessageRoundTrip(t *testing.T) {
	for ft, msg := range samples() {
		t.Run(ft.String(), func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteMessage(&buf, msg, 0); err != nil {
				t.Fatal(err)
			}
			got, err := ReadMessage(&buf, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, msg) {
				t.Errorf("round trip changed the message:\n got %v\nwant %v", got, msg)
			}
			if gt, _ := TypeOf(got); gt != ft {
				t.Errorf("decoded type %s, want %s", gt, ft)
			}
			if buf.Len() != 0 {
				t.Errorf("%d bytes left after one frame", buf.Len())
			}
		})
	}
}

// TestGoldenFrames pins the encoding: a change to a frame's bytes is a wire
// change and must be deliberate (go test -run Golden -update).
func TestGoldenFrames(t *testing.T) {
	for ft, msg := range samples() {
		t.Run(ft.String(), func(t *testing.T) {
			f, err := EncodeFrame(msg)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := WriteFrame(&buf, f, 0); err != nil {
				t.Fatal(err)
			}
			path := goldenPath(ft)
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./protocol -run Golden -update to create it)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("frame bytes differ from %s; if the wire change is deliberate, bump protocol.Version history and run -update", path)
			}
			got, err := ReadMessage(bytes.NewReader(want), 0)
			if err != nil {
				t.Fatalf("golden frame no longer decodes: %v", err)
			}
			if !proto.Equal(got, msg) {
				t.Errorf("golden frame decodes to %v, want %v", got, msg)
			}
		})
	}
}

func TestReadFrameErrors(t *testing.T) {
	valid := func() []byte {
		var buf bytes.Buffer
		if err := WriteMessage(&buf, samples()[FrameHeartbeat], 0); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}()
	tests := []struct {
		name  string
		in    []byte
		limit int
		want  error
	}{
		{"empty stream is EOF", nil, 0, io.EOF},
		{"partial header", valid[:3], 0, ErrTruncated},
		{"partial payload", valid[:len(valid)-1], 0, ErrTruncated},
		{"header only", valid[:HeaderSize], 0, ErrTruncated},
		{"unknown type zero", []byte{0, 0, 0, 0, 0}, 0, ErrUnknownFrameType},
		{"unknown type 200", []byte{200, 0, 0, 0, 0}, 0, ErrUnknownFrameType},
		{"declared over custom limit", valid, 8, ErrFrameTooLarge},
		{"declared 4 GiB", []byte{byte(FrameHello), 0xff, 0xff, 0xff, 0xff}, 0, ErrFrameTooLarge},
		{"declared just over default", []byte{byte(FrameHello), 0x00, 0x40, 0x00, 0x01}, 0, ErrFrameTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadFrame(bytes.NewReader(tt.in), tt.limit)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ReadFrame() error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestReadFrameAtDefaultLimit(t *testing.T) {
	payload := bytes.Repeat([]byte{0xAB}, DefaultMaxFrameSize)
	var buf bytes.Buffer
	if err := WriteFrame(&buf, Frame{Type: FrameAuditBatch, Payload: payload}, 0); err != nil {
		t.Fatal(err)
	}
	// Half-size reads prove the chunked read copes with short reads.
	f, err := ReadFrame(iotest.HalfReader(&buf), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.Payload, payload) {
		t.Fatal("payload changed")
	}
}

// TestReadFrameBoundedAllocation shows that a peer declaring a 4 MiB frame
// and sending only a few bytes cannot make the reader allocate 4 MiB.
func TestReadFrameBoundedAllocation(t *testing.T) {
	in := append([]byte{byte(FrameAuditBatch), 0x00, 0x40, 0x00, 0x00}, []byte("tiny")...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 20 {
		if _, err := ReadFrame(bytes.NewReader(in), 0); !errors.Is(err, ErrTruncated) {
			t.Fatalf("err = %v, want ErrTruncated", err)
		}
	}
	runtime.ReadMemStats(&after)
	perCall := (after.TotalAlloc - before.TotalAlloc) / 20
	if perCall > 2*readChunk {
		t.Fatalf("a truncated 4 MiB frame allocated %d bytes per read; want <= %d", perCall, 2*readChunk)
	}
}

func TestWriteFrameRefuses(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteFrame(&buf, Frame{Type: 0}, 0); !errors.Is(err, ErrUnknownFrameType) {
		t.Errorf("type 0: err = %v", err)
	}
	if err := WriteFrame(&buf, Frame{Type: FrameAck, Payload: make([]byte, 10)}, 9); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("oversize: err = %v", err)
	}
	if buf.Len() != 0 {
		t.Errorf("a refused frame wrote %d bytes", buf.Len())
	}
}

func TestDecodeFrameBadPayload(t *testing.T) {
	_, err := DecodeFrame(Frame{Type: FrameHello, Payload: []byte{0xff, 0xff, 0xff}})
	if !errors.Is(err, ErrBadMessage) {
		t.Fatalf("err = %v, want ErrBadMessage", err)
	}
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		peer []uint32
		want uint32
		ok   bool
	}{
		{[]uint32{1}, 1, true},
		{[]uint32{3, 2, 1}, 1, true},
		{[]uint32{9}, 0, false},
		{nil, 0, false},
		{[]uint32{0}, 0, false},
	}
	for _, tt := range tests {
		got, ok := Negotiate(tt.peer)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Negotiate(%v) = %d, %v; want %d, %v", tt.peer, got, ok, tt.want, tt.ok)
		}
	}
	if v := SupportedVersions(); len(v) == 0 || v[0] != Version {
		t.Errorf("SupportedVersions() = %v, want newest first starting at %d", v, Version)
	}
}

func TestFrameTypeNames(t *testing.T) {
	seen := map[string]bool{}
	for _, ft := range FrameTypes() {
		if seen[ft.String()] {
			t.Errorf("duplicate frame name %q", ft)
		}
		seen[ft.String()] = true
	}
	if got := FrameType(99).String(); got != "frame-type-99" {
		t.Errorf("unknown type name = %q", got)
	}
}
