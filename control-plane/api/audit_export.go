package api

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/protocol/audit"
)

// MaxExportRecords bounds the records one audit export may hold (and so
// the hashes held in memory to prove it: about 64 bytes per record).
const MaxExportRecords = 1 << 21

// ExportSummary describes a written audit export.
type ExportSummary struct {
	Client, Site string
	First, Count uint64
	TreeSize     uint64 // size of the witnessed checkpoint that signs it
	Key          string // the site's verifier key: 'sitewarden audit verify --key'
}

// auditReadBatch is how many mirrored records are read per store call.
const auditReadBatch = 1000

// ExportAudit writes the verifiable audit export (protocol/audit, the
// format 'sitewarden audit verify' checks) of one site's mirrored records
// whose time is in [from, to) (zero times: no bound), signed by the newest
// checkpoint the control plane witnessed. progress, when not nil, is told
// how many of the records to hash were read.
func (s *Server) ExportAudit(ctx context.Context, p auth.Principal, client, site string, from, to time.Time, w io.Writer, progress func(done, total uint64)) (ExportSummary, error) {
	if err := check(p, auth.PermRead, client); err != nil {
		return ExportSummary{}, err
	}
	st, err := s.st.Site(ctx, client, site)
	if err != nil {
		return ExportSummary{}, err
	}
	if len(st.AuditKey) != ed25519.PublicKeySize {
		return ExportSummary{}, apiErr(http.StatusConflict, "no_audit_key", "the control plane holds no audit key for "+client+"/"+site, "enroll the site again with a new token")
	}
	origin, err := audit.Origin(client, site)
	if err != nil {
		return ExportSummary{}, err
	}
	vkey, err := note.NewEd25519VerifierKey(origin, ed25519.PublicKey(st.AuditKey))
	if err != nil {
		return ExportSummary{}, err
	}
	cp, err := s.st.LatestCheckpoint(ctx, client, site)
	if errors.Is(err, store.ErrNotFound) {
		return ExportSummary{}, apiErr(http.StatusNotFound, "no_checkpoint", "no checkpoint of "+client+"/"+site+" was witnessed yet", "wait until the site syncs its audit log")
	}
	if err != nil {
		return ExportSummary{}, err
	}
	if cp.Size > MaxExportRecords {
		return ExportSummary{}, apiErr(http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the site's log holds %d records, more than one export proves", cp.Size), "export from the site itself ('sitewarden-runner audit export')")
	}
	held, err := s.st.AuditSize(ctx, client, site)
	if err != nil {
		return ExportSummary{}, err
	}
	size := min(held, cp.Size) // only records the checkpoint signs
	first, err := s.firstAt(ctx, client, site, size, from)
	if err != nil {
		return ExportSummary{}, err
	}
	end := size
	if !to.IsZero() {
		if end, err = s.firstAt(ctx, client, site, size, to); err != nil {
			return ExportSummary{}, err
		}
	}
	if first >= end {
		return ExportSummary{}, apiErr(http.StatusNotFound, "no_records", "no witnessed audit records of "+client+"/"+site+" in the period", "widen the period")
	}
	if held < cp.Size {
		return ExportSummary{}, apiErr(http.StatusConflict, "incomplete_mirror", fmt.Sprintf("the control plane holds %d of the %d records the checkpoint signs", held, cp.Size), "wait until the site syncs its audit log")
	}
	// Hash the whole signed tree: the peaks before first and the
	// consistency proof from end to the checkpoint need it.
	tree := &memTree{}
	for i := uint64(0); i < cp.Size; {
		recs, err := s.st.AuditRecords(ctx, client, site, i, auditReadBatch)
		if err != nil {
			return ExportSummary{}, err
		}
		if len(recs) == 0 {
			return ExportSummary{}, fmt.Errorf("audit records of %s/%s end at %d, want %d", client, site, i, cp.Size)
		}
		for _, rec := range recs {
			if i >= cp.Size {
				break
			}
			if err := tree.add(int64(i), rec); err != nil {
				return ExportSummary{}, err
			}
			i++
		}
		if progress != nil {
			progress(i, cp.Size)
		}
	}
	rng, err := audit.NewRange(0, nil)
	if err != nil {
		return ExportSummary{}, err
	}
	for _, l := range tree.leaves[:first] {
		rng.Append(l)
	}
	var proof tlog.TreeProof
	if end < cp.Size {
		if proof, err = tlog.ProveTree(int64(cp.Size), int64(end), tree); err != nil {
			return ExportSummary{}, fmt.Errorf("prove audit tree: %w", err)
		}
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	xw, err := audit.NewWriter(bw, audit.ExportHeader{Origin: origin, Client: client, Key: vkey, First: first, Count: end - first, Created: s.now(), Peaks: rng.Peaks()})
	if err != nil {
		return ExportSummary{}, err
	}
	if err := xw.WriteCheckpoint(audit.ExportCheckpoint{Note: cp.Note, Proof: proof}); err != nil {
		return ExportSummary{}, err
	}
	for i := first; i < end; {
		recs, err := s.st.AuditRecords(ctx, client, site, i, auditReadBatch)
		if err != nil {
			return ExportSummary{}, err
		}
		for _, rec := range recs {
			if i >= end {
				break
			}
			if err := xw.WriteRecord(i, rec); err != nil {
				return ExportSummary{}, err
			}
			i++
		}
	}
	if err := xw.Close(); err != nil {
		return ExportSummary{}, err
	}
	if err := bw.Flush(); err != nil {
		return ExportSummary{}, fmt.Errorf("write export: %w", err)
	}
	s.log.Info("audit exported", "client", client, "site", site, "first", first, "count", end-first, "user", p.User)
	return ExportSummary{Client: client, Site: site, First: first, Count: end - first, TreeSize: cp.Size, Key: vkey}, nil
}

// firstAt returns the index of the first of a site's first n records whose
// time is not before t (n when none is). A site's log is written in time
// order, so a binary search over the mirror finds it.
func (s *Server) firstAt(ctx context.Context, client, site string, n uint64, t time.Time) (uint64, error) {
	if t.IsZero() {
		return 0, nil
	}
	var ferr error
	i := sort.Search(int(n), func(i int) bool {
		if ferr != nil {
			return true
		}
		recs, err := s.st.AuditRecords(ctx, client, site, uint64(i), 1)
		if err != nil || len(recs) == 0 {
			ferr = fmt.Errorf("read audit record %d of %s/%s: %w", i, client, site, err)
			return true
		}
		r, err := audit.Decode(recs[0])
		if err != nil {
			ferr = fmt.Errorf("audit record %d of %s/%s: %w", i, client, site, err)
			return true
		}
		return !r.Time.Before(t)
	})
	return uint64(i), ferr
}

// memTree holds a tlog tree's stored hashes in memory.
type memTree struct {
	hashes []tlog.Hash
	leaves []tlog.Hash
}

func (m *memTree) add(i int64, rec []byte) error {
	hs, err := tlog.StoredHashes(i, rec, m)
	if err != nil {
		return fmt.Errorf("hash audit record %d: %w", i, err)
	}
	m.leaves = append(m.leaves, audit.LeafHash(rec))
	m.hashes = append(m.hashes, hs...)
	return nil
}

// ReadHashes implements tlog.HashReader.
func (m *memTree) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x < 0 || x >= int64(len(m.hashes)) {
			return nil, fmt.Errorf("stored hash %d not held", x)
		}
		out[i] = m.hashes[x]
	}
	return out, nil
}
