package audit

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// frames splits an export into its magic line and its frames (each with
// its 5-byte frame header), so tests can tamper with them.
func frames(t *testing.T, b []byte) (string, [][]byte) {
	t.Helper()
	magic, rest := string(b[:len(ExportMagic)]), b[len(ExportMagic):]
	var out [][]byte
	for len(rest) > 0 {
		n := 5 + int(binary.BigEndian.Uint32(rest[1:5]))
		out = append(out, append([]byte(nil), rest[:n]...))
		rest = rest[n:]
	}
	return magic, out
}

func join(magic string, fs [][]byte) []byte {
	out := []byte(magic)
	for _, f := range fs {
		out = append(out, f...)
	}
	return out
}

// recordFrame returns the position in fs of the record with index i.
func recordFrame(t *testing.T, fs [][]byte, i uint64) int {
	t.Helper()
	for k, f := range fs {
		if f[0] == frameRecord && binary.BigEndian.Uint64(f[5:13]) == i {
			return k
		}
	}
	t.Fatalf("no record %d", i)
	return 0
}

func verifyBytes(t *testing.T, m *memLog, b []byte) (Summary, error) {
	t.Helper()
	return Verify(context.Background(), bytes.NewReader(b), m.verifier(t))
}

func TestExportVerifies(t *testing.T) {
	m := newMemLog(t, "acme", "hq", testKey(1))
	m.appendRecords(t, "acme", 100)
	for _, tc := range []struct {
		name     string
		from, to uint64
		sizes    []uint64
	}{
		{"whole log", 0, 100, []uint64{100}},
		{"middle, last checkpoint beyond", 13, 77, []uint64{20, 40, 77, 100}[3:]},
		{"middle with inner checkpoints", 13, 77, []uint64{20, 40, 60, 100}},
		{"one record", 64, 65, []uint64{65}},
		{"ends at inner checkpoint", 5, 60, []uint64{10, 60}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := m.export(t, "acme", tc.from, tc.to, tc.sizes...)
			s, err := verifyBytes(t, m, b)
			if err != nil {
				t.Fatal(err)
			}
			if s.Records != tc.to-tc.from || s.FirstIndex != tc.from || s.LastIndex != tc.to-1 ||
				len(s.Checkpoints) != len(tc.sizes) || s.TreeSize != tc.sizes[len(tc.sizes)-1] {
				t.Fatalf("summary %+v", s)
			}
			var total uint64
			for _, n := range s.Kinds {
				total += n
			}
			if total != s.Records || !s.FirstTime.Equal(sampleRecord("acme", int(tc.from)).Time) {
				t.Fatalf("kinds %v, first time %v", s.Kinds, s.FirstTime)
			}
		})
	}
}

