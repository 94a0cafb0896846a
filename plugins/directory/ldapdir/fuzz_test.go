package ldapdir

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"
)

// seeds adds every file of testdata/<dir> to f.
func seeds(f *testing.F, dir string) [][]byte {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds in testdata/%s (%v)", dir, err)
	}
	var out [][]byte
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzDecodeParams: any input either decodes into params that satisfy the
// invariants every operation relies on, or is refused with ErrBadParams.
func FuzzDecodeParams(f *testing.F) {
	for _, s := range seeds(f, "params") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var rp resetParams
		if err := decodeParams(raw, &rp); err != nil {
			return
		}
		if rp.User == "" || len(rp.User) > maxUserLen || !utf8.ValidString(rp.User) {
			t.Fatalf("accepted user %q", rp.User)
		}
		if rp.By != ByLogin && rp.By != ByMail && rp.By != ByDN {
			t.Fatalf("accepted by %q", rp.By)
		}
		if rp.Length != 0 && (rp.Length < MinPasswordLength || rp.Length > MaxPasswordLength) {
			t.Fatalf("accepted length %d", rp.Length)
		}
		if len(rp.RefuseIfMemberOf) > maxProtectGroups {
			t.Fatalf("accepted %d groups", len(rp.RefuseIfMemberOf))
		}
		// Decoding is deterministic through a re-encode.
		b, _ := json.Marshal(map[string]any{"user": rp.User, "by": rp.By})
		var again userRef
		if err := decodeParams(b, &again); err != nil || again != rp.userRef {
			t.Fatalf("re-decode %s: %+v %v", b, again, err)
		}
	})
}

// FuzzParseCredentials: parsing never panics, never accepts plain LDAP
// without the flag, and never echoes the password in an error.
func FuzzParseCredentials(f *testing.F) {
	for _, s := range seeds(f, "credentials") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var creds map[string]string
		if json.Unmarshal(raw, &creds) != nil {
			return
		}
		tg, err := parseCredentials(context.Background(), creds, false)
		if err != nil {
			// With the password replaced by a marker, the marker must not
			// show (the raw password may collide with the message's own text).
			if creds[CredBindPassword] != "" {
				creds[CredBindPassword] = "pw-marker-7f3a9"
				if _, err2 := parseCredentials(context.Background(), creds, false); err2 != nil && strings.Contains(err2.Error(), "pw-marker-7f3a9") {
					t.Fatalf("error %q reveals the password", err2)
				}
			}
			return
		}
		if tg.plain || (tg.scheme != "ldaps" && tg.scheme != "ldap") || tg.hostport == "" || tg.base == nil {
			t.Fatalf("accepted %+v", tg)
		}
		if tg.flavor != FlavorOpenLDAP && tg.flavor != FlavorAD {
			t.Fatalf("accepted flavor %q", tg.flavor)
		}
	})
}

// FuzzAccountStatus feeds arbitrary attribute values (as a directory might
// return them) to both flavors' status decoders.
func FuzzAccountStatus(f *testing.F) {
	for _, s := range seeds(f, "entries") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var attrs map[string][]string
		if json.Unmarshal(raw, &attrs) != nil {
			return
		}
		e := ldap.NewEntry("cn=x", attrs)
		for _, d := range []dialect{openLDAP{}, activeDirectory{}} {
			st := d.status(e, ppolicy{known: true, lockoutDuration: 1, maxAge: 1}, fromFiletime(134401703012203270))
			if st.FailedAttempts < 0 || st.DN != "cn=x" {
				t.Fatalf("%T: %+v", d, st)
			}
			if st.LockedAt != "" && !strings.HasSuffix(st.LockedAt, "Z") {
				t.Fatalf("%T: locked_at %q", d, st.LockedAt)
			}
			if _, err := json.Marshal(st); err != nil {
				t.Fatal(err)
			}
		}
		classifyADData(string(raw))
	})
}
