// Package store keeps the control plane's state behind one interface, Store:
// sites, enrollment tokens, scope versions, goals, the items sites send up
// (escalations, approval requests, outcomes), approval decisions, audit
// checkpoints and the audit mirror.
//
// The embedded default is SQLite (modernc.org/sqlite, pure Go) with its
// migrations embedded in the binary (migrations/*.sql, applied in order on
// Open). PostgreSQL (OpenPostgres, pgx) is the store of several
// control-plane replicas: the same migrations with PostgreSQL bodies
// (migrations/postgres), change notifications through LISTEN/NOTIFY
// (Change, ListenChanges) and once-per-period background work (Once);
// docs/scaling.md. The methods are written once, in portable SQL over
// database/sql (sqlite*.go); Postgres runs the same code through an
// adapting connector and a small dialect hook, engine (postgres_shared.go).
// Every implementation must pass the contract suite in
// control-plane/store/storetest.
package store
