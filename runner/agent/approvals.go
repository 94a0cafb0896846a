package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/sitewarden/sitewarden/runner/model"
)

// Pending is a goal paused for an approval: everything Resume needs to go
// on, also after a restart. It holds no secrets: one-time secrets returned
// before the pause are dropped, so a later step that needs one fails and
// the goal escalates.
type Pending struct {
	Request    ApprovalRequest `json:"request"`
	Goal       Goal            `json:"goal"`
	Steps      []Step          `json:"steps"`
	History    []model.Attempt `json:"history"`
	Facts      []fact          `json:"facts"`
	Planned    int             `json:"planned"`
	Acted      int             `json:"acted"`
	OutOfScope int             `json:"out_of_scope"`
	Started    time.Time       `json:"started"`
	// Remaining is the wall-time budget left at the pause; waiting for a
	// person does not spend it.
	Remaining   time.Duration `json:"remaining"`
	ValidatedAt int           `json:"validated_at"`
}

// Approvals keeps paused goals. Load returns an error wrapping
// ErrNoApproval for an unknown ID. Safe for concurrent use.
type Approvals interface {
	Save(ctx context.Context, p Pending) error
	Load(ctx context.Context, id string) (Pending, error)
	Delete(ctx context.Context, id string) error
	List(ctx context.Context) ([]ApprovalRequest, error)
}

// FileApprovals keeps each paused goal in its own JSON file under a
// directory, written atomically (temporary file, fsync, rename, directory
// fsync), so a paused goal survives a crash or restart.
type FileApprovals struct {
	dir string
}

var _ Approvals = (*FileApprovals)(nil)

// maxPendingFile bounds one paused goal's file.
const maxPendingFile = 4 << 20

var approvalIDRE = regexp.MustCompile(`^apr-[0-9a-f]{24}$`)

// NewFileApprovals creates dir (0700) if needed.
func NewFileApprovals(dir string) (*FileApprovals, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("approval store: %w", err)
	}
	return &FileApprovals{dir: dir}, nil
}

func (s *FileApprovals) path(id string) (string, error) {
	if !approvalIDRE.MatchString(id) {
		return "", fmt.Errorf("%w: malformed approval id %q", ErrNoApproval, id)
	}
	return filepath.Join(s.dir, id+".json"), nil
}

// Save writes p durably.
func (s *FileApprovals) Save(_ context.Context, p Pending) error {
	path, err := s.path(p.Request.ID)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("save approval %s: %w", p.Request.ID, err)
	}
	if len(raw) > maxPendingFile {
		return fmt.Errorf("save approval %s: %d bytes, limit %d", p.Request.ID, len(raw), maxPendingFile)
	}
	tmp, err := os.CreateTemp(s.dir, ".pending-*")
	if err != nil {
		return fmt.Errorf("save approval %s: %w", p.Request.ID, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return fmt.Errorf("save approval %s: %w", p.Request.ID, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save approval %s: %w", p.Request.ID, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save approval %s: %w", p.Request.ID, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save approval %s: %w", p.Request.ID, err)
	}
	return syncDir(s.dir)
}

// Load reads the paused goal waiting for approval id.
func (s *FileApprovals) Load(_ context.Context, id string) (Pending, error) {
	path, err := s.path(id)
	if err != nil {
		return Pending{}, err
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Pending{}, fmt.Errorf("%w: %s", ErrNoApproval, id)
	}
	if err != nil {
		return Pending{}, fmt.Errorf("load approval %s: %w", id, err)
	}
	defer f.Close()
	var p Pending
	dec := json.NewDecoder(io.LimitReader(f, maxPendingFile))
	if err := dec.Decode(&p); err != nil {
		return Pending{}, fmt.Errorf("load approval %s: %w", id, err)
	}
	if p.Request.ID != id {
		return Pending{}, fmt.Errorf("load approval %s: file holds %q", id, p.Request.ID)
	}
	return p, nil
}

// Delete forgets approval id; deleting an unknown one is not an error.
func (s *FileApprovals) Delete(_ context.Context, id string) error {
	path, err := s.path(id)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete approval %s: %w", id, err)
	}
	return syncDir(s.dir)
}

// List returns the waiting requests, oldest first.
func (s *FileApprovals) List(ctx context.Context) ([]ApprovalRequest, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list approvals: %w", err)
	}
	var out []ApprovalRequest
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !approvalIDRE.MatchString(id) {
			continue
		}
		p, err := s.Load(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Request)
	}
	slices.SortFunc(out, func(a, b ApprovalRequest) int { return a.Requested.Compare(b.Requested) })
	return out, nil
}
