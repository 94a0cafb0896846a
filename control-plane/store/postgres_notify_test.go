package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/sitewarden/sitewarden/control-plane/store"
)

// FuzzDecodeChange: a notification payload decodes to a Change with a
// client and topic, or to ErrInvalid; never a panic.
func FuzzDecodeChange(f *testing.F) {
	seeds, err := filepath.Glob("testdata/changes/*.json")
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seeds in testdata/changes: %v", err)
	}
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := store.DecodeChange(b)
		if err != nil {
			if !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		if c.Client == "" || c.Topic == "" {
			t.Fatalf("decoded %+v without client or topic", c)
		}
	})
}

func TestDecodeChangeSeeds(t *testing.T) {
	c, err := store.DecodeChange([]byte(`{"o":"1f2e3d4c5b6a7988","c":"acme","s":"hq","t":"goals","v":42}`))
	if err != nil || c != (store.Change{Origin: "1f2e3d4c5b6a7988", Client: "acme", Site: "hq", Topic: "goals", Version: 42}) {
		t.Errorf("DecodeChange = %+v, %v", c, err)
	}
	if _, err := store.DecodeChange([]byte(`{"o":"x","c":"","t":"goals","v":1}`)); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("no client: %v, want ErrInvalid", err)
	}
}