// TestExportTamper proves each tampering named by issue 4 is detected, and
// where a record is at fault, with its index.
func TestExportTamper(t *testing.T) {
	m := newMemLog(t, "acme", "hq", testKey(1))
	m.appendRecords(t, "acme", 120)
	good := m.export(t, "acme", 10, 90, 20, 30, 40, 50, 60, 70, 80, 90, 120)
	if _, err := verifyBytes(t, m, good); err != nil {
		t.Fatal(err)
	}
	magic, fs := frames(t, good)
	edit := func(f func(fs [][]byte) [][]byte) []byte {
		c := make([][]byte, len(fs))
		for i := range fs {
			c[i] = append([]byte(nil), fs[i]...)
		}
		return join(magic, f(c))
	}
	other := newMemLog(t, "acme", "hq", testKey(2))
	other.appendRecords(t, "acme", 120)
	later := newMemLog(t, "acme", "hq", testKey(1))
	later.appendRecords(t, "acme", 120)

	type want struct {
		err   error
		index int64 // -1: no index
	}
	cases := []struct {
		name string
		file []byte
		want want
	}{
		{"flip a payload byte", edit(func(fs [][]byte) [][]byte {
			f := fs[recordFrame(t, fs, 42)]
			f[len(f)-3] ^= 0x01
			return fs
		}), want{ErrRecordMismatch, 42}},
		{"flip a time byte", edit(func(fs [][]byte) [][]byte {
			f := fs[recordFrame(t, fs, 17)]
			f[5+8+32+8] ^= 0x01
			return fs
		}), want{ErrRecordMismatch, 17}},
		{"flip a stored leaf byte", edit(func(fs [][]byte) [][]byte {
			fs[recordFrame(t, fs, 61)][5+8+4] ^= 0x80
			return fs
		}), want{ErrRecordMismatch, 61}},
		{"break the encoding", edit(func(fs [][]byte) [][]byte {
			fs[recordFrame(t, fs, 33)][5+8+32] = 9 // version byte
			return fs
		}), want{ErrMalformedRecord, 33}},
		{"alter a record and recompute its leaf", edit(func(fs [][]byte) [][]byte {
			f := fs[recordFrame(t, fs, 45)]
			f[len(f)-3] ^= 0x01
			leaf := LeafHash(f[5+8+32:])
			copy(f[5+8:], leaf[:])
			return fs
		}), want{ErrRecordMismatch, 40}},
		{"delete a record", edit(func(fs [][]byte) [][]byte {
			k := recordFrame(t, fs, 50)
			return append(fs[:k], fs[k+1:]...)
		}), want{ErrRecordMismatch, 50}},
		{"delete the last record", edit(func(fs [][]byte) [][]byte {
			k := recordFrame(t, fs, 89)
			return append(fs[:k], fs[k+1:]...)
		}), want{ErrTruncatedExport, 89}},
		{"reorder two records", edit(func(fs [][]byte) [][]byte {
			a, b := recordFrame(t, fs, 22), recordFrame(t, fs, 27)
			fs[a], fs[b] = fs[b], fs[a]
			return fs
		}), want{ErrRecordMismatch, 22}},
		{"reorder two records, renumbered", edit(func(fs [][]byte) [][]byte {
			a, b := recordFrame(t, fs, 22), recordFrame(t, fs, 27)
			fs[a], fs[b] = fs[b], fs[a]
			binary.BigEndian.PutUint64(fs[a][5:], 22)
			binary.BigEndian.PutUint64(fs[b][5:], 27)
			return fs
		}), want{ErrRecordMismatch, 20}},
		{"replace the covering checkpoint with another genuine one", edit(func(fs [][]byte) [][]byte {
			// Keep the frame's proof (for size 120) but swap in the log's
			// own, validly signed checkpoint of size 110.
			note110 := m.checkpoint(t, 110)
			f := fs[9]
			old := int(binary.BigEndian.Uint32(f[5:9]))
			nf := binary.BigEndian.AppendUint32(append([]byte(nil), f[:5]...), uint32(len(note110)))
			nf = append(append(nf, note110...), f[9+old:]...)
			binary.BigEndian.PutUint32(nf[1:5], uint32(len(nf)-5))
			fs[9] = nf
			return fs
		}), want{ErrInconsistent, 90}},
		{"replace a checkpoint with a forked log's", edit(func(fs [][]byte) [][]byte {
			fork := newMemLog(t, "acme", "hq", testKey(1))
			fork.appendRecords(t, "acme", 29)
			fork.appendEncoded(t, must(Encode(sampleRecord("acme", 999))))
			var b bytes.Buffer
			w, _ := NewWriter(&b, ExportHeader{Origin: m.origin, Client: "acme", Key: m.vkey, First: 0, Count: 1})
			_ = w.WriteCheckpoint(ExportCheckpoint{Note: fork.checkpoint(t, 30)})
			_, nf := frames(t, b.Bytes())
			fs[2] = nf[1]
			return fs
		}), want{ErrRecordMismatch, 20}},
		{"drop the covering checkpoint", edit(func(fs [][]byte) [][]byte {
			return append(fs[:8], fs[10:]...) // keeps sizes 20..80
		}), want{ErrRecordMismatch, 80}},
		{"alter the consistency proof", edit(func(fs [][]byte) [][]byte {
			f := fs[9]
			f[len(f)-1] ^= 1
			return fs
		}), want{ErrInconsistent, 90}},
		{"alter a peak hash", edit(func(fs [][]byte) [][]byte {
			f := fs[0]
			f[len(f)-1] ^= 1
			return fs
		}), want{ErrRecordMismatch, 10}},
		{"edit a signed checkpoint", edit(func(fs [][]byte) [][]byte {
			i := bytes.Index(fs[3], []byte("\n40\n"))
			fs[3][i+2] = '1'
			return fs
		}), want{ErrBadSignature, -1}},
		{"sign with another key", other.export(t, "acme", 10, 90, 90), want{ErrWrongKey, -1}},
		{"checkpoints from another key", edit(func(fs [][]byte) [][]byte {
			_, ofs := frames(t, other.export(t, "acme", 10, 90, 20, 30, 40, 50, 60, 70, 80, 90, 120))
			copy(fs[1:10], ofs[1:10])
			return fs
		}), want{ErrBadSignature, -1}},
		{"splice two exports", func() []byte {
			_, bfs := frames(t, later.export(t, "acme", 90, 120, 120))
			return edit(func(fs [][]byte) [][]byte {
				k := recordFrame(t, fs, 60)
				rest := append([][]byte(nil), bfs[2:]...) // B's records and end
				return append(fs[:k], rest...)
			})
		}(), want{ErrRecordMismatch, 60}},
		{"concatenate two exports", append(append([]byte(nil), good...), later.export(t, "acme", 90, 120, 120)...),
			want{ErrMalformedExport, -1}},
		{"another client's records", func() []byte {
			x := newMemLog(t, "acme", "hq", testKey(1))
			x.appendRecords(t, "acme", 5)
			x.appendRecords(t, "globex", 1)
			return x.export(t, "acme", 0, 6, 6)
		}(), want{ErrRecordMismatch, 5}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := verifyBytes(t, m, tc.file)
			if err == nil {
				t.Fatal("tampered export verified")
			}
			if !errors.Is(err, tc.want.err) {
				t.Fatalf("error %v, want %v", err, tc.want.err)
			}
			var ve *VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("error %T is not a *VerifyError", err)
			}
			if tc.want.index >= 0 && (!ve.HasIndex || ve.Index != uint64(tc.want.index)) {
				t.Fatalf("error %v: index %d (has %v), want %d", err, ve.Index, ve.HasIndex, tc.want.index)
			}
			if tc.want.index < 0 && ve.HasIndex {
				t.Fatalf("error %v names index %d, want none", err, ve.Index)
			}
		})
	}
}

