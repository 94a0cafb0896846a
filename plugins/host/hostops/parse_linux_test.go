package hostops

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParsers feeds the decoders of kernel and systemctl text
// (/proc/<pid>/stat, 'systemctl show', /proc/self/mounts escapes) with
// fuzzed input seeded from testdata/parsers: none may panic, and a parsed
// stat's name lies between its parentheses.
func FuzzParsers(f *testing.F) {
	files, _ := filepath.Glob("testdata/parsers/*")
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if s, err := parseStat(data); err == nil && len(s.name) > len(data) {
			t.Fatalf("name longer than input: %q", s.name)
		}
		_, _ = parseSystemctlShow("x", data)
		if out := unescapeMount(string(data)); len(out) > len(data) {
			t.Fatalf("unescaping grew the input: %q", out)
		}
	})
}

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{`/mnt/with\040space`: "/mnt/with space", `/plain`: "/plain", `/bad\04`: `/bad\04`, `\134`: `\`} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}
