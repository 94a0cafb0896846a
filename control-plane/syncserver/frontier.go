package syncserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"golang.org/x/mod/sumdb/tlog"

	"google.golang.org/protobuf/proto"

	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/protocol/audit"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

// frontier is the right edge of the RFC 6962 tree over a site's mirrored
// records: the hashes of its complete subtrees (peaks), largest first, one
// per set bit of size. Appending a record costs one leaf hash and at most
// log2(size) node hashes; the root folds the peaks from the right. It holds
// at most 64 hashes, whatever the size of the log.
type frontier struct {
	size  uint64
	peaks []tlog.Hash
	// verified is the largest size whose root matched a signed checkpoint:
	// the records below it are the ones the site signed.
	verified uint64
}

// push appends the record rec as the next leaf.
func (f *frontier) push(rec []byte) {
	h := tlog.RecordHash(rec)
	f.size++
	for n := f.size; n&1 == 0 && len(f.peaks) > 0; n >>= 1 {
		h = tlog.NodeHash(f.peaks[len(f.peaks)-1], h)
		f.peaks = f.peaks[:len(f.peaks)-1]
	}
	f.peaks = append(f.peaks, h)
}

// root returns the tree hash of the size records pushed so far.
func (f *frontier) root() tlog.Hash {
	if len(f.peaks) == 0 {
		return tlog.Hash{}
	}
	r := f.peaks[len(f.peaks)-1]
	for i := len(f.peaks) - 2; i >= 0; i-- {
		r = tlog.NodeHash(f.peaks[i], r)
	}
	return r
}

func (f *frontier) clone() *frontier {
	return &frontier{size: f.size, peaks: append([]tlog.Hash(nil), f.peaks...), verified: f.verified}
}

// siteTree is one site's frontier, guarded by mu for the whole of a batch.
type siteTree struct {
	mu sync.Mutex
	f  *frontier // nil until first used in this process
}

// trees holds a frontier per site, built lazily.
type trees struct {
	mu    sync.Mutex
	sites map[store.Identity]*siteTree
}

// lock returns site id's tree with its mutex held; the caller unlocks it.
func (t *trees) lock(id store.Identity) *siteTree {
	t.mu.Lock()
	if t.sites == nil {
		t.sites = map[store.Identity]*siteTree{}
	}
	s, ok := t.sites[id]
	if !ok {
		s = &siteTree{}
		t.sites[id] = s
	}
	t.mu.Unlock()
	s.mu.Lock()
	return s
}

// mirrorPage bounds the records read from the store at a time when a
// frontier is rebuilt or caught up.
const mirrorPage = 1000

// mirrorReader reads a site's mirrored records (store.Store provides it).
type mirrorReader interface {
	AuditRecords(ctx context.Context, client, site string, from uint64, limit int) ([][]byte, error)
}

// catchUp extends f with the records the store mirrors from f.size up to
// (not including) upTo, or fewer when the store holds fewer. When it
// passes size check (a signed checkpoint's size, 0 for none) it compares
// the root with want and reports a mismatch. Rebuilding a site's frontier
// after a restart reads and hashes its whole mirror once: one leaf hash
// and about one node hash per record, in pages of mirrorPage records.
func catchUp(ctx context.Context, st mirrorReader, id store.Identity, f *frontier, upTo, check uint64, want []byte) error {
	for f.size < upTo {
		if err := ctx.Err(); err != nil {
			return err
		}
		recs, err := st.AuditRecords(ctx, id.Client, id.Site, f.size, int(min(upTo-f.size, mirrorPage)))
		if err != nil {
			return fmt.Errorf("read mirror of %s/%s from %d: %w", id.Client, id.Site, f.size, err)
		}
		if len(recs) == 0 {
			return nil
		}
		for _, rec := range recs {
			f.push(rec)
			if f.size == check {
				if r := f.root(); string(r[:]) != string(want) {
					return fmt.Errorf("%w: records %d..%d of %s/%s do not hash to the root of the held checkpoint of size %d",
						errMirrorDiffers, f.verified, check-1, id.Client, id.Site, check)
				}
				f.verified = check
			}
		}
	}
	return nil
}

// checkRecords extends site t's frontier with the batch's new records and
// compares the root at every signed size it reaches: the held checkpoint's
// (when the mirror was behind it) and the new checkpoint's (when the batch
// ends at its size). It returns the extended frontier, to keep once the
// records are mirrored, or a reply refusing the batch (with an alert) when
// the records are not the ones the site signed. A nil frontier and a nil
// reply mean the mirror is short of the batch's first index: AppendAudit
// answers that with a conflict.
func (a *Auditor) checkRecords(ctx context.Context, st mirrorReader, t *siteTree, id store.Identity, held store.Checkpoint,
	cp audit.Checkpoint, b *pb.AuditBatch, log *slog.Logger) (*frontier, proto.Message) {
	first := b.GetFirstIndex()
	f := t.f
	if f == nil {
		f = &frontier{}
	}
	if f.size < first {
		f = f.clone()
		if err := catchUp(ctx, st, id, f, first, held.Size, held.Root); err != nil {
			if errors.Is(err, errMirrorDiffers) {
				log.Error("refused audit batch: the mirror does not hash to the held checkpoint", "err", err.Error())
				a.alert.AuditRewritten(ctx, id, err.Error())
				return nil, refuse(pb.ErrorCode_ERROR_CODE_INCONSISTENT_LOG, "", err.Error()+"; the control plane's mirror holds records the site did not sign: investigate before trusting this site's log")
			}
			log.Error("read audit mirror", "err", err)
			return nil, &pb.Error{Code: pb.ErrorCode_ERROR_CODE_UNAVAILABLE, Message: "store unavailable", Retryable: true}
		}
		t.f = f
		if f.size < first {
			return nil, nil
		}
	}
	g := f.clone()
	recs := b.GetRecords()
	if skip := f.size - first; skip < uint64(len(recs)) {
		recs = recs[skip:]
	} else {
		recs = nil
	}
	for _, rec := range recs {
		g.push(rec)
		var want []byte
		switch {
		case g.size == cp.Size:
			want = cp.Hash[:]
		case g.size == held.Size:
			want = held.Root
		default:
			continue
		}
		if r := g.root(); string(r[:]) != string(want) {
			span := fmt.Sprintf("records %d..%d do", f.verified, g.size-1)
			if g.size-f.verified == 1 {
				span = fmt.Sprintf("record %d does", f.verified)
			}
			reason := fmt.Sprintf("%s not hash to the root of the site's signed checkpoint of size %d: a record was altered before upload", span, g.size)
			log.Error("refused audit batch: records do not match the signed root", "from", f.verified, "to", g.size-1, "size", g.size)
			a.alert.AuditRewritten(ctx, id, reason)
			return nil, refuse(pb.ErrorCode_ERROR_CODE_INCONSISTENT_LOG, "",
				reason+"; the batch was not mirrored: check the site's log with 'sitewarden-runner audit export' and 'audit verify'")
		}
		g.verified = g.size
	}
	return g, nil
}
