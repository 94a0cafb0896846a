package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/control-plane/store/storetest"
)

func TestSQLiteReviewContract(t *testing.T) {
	storetest.RunReview(t, func(t *testing.T) storetest.ReviewStore {
		s, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "cp.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
