package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sitewarden/sitewarden/internal/yamlstrict"
)

// addSeeds adds every file of testdata/dir to f's corpus.
func addSeeds(f *testing.F, dir string) {
	ents, err := os.ReadDir(filepath.Join("testdata", dir))
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("testdata", dir, e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzParse: any bytes as config.yaml give a validated Config or an error,
// never a panic (the YAML library's panics become yamlstrict.ErrMalformed).
func FuzzParse(f *testing.F) {
	addSeeds(f, "config")
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := Parse(raw)
		if err == nil {
			if verr := c.Validate(); verr != nil {
				t.Fatalf("Parse accepted a config that does not validate: %v", verr)
			}
		}
	})
}

// FuzzParseCredentials: any bytes as credentials.yaml give credentials or an
// error that quotes nothing of the file.
func FuzzParseCredentials(f *testing.F) {
	addSeeds(f, "credentials")
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := parseCredentials(raw)
		if err != nil {
			if len(raw) >= 8 && strings.Contains(err.Error(), string(raw)) {
				t.Fatalf("error quotes the file: %v", err)
			}
			return
		}
		_ = c.String()
	})
}

// FuzzSet: the installers' configure step on any existing file rewrites it
// or refuses it with an error, never a panic; a rewritten file parses back
// with the value set.
func FuzzSet(f *testing.F) {
	addSeeds(f, "config")
	f.Fuzz(func(t *testing.T, raw []byte) {
		path := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := Set(path, map[string]string{"site_name": "front-desk"}); err != nil {
			return
		}
		out, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), "front-desk") {
			t.Fatalf("Set wrote %q without the value", out)
		}
	})
}

// TestMalformedYAMLIsAnError: on a tagged scalar where a sequence belongs
// the YAML library dereferences nil (control_planes here; found by
// control-plane/notify's fuzzing): Parse and Set give an error, not a crash
// of the service or of the MSI's configure step.
func TestMalformedYAMLIsAnError(t *testing.T) {
	raw := []byte("state_dir: /x\ncontrol_planes: !0000\n0000000000000000000000000")
	if _, err := Parse(raw); !errors.Is(err, yamlstrict.ErrMalformed) {
		t.Errorf("Parse: %v, want yamlstrict.ErrMalformed", err)
	}
	if _, err := parseCredentials(raw); err == nil {
		t.Error("parseCredentials accepted it")
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path, false); !errors.Is(err, yamlstrict.ErrMalformed) {
		t.Errorf("Load: %v, want yamlstrict.ErrMalformed", err)
	}
	if err := Set(path, map[string]string{"log_level": "debug"}); err == nil {
		t.Error("Set rewrote a file that does not parse")
	}
	if b, _ := os.ReadFile(path); string(b) != string(raw) {
		t.Errorf("Set changed the file: %q", b)
	}
}
