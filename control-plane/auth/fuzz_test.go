package auth

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParsePHC checks the password hash decoder never panics, keeps its
// bounds, and that what it accepts re-encodes to the same string.
func FuzzParsePHC(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "phc", "*.txt"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds in testdata/phc: %v", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := parsePHC(s)
		if err != nil {
			return
		}
		if p.Memory > 256<<10 || p.Time > 16 || p.Threads > 16 || len(salt) > 64 || len(key) > 128 {
			t.Fatalf("accepted out-of-bounds parameters %+v salt %d key %d", p, len(salt), len(key))
		}
		again := fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", p.Memory, p.Time, p.Threads, b64(salt), b64(key))
		if again != s {
			t.Fatalf("accepted %q but it re-encodes as %q", s, again)
		}
		p2, salt2, key2, err := parsePHC(again)
		if err != nil || p2 != p || !bytes.Equal(salt, salt2) || !bytes.Equal(key, key2) {
			t.Fatalf("round trip of %q failed: %v", again, err)
		}
	})
}

func TestParsePHCSeeds(t *testing.T) {
	for file, ok := range map[string]bool{"default.txt": true, "wrong-variant.txt": false, "huge-memory.txt": false, "empty-parts.txt": false} {
		b, err := os.ReadFile(filepath.Join("testdata", "phc", file))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := parsePHC(string(b)); (err == nil) != ok {
			t.Errorf("%s: parse error %v, want accepted=%v", file, err, ok)
		}
	}
}
