package protocol

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"

	"google.golang.org/protobuf/proto"
)

// seedGolden adds every golden frame in testdata/frames to the corpus.
func seedGolden(f *testing.F, payloadOnly bool, only FrameType) {
	f.Helper()
	for _, ft := range FrameTypes() {
		if only != 0 && ft != only {
			continue
		}
		b, err := os.ReadFile(goldenPath(ft))
		if err != nil {
			f.Fatalf("seed corpus: %v", err)
		}
		if payloadOnly {
			b = b[HeaderSize:]
		}
		f.Add(b)
	}
}

// FuzzReadFrame feeds arbitrary bytes to the frame reader: it must return a
// frame or an error, never panic, and a frame it returns must re-encode to
// the bytes it came from.
func FuzzReadFrame(f *testing.F) {
	seedGolden(f, false, 0)
	f.Add([]byte{byte(FrameHello), 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		for {
			fr, err := ReadFrame(r, 1<<16)
			if err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, ErrTruncated) || errors.Is(err, ErrFrameTooLarge) || errors.Is(err, ErrUnknownFrameType) {
					return
				}
				t.Fatalf("unexpected error class: %v", err)
			}
			var out bytes.Buffer
			if err := WriteFrame(&out, fr, 1<<16); err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			if _, err := DecodeFrame(fr); err != nil && !errors.Is(err, ErrBadMessage) {
				t.Fatalf("decode error class: %v", err)
			}
		}
	})
}

// fuzzMessage fuzzes the decoder of one message type: decoding arbitrary
// bytes never panics, and a decoded message survives an encode/decode round
// trip unchanged.
func fuzzMessage(f *testing.F, ft FrameType) {
	seedGolden(f, true, ft)
	f.Fuzz(func(t *testing.T, payload []byte) {
		m, err := DecodeFrame(Frame{Type: ft, Payload: payload})
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("error class: %v", err)
			}
			return
		}
		fr, err := EncodeFrame(m)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		m2, err := DecodeFrame(fr)
		if err != nil {
			t.Fatalf("decode of re-encoded message: %v", err)
		}
		if !proto.Equal(m, m2) {
			t.Fatalf("round trip changed the message")
		}
	})
}

func FuzzHello(f *testing.F)                 { fuzzMessage(f, FrameHello) }
func FuzzWelcome(f *testing.F)               { fuzzMessage(f, FrameWelcome) }
func FuzzHeartbeat(f *testing.F)             { fuzzMessage(f, FrameHeartbeat) }
func FuzzNotify(f *testing.F)                { fuzzMessage(f, FrameNotify) }
func FuzzScopeRequest(f *testing.F)          { fuzzMessage(f, FrameScopeRequest) }
func FuzzScopeBundle(f *testing.F)           { fuzzMessage(f, FrameScopeBundle) }
func FuzzGoalAssignment(f *testing.F)        { fuzzMessage(f, FrameGoalAssignment) }
func FuzzEscalation(f *testing.F)            { fuzzMessage(f, FrameEscalation) }
func FuzzApprovalRequest(f *testing.F)       { fuzzMessage(f, FrameApprovalRequest) }
func FuzzApprovalDecision(f *testing.F)      { fuzzMessage(f, FrameApprovalDecision) }
func FuzzOutcome(f *testing.F)               { fuzzMessage(f, FrameOutcome) }
func FuzzAuditBatch(f *testing.F)            { fuzzMessage(f, FrameAuditBatch) }
func FuzzCheckpointCosignature(f *testing.F) { fuzzMessage(f, FrameCheckpointCosignature) }
func FuzzAck(f *testing.F)                   { fuzzMessage(f, FrameAck) }
func FuzzError(f *testing.F)                 { fuzzMessage(f, FrameError) }

// TestEveryFrameTypeHasAFuzzTarget keeps the list above complete.
func TestEveryFrameTypeHasAFuzzTarget(t *testing.T) {
	src, err := os.ReadFile("fuzz_test.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, ft := range FrameTypes() {
		want := fmt.Sprintf("func Fuzz%s(f *testing.F) { fuzzMessage(f, Frame%s) }", goName(ft), goName(ft))
		if !bytes.Contains(bytes.Join(bytes.Fields(src), []byte(" ")), []byte(want)) {
			t.Errorf("no fuzz target for frame type %s; add: %s", ft, want)
		}
	}
}

// goName turns "approval-request" into "ApprovalRequest".
func goName(ft FrameType) string {
	var b []byte
	up := true
	for _, c := range []byte(ft.String()) {
		if c == '-' {
			up = true
			continue
		}
		if up && c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		up = false
		b = append(b, c)
	}
	return string(b)
}
