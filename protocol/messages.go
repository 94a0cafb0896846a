package protocol

import (
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

// FrameType names the message a frame carries. Values are part of the wire
// format: never renumber one, only add.
type FrameType uint8

// Frame types of protocol version 1.
const (
	FrameHello                 FrameType = 1
	FrameWelcome               FrameType = 2
	FrameHeartbeat             FrameType = 3
	FrameNotify                FrameType = 4
	FrameScopeRequest          FrameType = 5
	FrameScopeBundle           FrameType = 6
	FrameGoalAssignment        FrameType = 7
	FrameEscalation            FrameType = 8
	FrameApprovalRequest       FrameType = 9
	FrameApprovalDecision      FrameType = 10
	FrameOutcome               FrameType = 11
	FrameAuditBatch            FrameType = 12
	FrameCheckpointCosignature FrameType = 13
	FrameAck                   FrameType = 14
	FrameError                 FrameType = 15
)

type frameKind struct {
	name string
	new  func() proto.Message
}

// frameKinds is indexed by FrameType; index 0 is unused.
var frameKinds = [...]frameKind{
	FrameHello:                 {"hello", func() proto.Message { return new(pb.Hello) }},
	FrameWelcome:               {"welcome", func() proto.Message { return new(pb.Welcome) }},
	FrameHeartbeat:             {"heartbeat", func() proto.Message { return new(pb.Heartbeat) }},
	FrameNotify:                {"notify", func() proto.Message { return new(pb.Notify) }},
	FrameScopeRequest:          {"scope-request", func() proto.Message { return new(pb.ScopeRequest) }},
	FrameScopeBundle:           {"scope-bundle", func() proto.Message { return new(pb.ScopeBundle) }},
	FrameGoalAssignment:        {"goal-assignment", func() proto.Message { return new(pb.GoalAssignment) }},
	FrameEscalation:            {"escalation", func() proto.Message { return new(pb.Escalation) }},
	FrameApprovalRequest:       {"approval-request", func() proto.Message { return new(pb.ApprovalRequest) }},
	FrameApprovalDecision:      {"approval-decision", func() proto.Message { return new(pb.ApprovalDecision) }},
	FrameOutcome:               {"outcome", func() proto.Message { return new(pb.Outcome) }},
	FrameAuditBatch:            {"audit-batch", func() proto.Message { return new(pb.AuditBatch) }},
	FrameCheckpointCosignature: {"checkpoint-cosignature", func() proto.Message { return new(pb.CheckpointCosignature) }},
	FrameAck:                   {"ack", func() proto.Message { return new(pb.Ack) }},
	FrameError:                 {"error", func() proto.Message { return new(pb.Error) }},
}

// frameTypeOf maps a message's full protobuf name to its frame type.
var frameTypeOf = func() map[protoreflect.FullName]FrameType {
	m := make(map[protoreflect.FullName]FrameType, len(frameKinds))
	for t, k := range frameKinds {
		if k.new != nil {
			m[k.new().ProtoReflect().Descriptor().FullName()] = FrameType(t)
		}
	}
	return m
}()

// FrameTypes lists every frame type of this version in numeric order.
func FrameTypes() []FrameType {
	out := make([]FrameType, 0, len(frameKinds))
	for t, k := range frameKinds {
		if k.new != nil {
			out = append(out, FrameType(t))
		}
	}
	return out
}

// Known reports whether t is a frame type of this version.
func (t FrameType) Known() bool {
	return int(t) < len(frameKinds) && frameKinds[t].new != nil
}

// String returns the frame type's name, e.g. "heartbeat".
func (t FrameType) String() string {
	if !t.Known() {
		return fmt.Sprintf("frame-type-%d", uint8(t))
	}
	return frameKinds[t].name
}

// NewMessage returns an empty message of the type t carries.
func (t FrameType) NewMessage() (proto.Message, error) {
	if !t.Known() {
		return nil, fmt.Errorf("type %d: %w", uint8(t), ErrUnknownFrameType)
	}
	return frameKinds[t].new(), nil
}

// TypeOf returns the frame type that carries m.
func TypeOf(m proto.Message) (FrameType, error) {
	name := m.ProtoReflect().Descriptor().FullName()
	t, ok := frameTypeOf[name]
	if !ok {
		return 0, fmt.Errorf("message %s: %w", name, ErrUnknownFrameType)
	}
	return t, nil
}

// EncodeFrame returns the frame that carries m.
func EncodeFrame(m proto.Message) (Frame, error) {
	t, err := TypeOf(m)
	if err != nil {
		return Frame{}, err
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return Frame{}, fmt.Errorf("encode %s: %w", t, err)
	}
	return Frame{Type: t, Payload: b}, nil
}

// DecodeFrame decodes f's payload as the message its type names. Unknown
// fields from a newer peer are kept, not rejected.
func DecodeFrame(f Frame) (proto.Message, error) {
	m, err := f.Type.NewMessage()
	if err != nil {
		return nil, err
	}
	if err := proto.Unmarshal(f.Payload, m); err != nil {
		return nil, fmt.Errorf("decode %s: %w: %v", f.Type, ErrBadMessage, err)
	}
	return m, nil
}

// WriteMessage encodes m and writes it to w as one frame.
func WriteMessage(w io.Writer, m proto.Message, limit int) error {
	f, err := EncodeFrame(m)
	if err != nil {
		return err
	}
	return WriteFrame(w, f, limit)
}

// ReadMessage reads one frame from r and decodes it.
func ReadMessage(r io.Reader, limit int) (proto.Message, error) {
	f, err := ReadFrame(r, limit)
	if err != nil {
		return nil, err
	}
	return DecodeFrame(f)
}
