// Package pgtest starts a throwaway PostgreSQL server for tests: the Debian
// `postgresql` package's initdb and postgres, a data directory of its own,
// listening only on a Unix socket in that directory (no TCP port, so nothing
// to collide with), stopped and removed when the test ends.
//
// Tests running as root (CI) run the server as the `postgres` system user
// (PostgreSQL refuses root). A missing server binary fails the test with the
// command that installs it (.ci/deps.sh); it never skips.
package pgtest
