// Package audit is the site runner's tamper-evident audit log: a Merkle
// transparency log (RFC 6962 hashing through golang.org/x/mod/sumdb/tlog)
// whose records are made durable in append-only segment files before
// Append returns, indexed in Badger (records, stored tree hashes,
// checkpoints), and signed as C2SP checkpoints with the site's ed25519 key.
//
// Durability does not rely on Badger's SyncWrites, which does not reach the
// disk on Windows: each group commit is written to a preallocated,
// zero-filled segment file with pwritev2(RWF_DSYNC) (Linux: write and data
// sync in one call) or WriteAt and FlushFileBuffers (File.Sync, Windows)
// before any caller is answered.
// Badger is written without sync and is rebuilt from the segments on open;
// a torn tail left by a crash is cut off there. docs/audit.md describes the
// design and every format.
//
// Formats and verification live in protocol/audit; this package is the
// only importer of Badger in the module.
package audit
