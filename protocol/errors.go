package protocol

import "errors"

// Sentinel errors. Callers match them with errors.Is.
var (
	// ErrFrameTooLarge means a frame's declared or actual size exceeds the limit.
	ErrFrameTooLarge = errors.New("frame exceeds size limit")
	// ErrTruncated means the stream ended inside a frame.
	ErrTruncated = errors.New("truncated frame")
	// ErrUnknownFrameType means the frame type is not one this version defines.
	ErrUnknownFrameType = errors.New("unknown frame type")
	// ErrBadMessage means a frame's payload does not decode as its type's message.
	ErrBadMessage = errors.New("malformed message")
	// ErrMalformedToken means a string is not an enrollment token.
	ErrMalformedToken = errors.New("malformed enrollment token")
)
