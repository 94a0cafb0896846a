package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/control-plane/store/storetest"
)

func TestSQLiteContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "cp.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestSQLiteReopen checks writes survive a close and that migrations are
// applied once.
func TestSQLiteReopen(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	file := filepath.Join(t.TempDir(), "cp.db")
	s, err := store.OpenSQLite(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutItem(ctx, store.Item{Kind: store.KindEscalation, Client: "acme", Site: "hq", ID: "e1", Payload: []byte("p")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = store.OpenSQLite(ctx, file)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	v, err := s.SchemaVersion(ctx)
	if err != nil || v != 8 {
		t.Errorf("SchemaVersion = %d, %v; want 8", v, err)
	}
	applied, err := s.PutItem(ctx, store.Item{Kind: store.KindEscalation, Client: "acme", Site: "hq", ID: "e1", Payload: []byte("p")})
	if err != nil || applied {
		t.Errorf("item after reopen: applied=%v, %v; want kept (not applied again)", applied, err)
	}
}

func TestOpenSQLiteErrors(t *testing.T) {
	if _, err := store.OpenSQLite(context.Background(), ""); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("empty path: %v, want ErrInvalid", err)
	}
	if _, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "missing", "dir", "cp.db")); err == nil {
		t.Error("database in a missing directory opened")
	}
}
