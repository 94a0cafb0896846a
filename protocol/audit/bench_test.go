package audit

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// BenchmarkVerifyExport1M verifies an export of 1,000,000 records on one
// core (GOMAXPROCS=1). Issue 4's target: at most 10 s. The export is built
// once, outside the timer.
func BenchmarkVerifyExport1M(b *testing.B) {
	const n = 1_000_000
	m := newMemLog(b, "acme", "hq", testKey(1))
	m.appendRecords(b, "acme", n)
	path := filepath.Join(b.TempDir(), "export.swa")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w, err := NewWriter(bw, ExportHeader{Origin: m.origin, Client: "acme", Key: m.vkey, First: 0, Count: n, Created: time.Now()})
	if err != nil {
		b.Fatal(err)
	}
	for size := uint64(1000); size <= n; size += 1000 { // one checkpoint per 1,000 records, as the log signs them
		if err := w.WriteCheckpoint(ExportCheckpoint{Note: m.checkpoint(b, size)}); err != nil {
			b.Fatal(err)
		}
	}
	for i := range uint64(n) {
		if err := w.WriteRecord(i, m.records[i]); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	st, _ := os.Stat(path)
	v := m.verifier(b)
	m = nil
	runtime.GC()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	b.SetBytes(st.Size())
	b.ResetTimer()
	for b.Loop() {
		s, err := VerifyFile(context.Background(), path, v)
		if err != nil || s.Records != n {
			b.Fatalf("verify: %v (%d records)", err, s.Records)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/verify")
}
