package hostops

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// writeAged creates path with size bytes, last modified days ago.
func writeAged(t *testing.T, path string, size int, days int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
	ts := now.Add(-time.Duration(days) * 24 * time.Hour)
	if err := os.Chtimes(path, ts, ts); err != nil {
		t.Fatal(err)
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// tree builds a root with old and new files and symlinks escaping to an
// outside directory full of old files.
func tree(t *testing.T) (root, outside string) {
	base := t.TempDir()
	root = filepath.Join(base, "root")
	outside = filepath.Join(base, "outside")
	writeAged(t, filepath.Join(root, "old.log"), 100, 40)
	writeAged(t, filepath.Join(root, "new.log"), 1000, 1)
	writeAged(t, filepath.Join(root, "sub", "deep", "old.bin"), 250, 90)
	writeAged(t, filepath.Join(outside, "victim.log"), 5000, 400)
	writeAged(t, filepath.Join(outside, "nested", "victim2.log"), 5000, 400)
	if err := os.Symlink(outside, filepath.Join(root, "escape-dir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "victim.log"), filepath.Join(root, "escape-file.log")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../outside", filepath.Join(root, "sub", "relative-escape")); err != nil {
		t.Fatal(err)
	}
	return root, outside
}

func TestCleanupDryRunReportsBytes(t *testing.T) {
	root, outside := tree(t)
	res, err := Cleanup(context.Background(), CleanupParams{Roots: []string{root}, OlderThanDays: 30}, now, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if !res.DryRun || res.Files != 2 || res.Bytes != 350 || res.SkippedLinks != 3 {
		t.Fatalf("dry run = %+v, want 2 files, 350 bytes, 3 links skipped", res)
	}
	for _, p := range []string{filepath.Join(root, "old.log"), filepath.Join(root, "sub", "deep", "old.bin"), filepath.Join(outside, "victim.log")} {
		if !exists(p) {
			t.Fatalf("dry run deleted %s", p)
		}
	}
	want := []string{filepath.Join(root, "old.log"), filepath.Join(root, "sub", "deep", "old.bin")}
	got := slices.Clone(res.Sample)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("sample = %v, want %v", got, want)
	}
}

func TestCleanupDeletesOnlyOldFilesInsideTheRoot(t *testing.T) {
	root, outside := tree(t)
	no := false
	res, err := Cleanup(context.Background(), CleanupParams{Roots: []string{root}, OlderThanDays: 30, DryRun: &no}, now, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if res.DryRun || res.Files != 2 || res.Bytes != 350 || res.Errors != 0 {
		t.Fatalf("cleanup = %+v", res)
	}
	for _, gone := range []string{filepath.Join(root, "old.log"), filepath.Join(root, "sub", "deep", "old.bin")} {
		if exists(gone) {
			t.Errorf("%s not deleted", gone)
		}
	}
	for _, kept := range []string{
		filepath.Join(root, "new.log"),
		filepath.Join(root, "escape-dir"),
		filepath.Join(root, "escape-file.log"),
		filepath.Join(outside, "victim.log"),
		filepath.Join(outside, "nested", "victim2.log"),
	} {
		if !exists(kept) {
			t.Errorf("%s was deleted", kept)
		}
	}
}

// TestCleanupRootRefusesEscapeSwappedIn: the os.Root the walk goes through
// refuses a path whose directory was replaced by a symlink out of the root
// after it was listed (the check-then-use race of a plain walk).
func TestCleanupRootRefusesEscapeSwappedIn(t *testing.T) {
	root, outside := tree(t)
	r, err := os.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// "sub" was a real directory when listed; swap it for a link outside.
	if err := os.RemoveAll(filepath.Join(root, "sub")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "sub")); err != nil {
		t.Fatal(err)
	}
	if err := r.Remove("sub/victim.log"); err == nil {
		t.Fatal("os.Root removed a file outside the root through a swapped-in symlink")
	}
	if !exists(filepath.Join(outside, "victim.log")) {
		t.Fatal("file outside the root deleted")
	}
}

func TestCleanupRejectsBadRoots(t *testing.T) {
	root, outside := tree(t)
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"/", "relative/dir", filepath.Join(root, "old.log"), link, filepath.Join(root, "missing")} {
		_, err := Cleanup(context.Background(), CleanupParams{Roots: []string{root, bad}, OlderThanDays: 1}, now, DefaultConfig())
		if !errors.Is(err, ErrBadRoot) {
			t.Errorf("root %q: want ErrBadRoot, got %v", bad, err)
		}
	}
	if !exists(filepath.Join(root, "old.log")) {
		t.Fatal("a refused request deleted files")
	}
}

func TestCleanupBudget(t *testing.T) {
	root := t.TempDir()
	for i := range 30 {
		writeAged(t, filepath.Join(root, "d", string(rune('a'+i%26))+string(rune('a'+i/26))+".log"), 10, 100)
	}
	cfg := DefaultConfig()
	cfg.MaxCleanupEntries = 10
	cfg.MaxCleanupReported = 3
	res, err := Cleanup(context.Background(), CleanupParams{Roots: []string{root}, OlderThanDays: 1}, now, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Truncated || res.Files > 10 || len(res.Sample) != 3 {
		t.Fatalf("budget not applied: %+v", res)
	}
}
