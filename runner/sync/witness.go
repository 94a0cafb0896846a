package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	stdsync "sync"

	"github.com/sitewarden/sitewarden/protocol/audit"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

// AuditLog is what the witness needs of the site's audit log
// (runner/audit.Log provides it).
type AuditLog interface {
	// Checkpoint returns a signed checkpoint covering every durable record.
	Checkpoint(ctx context.Context) ([]byte, error)
	// Records returns the canonical records [from, to).
	Records(ctx context.Context, from, to uint64) ([][]byte, error)
	// ConsistencyProof proves the tree of newSize extends that of oldSize.
	ConsistencyProof(ctx context.Context, oldSize, newSize uint64) ([][]byte, error)
}

// LogWitness is a Witness over an AuditLog. It remembers, in
// <dir>/witness.json, the checkpoint size the control plane countersigned
// and how many records it mirrored, and keeps the newest countersigned
// note in <dir>/cosigned.note.
type LogWitness struct {
	log      AuditLog
	dir      string
	maxBatch uint64

	mu      stdsync.Mutex
	st      witnessState
	pending witnessState // what the batch in flight will make true
}

type witnessState struct {
	Cosigned uint64 `json:"cosigned_size"`
	Mirrored uint64 `json:"mirrored_records"`
}

var _ Witness = (*LogWitness)(nil)

// OpenLogWitness opens the witness state in dir; maxBatch bounds the
// records of one batch (<= 0: 1,000).
func OpenLogWitness(log AuditLog, dir string, maxBatch int) (*LogWitness, error) {
	if maxBatch <= 0 {
		maxBatch = 1000
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open audit witness: %w", err)
	}
	w := &LogWitness{log: log, dir: dir, maxBatch: uint64(maxBatch)}
	raw, err := os.ReadFile(filepath.Join(dir, "witness.json"))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("open audit witness: %w", err)
	default:
		if err := json.Unmarshal(raw, &w.st); err != nil {
			return nil, fmt.Errorf("open audit witness: witness.json: %w", err)
		}
	}
	return w, nil
}

// NextBatch implements Witness: the records not yet mirrored (at most
// maxBatch), the newest checkpoint, and a proof from the countersigned
// size; nil when the control plane has witnessed everything.
func (w *LogWitness) NextBatch(ctx context.Context, _ uint64) (*pb.AuditBatch, error) {
	w.mu.Lock()
	st := w.st
	w.mu.Unlock()
	note, err := w.log.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	cp, err := audit.OpenCheckpoint(note)
	if err != nil {
		return nil, err
	}
	if cp.Size == st.Cosigned && st.Mirrored >= cp.Size {
		return nil, nil
	}
	end := min(cp.Size, st.Mirrored+w.maxBatch)
	recs, err := w.log.Records(ctx, st.Mirrored, end)
	if err != nil {
		return nil, err
	}
	b := &pb.AuditBatch{FirstIndex: st.Mirrored, Records: recs, Checkpoint: note, PriorSize: st.Cosigned}
	if st.Cosigned > 0 && st.Cosigned < cp.Size {
		if b.ConsistencyProof, err = w.log.ConsistencyProof(ctx, st.Cosigned, cp.Size); err != nil {
			return nil, err
		}
	}
	w.mu.Lock()
	w.pending = witnessState{Cosigned: cp.Size, Mirrored: st.Mirrored + uint64(len(recs))}
	w.mu.Unlock()
	return b, nil
}

// Cosigned implements Witness: it keeps the countersigned note and moves
// the state past the batch just acknowledged.
func (w *LogWitness) Cosigned(_ context.Context, c *pb.CheckpointCosignature) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c.GetTreeSize() != w.pending.Cosigned {
		return fmt.Errorf("audit witness: countersigned size %d, sent %d", c.GetTreeSize(), w.pending.Cosigned)
	}
	if err := WriteDurable(filepath.Join(w.dir, "cosigned.note"), c.GetCosignedNote()); err != nil {
		return fmt.Errorf("audit witness: %w", err)
	}
	raw, _ := json.Marshal(w.pending)
	if err := WriteDurable(filepath.Join(w.dir, "witness.json"), raw); err != nil {
		return fmt.Errorf("audit witness: %w", err)
	}
	w.st = w.pending
	return nil
}

// State returns the countersigned size and the mirrored record count.
func (w *LogWitness) State() (cosigned, mirrored uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.st.Cosigned, w.st.Mirrored
}
