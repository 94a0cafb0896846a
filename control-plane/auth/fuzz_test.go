package auth

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParsePHC checks the password hash decoder never panics, keeps its
// bounds, and that what it accepts re-encodes to the same string.
func FuzzParsePHC(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "phc", "*.txt"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds in testdata/phc: %v", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := parsePHC(s)
		if err != nil {
			return
		}
		if p.Memory > 256<<10 || p.Time > 16 || p.Threads > 16 || len(salt) > 64 || len(key) > 128 {
			t.Fatalf("accepted out-of-bounds parameters %+v salt %d key %d", p, len(salt), len(key))
		}
		again := fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", p.Memory, p.Time, p.Threads, b64(salt), b64(key))
		if again != s {
			t.Fatalf("accepted %q but it re-encodes as %q", s, again)
		}
		p2, salt2, key2, err := parsePHC(again)
		if err != nil || p2 != p || !bytes.Equal(salt, salt2) || !bytes.Equal(key, key2) {
			t.Fatalf("round trip of %q failed: %v", again, err)
		}
	})
}

func TestParsePHCSeeds(t *testing.T) {
	for file, ok := range map[string]bool{"default.txt": true, "wrong-variant.txt": false, "huge-memory.txt": false, "empty-parts.txt": false} {
		b, err := os.ReadFile(filepath.Join("testdata", "phc", file))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := parsePHC(string(b)); (err == nil) != ok {
			t.Errorf("%s: parse error %v, want accepted=%v", file, err, ok)
		}
	}
}

// FuzzAddressKey checks the login limits' address key never panics, keys
// an IPv4 (or IPv4-mapped) address by itself and any other IPv6 address by
// the /64 holding it, the same for every address in that /64 and for
// none outside it, and keys what is not an address as given.
func FuzzAddressKey(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "addrkey", "*.txt"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds in testdata/addrkey: %v", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, s string) {
		key := addressKey(s)
		a, err := netip.ParseAddr(s)
		if err != nil {
			if key != s {
				t.Fatalf("non-address %q keyed as %q", s, key)
			}
			return
		}
		if a = a.Unmap(); a.Is4() {
			if key != a.String() {
				t.Fatalf("IPv4 %q keyed as %q, want %q", s, key, a)
			}
			return
		}
		p, err := netip.ParsePrefix(key)
		if err != nil || p.Bits() != 64 || !p.Contains(a.WithZone("")) || p.Masked() != p {
			t.Fatalf("IPv6 %q keyed as %q (%v), want its /64", s, key, err)
		}
		b := a.WithZone("").As16()
		same, other := b, b
		same[15] ^= 0xff // the interface part: same /64
		same[8] ^= 0x80
		other[7] ^= 0x01 // the prefix part: another /64
		if k := addressKey(netip.AddrFrom16(same).String()); k != key && !netip.AddrFrom16(same).Is4In6() {
			t.Fatalf("%q and %v, in one /64, keyed %q and %q", s, netip.AddrFrom16(same), key, k)
		}
		if o := netip.AddrFrom16(other); !o.Is4In6() {
			if k := addressKey(o.String()); k == key {
				t.Fatalf("%q and %v, in different /64s, share key %q", s, o, k)
			}
		}
	})
}
