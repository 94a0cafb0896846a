package yamlstrict

import (
	"errors"
	"testing"
)

// TestDecode: strict decoding refuses unknown keys, and the input on which
// the library dereferences nil is ErrMalformed, not a panic.
func TestDecode(t *testing.T) {
	var v struct {
		A []string `yaml:"a"`
	}
	if err := Decode([]byte("a: [x, y]\n"), &v); err != nil || len(v.A) != 2 {
		t.Fatalf("Decode = %v, %v", v, err)
	}
	if err := Decode([]byte("b: 1\n"), &v); err == nil || errors.Is(err, ErrMalformed) {
		t.Errorf("unknown key: %v, want the decoder's error", err)
	}
	if err := Decode([]byte("a: !0000\n0000000000000000000000000"), &v); !errors.Is(err, ErrMalformed) {
		t.Errorf("tagged scalar for a sequence: %v, want ErrMalformed", err)
	}
}
