// Package protocol holds Sitewarden's wire formats, shared by the site runner
// and the control plane: the protocol version and its history, the
// length-prefixed frame format every sync stream uses, and the mapping
// between frame types and the protobuf messages in proto/sitewarden/v1.
//
// It imports no other Sitewarden component, so either side (and an outside
// auditor's tool) can depend on it alone.
package protocol
