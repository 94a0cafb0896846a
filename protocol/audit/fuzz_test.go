package audit

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenExport is the export in testdata/export-v1.swa: records 3..20 of a
// 24-record log with checkpoints at 10, 20 and 24 (deterministic keys and
// times, so the bytes are stable).
func goldenExport(t testing.TB) (*memLog, []byte) {
	m := newMemLog(t, "acme", "hq", testKey(1))
	m.appendRecords(t, "acme", 24)
	return m, m.export(t, "acme", 3, 20, 10, 20, 24)
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run 'go test ./protocol/audit -run Golden -update' to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from what this build writes; the format changed? (-update rewrites it)", path)
	}
}

// TestGoldenFiles pins the export and checkpoint formats; the files also
// seed the fuzz targets and serve as samples for docs/audit.md.
func TestGoldenFiles(t *testing.T) {
	m, exp := goldenExport(t)
	golden(t, "export-v1.swa", exp)
	golden(t, "checkpoint-v1.note", m.checkpoint(t, 24))
	golden(t, "key-v1.pub", []byte(m.vkey+"\n"))
	v, err := LoadVerifierKey(filepath.Join("testdata", "key-v1.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyFile(context.Background(), filepath.Join("testdata", "export-v1.swa"), v); err != nil {
		t.Fatal(err)
	}
}

func seed(f *testing.F, name string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzVerifyExport feeds arbitrary files to the export decoder and
// verifier: no panic, and whatever verifies is internally consistent.
func FuzzVerifyExport(f *testing.F) {
	exp := seed(f, "export-v1.swa")
	f.Add(exp)
	f.Add(exp[:len(exp)/2])
	f.Add([]byte(ExportMagic))
	v, err := LoadVerifierKey(filepath.Join("testdata", "key-v1.pub"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// The frame decoder alone reaches record and end frames, which the
		// verifier only reads after valid signatures.
		if x, err := NewReader(bytes.NewReader(b)); err == nil {
			for range 1 << 16 {
				if _, err := x.Next(); err != nil {
					break
				}
			}
		}
		s, err := Verify(context.Background(), bytes.NewReader(b), v)
		if err != nil {
			var ve *VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v is not a *VerifyError", err)
			}
			return
		}
		if s.Records == 0 || s.LastIndex-s.FirstIndex+1 != s.Records || len(s.Checkpoints) == 0 {
			t.Fatalf("verified export with summary %+v", s)
		}
	})
}

// FuzzParseCheckpoint feeds arbitrary notes to the signed-note parser,
// the checkpoint body parser and Cosign.
func FuzzParseCheckpoint(f *testing.F) {
	f.Add(seed(f, "checkpoint-v1.note"))
	f.Add([]byte("sitewarden-audit/acme/hq\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— x AAAAAAA=\n"))
	v, err := LoadVerifierKey(filepath.Join("testdata", "key-v1.pub"))
	if err != nil {
		f.Fatal(err)
	}
	s, _, err := NewSigner("witness", testKey(7))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := ParseCheckpoint(b); err == nil && !bytes.Equal(c.Marshal(), b) {
			t.Fatalf("body %q re-marshals as %q", b, c.Marshal())
		}
		c, err := VerifyCheckpoint(b, v)
		if err == nil && c.Origin != v.Name() {
			t.Fatalf("verified checkpoint of origin %q", c.Origin)
		}
		_, _ = OpenCheckpoint(b)
		if out, err := Cosign(b, s); err == nil {
			if _, err := OpenCheckpoint(out); err != nil {
				t.Fatalf("cosigned note does not parse: %v", err)
			}
		}
	})
}

// FuzzDecodeRecord checks that Decode never panics and that whatever it
// accepts re-encodes to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	x, err := NewReader(bytes.NewReader(seed(f, "export-v1.swa")))
	if err != nil {
		f.Fatal(err)
	}
	for {
		it, err := x.Next()
		if err != nil {
			break
		}
		if it.Record != nil {
			f.Add(append([]byte(nil), it.Record.Encoding...))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Decode(b)
		if err != nil {
			return
		}
		if !bytes.Equal(encode(r), b) {
			t.Fatalf("Decode accepted non-canonical bytes %x", b)
		}
	})
}

// FuzzCheckPayload checks checkPayload's fast path against the full
// decode: whatever plainPayload accepts, checkPayloadFull must accept.
// Seeds: the payloads of testdata/export-v1.swa and edge cases.
func FuzzCheckPayload(f *testing.F) {
	x, err := NewReader(bytes.NewReader(seed(f, "export-v1.swa")))
	if err != nil {
		f.Fatal(err)
	}
	for {
		it, err := x.Next()
		if err != nil {
			break
		}
		if it.Record == nil {
			continue
		}
		if r, err := Decode(it.Record.Encoding); err == nil {
			f.Add(append([]byte(nil), r.Payload...))
		}
	}
	for _, s := range []string{`{"Password":"x"}`, `{"new_TOKEN":"x"}`, `{"pass\u0077ord":"x"}`, `{"a":1} {}`,
		`[{"a":1}]`, `{"a":"\u00e9"}`, `{"a":[[[[[[]]]]]]}`, " {} ", `{"a":1,}`, `{"s":"{[["}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		if plainPayload(p) {
			if err := checkPayloadFull(p); err != nil {
				t.Fatalf("fast path accepted %q, the full check says %v", p, err)
			}
		}
	})
}
