package store

import "testing"

func TestRebind(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`SELECT a FROM t WHERE b = ? AND c = ?`, `SELECT a FROM t WHERE b = $1 AND c = $2`},
		{`SELECT rowid, x FROM items WHERE rowid > ? ORDER BY rowid LIMIT ?`, `SELECT seq, x FROM items WHERE seq > $1 ORDER BY seq LIMIT $2`},
		{`SELECT '?', "rowid", my_rowid, rowids FROM t WHERE a = ?`, `SELECT '?', "rowid", my_rowid, rowids FROM t WHERE a = $1`},
		{`WHERE ? = '' OR "user" = ?`, `WHERE $1 = '' OR "user" = $2`},
		{`SELECT 'unterminated ?`, `SELECT 'unterminated ?`},
	} {
		if got := rebind(tt.in); got != tt.want {
			t.Errorf("rebind(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