// TestExportTruncated cuts a valid export at every length: each prefix
// fails with a clear error, never verifies and never panics.
func TestExportTruncated(t *testing.T) {
	m := newMemLog(t, "acme", "hq", testKey(1))
	m.appendRecords(t, "acme", 12)
	b := m.export(t, "acme", 3, 12, 8, 12)
	for n := range len(b) {
		_, err := verifyBytes(t, m, b[:n])
		if !errors.Is(err, ErrTruncatedExport) && !errors.Is(err, ErrMalformedExport) {
			t.Fatalf("prefix of %d/%d bytes: %v", n, len(b), err)
		}
		if strings.Contains(err.Error(), "%!") {
			t.Fatalf("bad message: %v", err)
		}
	}
}

func TestWriterOrder(t *testing.T) {
	m := newMemLog(t, "acme", "hq", testKey(1))
	m.appendRecords(t, "acme", 4)
	var b bytes.Buffer
	w, err := NewWriter(&b, ExportHeader{Origin: m.origin, Client: "acme", Key: m.vkey, First: 0, Count: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRecord(0, m.records[0]); !errors.Is(err, ErrMalformedExport) {
		t.Fatalf("record before checkpoint: %v", err)
	}
	_ = w.WriteCheckpoint(ExportCheckpoint{Note: m.checkpoint(t, 2)})
	if err := w.WriteRecord(1, m.records[1]); !errors.Is(err, ErrMalformedExport) {
		t.Fatalf("skipped record: %v", err)
	}
	_ = w.WriteRecord(0, m.records[0])
	if err := w.Close(); !errors.Is(err, ErrMalformedExport) {
		t.Fatalf("close after 1 of 2: %v", err)
	}
	if _, err := NewWriter(&b, ExportHeader{Origin: "o", Client: "c", Key: "k", First: 3, Count: 1, Peaks: []tlog.Hash{{}}}); !errors.Is(err, ErrMalformedExport) {
		t.Fatalf("wrong peak count: %v", err)
	}
}
