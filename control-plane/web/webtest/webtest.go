// Package webtest seeds a control plane store the way real sites fill it
// (protobuf items as the runner sends them, a signed and witnessed audit
// log), for the web UI's and the API's tests and benchmarks.
package webtest

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
	"google.golang.org/protobuf/proto"

	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/protocol/audit"
)

// Store is what seeding needs.
type Store interface {
	Site(ctx context.Context, client, site string) (store.Site, error)
	UpsertSite(ctx context.Context, s store.Site) error
	AppendAudit(ctx context.Context, client, site string, first uint64, records [][]byte) error
	PutCheckpoint(ctx context.Context, c store.Checkpoint) error
	PutItem(ctx context.Context, it store.Item) (bool, error)
}

var _ Store = store.Store(nil)

// AuditLog writes recs as the site's audit log (from index 0), records the
// site's audit key, and stores a checkpoint signed by key over the first
// signed records (all when signed <= 0), as the checkpoint witness does.
// It returns the site's verifier key string.
func AuditLog(ctx context.Context, st Store, tenant, client, site string, key ed25519.PrivateKey, recs []audit.Record, signed int, now time.Time) (string, error) {
	origin, err := audit.Origin(client, site)
	if err != nil {
		return "", err
	}
	s, err := st.Site(ctx, client, site)
	if err != nil {
		s = store.Site{Identity: store.Identity{Tenant: tenant, Client: client, Site: site}, EnrolledAt: now}
	}
	s.AuditKey = key.Public().(ed25519.PublicKey)
	if err := st.UpsertSite(ctx, s); err != nil {
		return "", err
	}
	var encs [][]byte
	var hashes []tlog.Hash
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = hashes[x]
		}
		return out, nil
	})
	for i, r := range recs {
		b, err := audit.Encode(r)
		if err != nil {
			return "", fmt.Errorf("record %d: %w", i, err)
		}
		hs, err := tlog.StoredHashes(int64(i), b, reader)
		if err != nil {
			return "", err
		}
		hashes = append(hashes, hs...)
		encs = append(encs, b)
	}
	if err := st.AppendAudit(ctx, client, site, 0, encs); err != nil {
		return "", err
	}
	if signed <= 0 || signed > len(recs) {
		signed = len(recs)
	}
	root, err := tlog.TreeHash(int64(signed), reader)
	if err != nil {
		return "", err
	}
	signer, vkey, err := audit.NewSigner(origin, key)
	if err != nil {
		return "", err
	}
	cp := audit.Checkpoint{Origin: origin, Size: uint64(signed), Hash: root}
	n, err := audit.SignCheckpoint(cp, signer)
	if err != nil {
		return "", err
	}
	if err := st.PutCheckpoint(ctx, store.Checkpoint{Client: client, Site: site, Size: uint64(signed), Root: root[:], Note: n, Cosigned: n, WitnessedAt: now}); err != nil {
		return "", err
	}
	return vkey, nil
}

// Verifier returns a note verifier for a key string AuditLog returned.
func Verifier(vkey string) (note.Verifier, error) { return note.NewVerifier(vkey) }

// Put stores a protobuf message as an upstream item, as the sync server
// does when a site sends it.
func Put(ctx context.Context, st Store, kind store.Kind, client, site, id string, m proto.Message, at time.Time) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	_, err = st.PutItem(ctx, store.Item{Kind: kind, Client: client, Site: site, ID: id, Payload: b, ReceivedAt: at})
	return err
}
