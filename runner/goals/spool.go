package goals

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sitewarden/sitewarden/runner/agent"
	rsync "github.com/sitewarden/sitewarden/runner/sync"
)

// ErrTimeout means the runner did not finish a submitted goal in time; the
// goal keeps going and its outcome appears later.
var ErrTimeout = errors.New("no outcome yet")

// Submit spools g for the runner that owns dir. The runner picks it up at
// its next poll.
func Submit(dir string, g agent.Goal) error {
	if err := g.Validate(); err != nil {
		return err
	}
	if !goalIDRE.MatchString(g.ID) {
		return fmt.Errorf("goal id %q: use letters, digits, '.', '_' or '-' (at most 128)", g.ID)
	}
	spool := filepath.Join(dir, "spool")
	if _, err := os.Stat(spool); err != nil {
		return fmt.Errorf("no runner spool at %s (%v); start the runner once, or pass --state", spool, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "outcomes", g.ID+".json")); err == nil {
		return fmt.Errorf("goal %s already has an outcome; submit it under a new id", g.ID)
	}
	raw, err := json.Marshal(g)
	if err != nil {
		return err
	}
	return rsync.WriteDurable(filepath.Join(spool, g.ID+".json"), raw)
}

// Wait polls for goal id's outcome until ctx ends. When the outcome holds
// one-time secrets, they are returned and their file is deleted: they can
// be read once.
func Wait(ctx context.Context, dir, id string, every time.Duration) (agent.Outcome, map[string]string, error) {
	path := filepath.Join(dir, "outcomes", id+".json")
	for {
		raw, err := os.ReadFile(path)
		if err == nil {
			var out agent.Outcome
			if err := json.Unmarshal(raw, &out); err != nil {
				return agent.Outcome{}, nil, fmt.Errorf("outcome %s: %w", id, err)
			}
			secrets, err := takeSecrets(filepath.Join(dir, "outcomes", id+".secret"))
			return out, secrets, err
		}
		if !errors.Is(err, os.ErrNotExist) {
			return agent.Outcome{}, nil, err
		}
		select {
		case <-ctx.Done():
			return agent.Outcome{}, nil, fmt.Errorf("goal %s: %w; see %s later", id, ErrTimeout, path)
		case <-time.After(every):
		}
	}
}

func takeSecrets(path string) (map[string]string, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s map[string]string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("secret file %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return nil, fmt.Errorf("remove secret file: %w", err)
	}
	return s, nil
}
