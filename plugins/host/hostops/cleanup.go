package hostops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"time"
)

// CleanupParams are host.cleanup's params.
type CleanupParams struct {
	Roots         []string `json:"roots"`
	OlderThanDays int      `json:"older_than_days"`
	DryRun        *bool    `json:"dry_run"` // nil means true
}

// CleanupResult is host.cleanup's result. In a dry run Files and Bytes are
// what would be deleted; otherwise what was.
type CleanupResult struct {
	DryRun       bool     `json:"dry_run"`
	Files        int      `json:"files"`
	Bytes        int64    `json:"bytes"`
	Errors       int      `json:"errors"`
	Truncated    bool     `json:"truncated"`
	SkippedLinks int      `json:"skipped_links"`
	Sample       []string `json:"sample,omitempty"`
}

// Cleanup deletes (or, in a dry run, counts) regular files under each root
// last modified before now minus OlderThanDays. Each root is opened as an
// os.Root, and every directory listing and removal goes through it, so a
// symlink or junction — present from the start or swapped in during the
// walk — can never lead outside the root; symlinks and other non-regular
// entries are neither followed nor deleted. At most cfg.MaxCleanupEntries
// entries are visited (Truncated reports hitting the bound).
func Cleanup(ctx context.Context, p CleanupParams, now time.Time, cfg Config) (CleanupResult, error) {
	res := CleanupResult{DryRun: p.DryRun == nil || *p.DryRun}
	if p.OlderThanDays < 1 {
		return res, errors.New("cleanup: older_than_days must be at least 1")
	}
	cutoff := now.Add(-time.Duration(p.OlderThanDays) * 24 * time.Hour)
	budget := cfg.MaxCleanupEntries
	for _, root := range p.Roots {
		if err := checkRoot(root); err != nil {
			return res, err
		}
	}
	for _, root := range p.Roots {
		if err := cleanRoot(ctx, filepath.Clean(root), cutoff, &budget, cfg, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

func checkRoot(root string) error {
	if !filepath.IsAbs(root) {
		return fmt.Errorf("%w: %q is not an absolute path", ErrBadRoot, root)
	}
	clean := filepath.Clean(root)
	if clean == filepath.VolumeName(clean)+string(filepath.Separator) {
		return fmt.Errorf("%w: %q is a file-system root; name a directory under it", ErrBadRoot, root)
	}
	fi, err := os.Lstat(clean)
	if err != nil {
		return fmt.Errorf("%w: %q: %v", ErrBadRoot, root, err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 || fi.Mode()&fs.ModeIrregular != 0 {
		return fmt.Errorf("%w: %q is a symlink or junction; name the directory it points to", ErrBadRoot, root)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %q is not a directory", ErrBadRoot, root)
	}
	return nil
}

func cleanRoot(ctx context.Context, root string, cutoff time.Time, budget *int, cfg Config, res *CleanupResult) error {
	r, err := os.OpenRoot(root)
	if err != nil {
		return fmt.Errorf("%w: %q: %v", ErrBadRoot, root, err)
	}
	defer r.Close()
	stack := []string{"."}
	for len(stack) > 0 {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("cleanup stopped: %w", err)
		}
		dir := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		entries, err := readDir(r, dir, budget)
		if err != nil {
			res.Errors++
		}
		if *budget <= 0 {
			res.Truncated = true
		}
		for _, e := range entries {
			rel := path.Join(dir, e.Name())
			t := e.Type()
			switch {
			case t&fs.ModeSymlink != 0 || t&fs.ModeIrregular != 0:
				res.SkippedLinks++
			case t.IsDir():
				stack = append(stack, rel)
			case t.IsRegular():
				info, err := e.Info()
				if err != nil {
					res.Errors++
					continue
				}
				if !info.ModTime().Before(cutoff) {
					continue
				}
				if !res.DryRun {
					if err := r.Remove(rel); err != nil {
						res.Errors++
						continue
					}
				}
				res.Files++
				res.Bytes += info.Size()
				if len(res.Sample) < cfg.MaxCleanupReported {
					res.Sample = append(res.Sample, filepath.Join(root, filepath.FromSlash(rel)))
				}
			}
		}
		if res.Truncated {
			return nil
		}
	}
	return nil
}

// readDir lists dir inside r, taking at most *budget entries.
func readDir(r *os.Root, dir string, budget *int) ([]fs.DirEntry, error) {
	f, err := r.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []fs.DirEntry
	for *budget > 0 {
		batch, err := f.ReadDir(min(*budget, 512))
		*budget -= len(batch)
		out = append(out, batch...)
		if errors.Is(err, io.EOF) || len(batch) == 0 {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
	return out, nil
}
