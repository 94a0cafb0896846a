// Package audit defines Sitewarden's tamper-evident audit log formats and
// their verification, shared by the site runner (which writes the log), the
// control plane (which countersigns checkpoints) and any outside auditor:
//
//   - Record and its canonical encoding (Encode, Decode), the bytes a Merkle
//     leaf hash covers (LeafHash, RFC 6962 as in golang.org/x/mod/sumdb/tlog);
//   - Checkpoint, the C2SP tlog-checkpoint body, signed as a C2SP signed note
//     (golang.org/x/mod/sumdb/note) with the site's ed25519 key (NewSigner,
//     VerifyCheckpoint), countersigned by the control plane (Cosign) and
//     checked for append-only growth (VerifyConsistency);
//   - the export file format (Writer, Reader) and its offline verifier
//     (Verify, VerifyFile), which needs nothing but the site's public key.
//
// docs/audit.md specifies every format byte by byte. The package imports only
// the standard library and golang.org/x/mod, so an auditor's tool can use it
// alone.
package audit
