package audit

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	protocolaudit "github.com/sitewarden/sitewarden/protocol/audit"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenSegment is testdata/segment-v1.bin: three entries (indexes 7..9)
// followed by zeros, as a segment holds them.
func goldenSegment(t testing.TB) []byte {
	var buf []byte
	for i := range 3 {
		r := record(1, i)
		r.Client, r.Site, r.Time = "acme", "hq", time.Date(2026, 11, 20, 10, 0, i, 0, time.UTC)
		enc, err := protocolaudit.Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		buf = appendEntry(buf, uint64(7+i), enc)
	}
	return append(buf, make([]byte, 64)...)
}

func TestGoldenSegment(t *testing.T) {
	path := filepath.Join("testdata", "segment-v1.bin")
	got := goldenSegment(t)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run 'go test ./runner/audit -run Golden -update')", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("segment entry format changed; -update rewrites testdata/segment-v1.bin")
	}
}

// FuzzSegmentScan feeds arbitrary bytes to the segment decoder that runs
// on every open: no panic, and what it accepts is a run of intact entries.
func FuzzSegmentScan(f *testing.F) {
	seed, err := os.ReadFile(filepath.Join("testdata", "segment-v1.bin"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed, uint64(7))
	f.Add(seed[:40], uint64(7))
	f.Add([]byte{}, uint64(0))
	// An entry larger than the scanner's initial buffer (a bug once).
	f.Add(appendEntry(nil, 0, bytes.Repeat([]byte{1}, 5000)), uint64(0))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte, first uint64) {
		path := filepath.Join(dir, "fuzz.seg")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		fh, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		s := &segment{path: path, f: fh, size: int64(len(b))}
		var n uint64
		next, err := s.scan(first, func(index uint64, rec []byte) error {
			if index != first+n || len(rec) == 0 {
				t.Fatalf("entry %d has index %d", n, index)
			}
			n++
			return nil
		})
		if err != nil && !errors.Is(err, errTorn) {
			t.Fatalf("scan: %v", err)
		}
		if next != first+n || s.off > int64(len(b)) {
			t.Fatalf("next %d after %d entries from %d; end %d of %d", next, n, first, s.off, len(b))
		}
	})
}
