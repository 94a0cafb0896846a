package audit

import (
	"fmt"
	"math/bits"

	"golang.org/x/mod/sumdb/tlog"
)

// Peak is the root of one complete, aligned subtree of 2^Level leaves.
type Peak struct {
	Level int
	Hash  tlog.Hash
}

// PeakLevels returns the levels of the complete subtrees that make up a
// tree of size leaves, largest (leftmost) first: one per set bit of size.
func PeakLevels(size uint64) []int {
	levels := make([]int, 0, bits.OnesCount64(size))
	for l := 63; l >= 0; l-- {
		if size&(1<<l) != 0 {
			levels = append(levels, l)
		}
	}
	return levels
}

// PeakIndexes returns the tlog storage indexes of the peaks of a tree of
// size leaves, in the order PeakLevels gives.
func PeakIndexes(size uint64) []int64 {
	var out []int64
	start := uint64(0)
	for _, l := range PeakLevels(size) {
		out = append(out, tlog.StoredHashIndex(l, int64(start>>l)))
		start += 1 << l
	}
	return out
}

// Range computes RFC 6962 roots incrementally from a prefix's peaks and
// the leaf hashes that follow it, in O(log n) memory. The zero value is the
// empty tree.
type Range struct {
	size  uint64
	peaks []Peak
}

// NewRange starts a Range at a tree of size leaves whose peaks (largest
// first, one per set bit of size) are given.
func NewRange(size uint64, peaks []tlog.Hash) (*Range, error) {
	levels := PeakLevels(size)
	if len(levels) != len(peaks) {
		return nil, fmt.Errorf("%w: a tree of %d records has %d peak hashes, got %d", ErrInconsistent, size, len(levels), len(peaks))
	}
	r := &Range{size: size}
	for i, l := range levels {
		r.peaks = append(r.peaks, Peak{Level: l, Hash: peaks[i]})
	}
	return r, nil
}

// Size returns the number of leaves the range covers.
func (r *Range) Size() uint64 { return r.size }

// Append adds the next leaf hash.
func (r *Range) Append(leaf tlog.Hash) {
	r.peaks = append(r.peaks, Peak{Level: 0, Hash: leaf})
	for n := len(r.peaks); n >= 2 && r.peaks[n-1].Level == r.peaks[n-2].Level; n = len(r.peaks) {
		merged := Peak{Level: r.peaks[n-1].Level + 1, Hash: tlog.NodeHash(r.peaks[n-2].Hash, r.peaks[n-1].Hash)}
		r.peaks = append(r.peaks[:n-2], merged)
	}
	r.size++
}

// Root returns the RFC 6962 root hash of the tree of Size leaves (the
// SHA-256 of nothing for the empty tree), as tlog.TreeHash does.
func (r *Range) Root() tlog.Hash {
	if len(r.peaks) == 0 {
		h, _ := tlog.TreeHash(0, nil)
		return h
	}
	h := r.peaks[len(r.peaks)-1].Hash
	for i := len(r.peaks) - 2; i >= 0; i-- {
		h = tlog.NodeHash(r.peaks[i].Hash, h)
	}
	return h
}

// Peaks returns a copy of the current peak hashes, largest first.
func (r *Range) Peaks() []tlog.Hash {
	out := make([]tlog.Hash, len(r.peaks))
	for i, p := range r.peaks {
		out[i] = p.Hash
	}
	return out
}
