package audit

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteSynced checks both Linux write paths, pwritev2(RWF_DSYNC) and
// the pwrite+fdatasync fallback (the one that mirrors Windows' WriteAt +
// FlushFileBuffers), on a preallocated file like a segment: the bytes land
// at their offsets and nothing else changes. (Durability itself is what
// TestCrashRecovery checks, through SIGKILL.)
func TestWriteSynced(t *testing.T) {
	for name, write := range map[string]func(*os.File, []byte, int64) error{
		"pwritev2": writeSynced, "pwrite+fdatasync": writeThenSync,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "seg")
			if err := os.WriteFile(path, make([]byte, 1<<16), 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			want := make([]byte, 1<<16)
			off := int64(0)
			for i := range 50 {
				buf := appendEntry(nil, uint64(i), bytes.Repeat([]byte{byte(i + 1)}, 10+i*13))
				if err := write(f, buf, off); err != nil {
					t.Fatal(err)
				}
				copy(want[off:], buf)
				off += int64(len(buf))
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("file differs from the writes (size %d, want %d)", len(got), len(want))
			}
			if err := write(f, []byte{1}, 0); err == nil {
				t.Fatal("write to a closed file succeeded")
			}
		})
	}
}
