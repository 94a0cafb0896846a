// Package cluster is what lets several control-plane replicas share one
// PostgreSQL store (docs/scaling.md):
//
//   - Relay forwards the changes other processes write (scope versions,
//     goals, approval decisions, published by the store through
//     PostgreSQL LISTEN/NOTIFY) to the sites connected to this replica;
//   - Schedule runs background jobs once per period across replicas,
//     through a store.Once (PostgreSQL advisory lock and job_runs table, or
//     store.LocalOnce for a single SQLite node).
//
// It imports no database driver: the store owns PostgreSQL.
package cluster
