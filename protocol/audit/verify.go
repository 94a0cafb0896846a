package audit

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// Summary describes a verified export.
type Summary struct {
	Origin      string            `json:"origin"`
	Client      string            `json:"client"`
	Key         string            `json:"key"`
	Records     uint64            `json:"records"`
	FirstIndex  uint64            `json:"first_index"`
	LastIndex   uint64            `json:"last_index"`
	FirstTime   time.Time         `json:"first_time"`
	LastTime    time.Time         `json:"last_time"`
	Kinds       map[string]uint64 `json:"kinds"`
	Checkpoints []CheckpointInfo  `json:"checkpoints"`
	TreeSize    uint64            `json:"tree_size"`
}

// CheckpointInfo is one verified checkpoint.
type CheckpointInfo struct {
	Size uint64 `json:"size"`
	Root string `json:"root"`
}

// VerifyError is a failed verification: what is wrong (Err wraps one of
// the package's sentinels) and, when it concerns a record, its log index.
type VerifyError struct {
	Index    uint64 // log index of the first bad record, when HasIndex
	HasIndex bool
	Err      error
}

func (e *VerifyError) Error() string {
	if e.HasIndex {
		return fmt.Sprintf("record %d: %v", e.Index, e.Err)
	}
	return e.Err.Error()
}

func (e *VerifyError) Unwrap() error { return e.Err }

func atIndex(i uint64, err error) error { return &VerifyError{Index: i, HasIndex: true, Err: err} }
func whole(err error) error             { return &VerifyError{Err: err} }

// LoadVerifierKey reads a verifier key given on a command line: the key
// string itself, or the path of a file holding it.
func LoadVerifierKey(arg string) (note.Verifier, error) {
	if st, err := os.Stat(arg); err == nil && st.Mode().IsRegular() {
		if st.Size() > 4096 {
			return nil, fmt.Errorf("%w: key file %s is %d bytes; a key is one short line", ErrMalformedKey, arg, st.Size())
		}
		b, err := os.ReadFile(arg)
		if err != nil {
			return nil, fmt.Errorf("read key file: %w", err)
		}
		return VerifierKey(string(b))
	}
	return VerifierKey(arg)
}

// VerifyFile opens the export at path and verifies it (see Verify).
func VerifyFile(ctx context.Context, path string, v note.Verifier) (Summary, error) {
	f, err := os.Open(path)
	if err != nil {
		return Summary{}, fmt.Errorf("open export: %w", err)
	}
	defer f.Close()
	return Verify(ctx, f, v)
}

// Verify checks an export offline with the site's public key alone: the
// header names v's key and origin; every checkpoint is signed by v; every
// record decodes, sits at the next index, hashes to the leaf stored with
// it and belongs to the header's client; the roots computed from the
// header's peaks and the records equal every checkpoint within the range;
// the last checkpoint covers the range (directly or by a consistency
// proof); and the file ends after the end frame. On failure it returns a
// *VerifyError naming the first bad record index where there is one.
func Verify(ctx context.Context, r io.Reader, v note.Verifier) (Summary, error) {
	x, err := NewReader(r)
	if err != nil {
		return Summary{}, whole(err)
	}
	h := x.Header()
	s := Summary{Origin: h.Origin, Client: h.Client, Key: h.Key, FirstIndex: h.First,
		LastIndex: h.First + h.Count - 1, Kinds: map[string]uint64{}}
	hk, err := VerifierKey(h.Key)
	if err != nil {
		return s, whole(fmt.Errorf("%w: header key: %v", ErrMalformedExport, err))
	}
	if hk.Name() != v.Name() || hk.KeyHash() != v.KeyHash() {
		return s, whole(fmt.Errorf("%w: the export names key %s+%08x, you gave %s+%08x", ErrWrongKey,
			hk.Name(), hk.KeyHash(), v.Name(), v.KeyHash()))
	}
	want, err := originFor(h.Client)
	if err != nil || h.Origin != v.Name() || !strings.HasPrefix(h.Origin, want) {
		return s, whole(fmt.Errorf("%w: origin %q does not match client %q and key %q", ErrMalformedExport, h.Origin, h.Client, v.Name()))
	}
	rng, err := NewRange(h.First, h.Peaks)
	if err != nil {
		return s, whole(err)
	}
	end := h.First + h.Count

	var cps []ExportCheckpoint
	var bodies []Checkpoint
	var item Item
	for {
		item, err = x.Next()
		if err != nil {
			return s, whole(err)
		}
		if item.Checkpoint == nil {
			break
		}
		c, err := VerifyCheckpoint(item.Checkpoint.Note, v)
		if err != nil {
			return s, whole(fmt.Errorf("checkpoint %d: %w", len(cps)+1, err))
		}
		switch {
		case c.Size <= h.First:
			return s, whole(fmt.Errorf("%w: checkpoint %d has size %d, which covers none of the exported records", ErrMalformedExport, len(cps)+1, c.Size))
		case len(bodies) > 0 && c.Size <= bodies[len(bodies)-1].Size:
			return s, whole(fmt.Errorf("%w: checkpoint %d (size %d) does not grow the tree", ErrMalformedExport, len(cps)+1, c.Size))
		case len(bodies) > 0 && bodies[len(bodies)-1].Size > end:
			return s, whole(fmt.Errorf("%w: only the last checkpoint may lie beyond the exported range", ErrMalformedExport))
		case c.Size <= end && len(item.Checkpoint.Proof) != 0:
			return s, whole(fmt.Errorf("%w: checkpoint %d lies within the range and must carry no proof", ErrMalformedExport, len(cps)+1))
		}
		cps, bodies = append(cps, *item.Checkpoint), append(bodies, c)
	}
	if len(bodies) == 0 {
		return s, whole(fmt.Errorf("%w: no checkpoint", ErrMalformedExport))
	}
	last := bodies[len(bodies)-1]
	if last.Size < end {
		return s, atIndex(last.Size, fmt.Errorf("%w: records from index %d on are covered by no checkpoint", ErrRecordMismatch, last.Size))
	}

	next := 0 // next checkpoint to compare with the computed root
	verifiedFrom := h.First
	for i := uint64(0); ; i++ {
		if item.Record == nil {
			if i != h.Count {
				return s, atIndex(h.First+i, fmt.Errorf("%w: record missing (end of file after %d of %d records)", ErrTruncatedExport, i, h.Count))
			}
			break
		}
		want := h.First + i
		rec := item.Record
		switch {
		case i >= h.Count:
			return s, atIndex(rec.Index, fmt.Errorf("%w: more records than the header's %d; two exports spliced together?", ErrRecordMismatch, h.Count))
		case rec.Index > want:
			return s, atIndex(want, fmt.Errorf("%w: record missing (the next record in the file is %d)", ErrRecordMismatch, rec.Index))
		case rec.Index < want:
			return s, atIndex(want, fmt.Errorf("%w: found record %d where %d belongs (records reordered or duplicated)", ErrRecordMismatch, rec.Index, want))
		}
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return s, whole(fmt.Errorf("verify export: %w", err))
			}
		}
		r, err := Decode(rec.Encoding)
		if err != nil {
			return s, atIndex(want, err)
		}
		leaf := LeafHash(rec.Encoding)
		if leaf != rec.Leaf {
			return s, atIndex(want, fmt.Errorf("%w: record bytes do not hash to the leaf hash stored with them (altered record)", ErrRecordMismatch))
		}
		if r.Client != h.Client {
			return s, atIndex(want, fmt.Errorf("%w: record belongs to client %q, the export to %q", ErrRecordMismatch, r.Client, h.Client))
		}
		rng.Append(leaf)
		if next < len(bodies) && bodies[next].Size == rng.Size() {
			if rng.Root() != bodies[next].Hash {
				return s, atIndex(verifiedFrom, fmt.Errorf("%w: records %d..%d do not hash to the root signed by checkpoint %d (size %d); a record in that span was altered, removed or reordered",
					ErrRecordMismatch, verifiedFrom, rng.Size()-1, next+1, bodies[next].Size))
			}
			next++
			verifiedFrom = rng.Size()
		}
		if i == 0 {
			s.FirstTime = r.Time
		}
		s.LastTime = r.Time
		s.Kinds[string(r.Kind)]++
		s.Records++
		item, err = x.Next()
		if err != nil {
			return s, atIndex(want+1, err)
		}
	}
	if _, err := x.Next(); !errors.Is(err, io.EOF) {
		if err == nil {
			err = fmt.Errorf("%w: data after the end frame", ErrMalformedExport)
		}
		return s, whole(err)
	}
	if last.Size > end {
		if err := VerifyConsistency(Checkpoint{Origin: last.Origin, Size: end, Hash: rng.Root()}, last, HashesToBytes(cps[len(cps)-1].Proof)); err != nil {
			return s, atIndex(verifiedFrom, fmt.Errorf("records %d..%d are not a prefix of the tree signed by checkpoint %d (size %d): %w",
				verifiedFrom, end-1, len(bodies), last.Size, err))
		}
	}
	for _, b := range bodies {
		s.Checkpoints = append(s.Checkpoints, CheckpointInfo{Size: b.Size, Root: base64.StdEncoding.EncodeToString(b.Hash[:])})
	}
	s.TreeSize = last.Size
	return s, nil
}

// originFor returns the origin prefix of a client's site logs.
func originFor(client string) (string, error) {
	if !validID(client) {
		return "", fmt.Errorf("%w: client %q", ErrMalformedExport, client)
	}
	return originPrefix + client + "/", nil
}
