package sambatest

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// shared is the template, provisioned on first use by this test binary and
// removed by TestMain (fuzzing and unit tests do not pay for it).
var shared struct {
	once sync.Once
	dir  string
	tpl  *Template
	err  error
}

func template(t *testing.T) *Template {
	t.Helper()
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "sambatest-template-")
		if shared.err == nil {
			start := time.Now()
			shared.tpl, shared.err = NewTemplate(shared.dir + "/tpl")
			t.Logf("template ready in %v", time.Since(start).Round(time.Millisecond))
		}
	})
	if shared.err != nil {
		t.Fatalf("sambatest: %v", shared.err)
	}
	return shared.tpl
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" {
		_ = os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

func TestClonesAreSeededAndIsolated(t *testing.T) {
	tpl := template(t)
	a, b := tpl.Start(t), tpl.Start(t)
	if a.IP == b.IP {
		t.Fatalf("two DCs on %s", a.IP)
	}
	// A change on a is not seen on b.
	ca, cb := a.Admin(t), b.Admin(t)
	m := ldap.NewModifyRequest(Users[0].DN(), nil)
	m.Replace("description", []string{"only on a"})
	if err := ca.Modify(m); err != nil {
		t.Fatal(err)
	}
	res, err := cb.Search(ldap.NewSearchRequest(Users[0].DN(), ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 10, false,
		"(objectClass=user)", []string{"description", "memberOf"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if d := res.Entries[0].GetAttributeValue("description"); d != "" {
		t.Fatalf("b sees a's change: %q", d)
	}
	// Every seeded user and the service account bind.
	for _, u := range append([]User{{Login: ServiceLogin, Password: ServicePassword}}, Users...) {
		c, err := b.Dial()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Bind(u.Login+"@test.local", u.Password); err != nil {
			t.Errorf("bind %s: %v", u.Login, err)
		}
		_ = c.Close()
	}
}

func TestSIDString(t *testing.T) {
	b := []byte{1, 4, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0x50, 0x04, 0, 0}
	if s, err := sidString(b); err != nil || s != "S-1-5-21-1-2-1104" {
		t.Fatalf("sidString = %q, %v", s, err)
	}
	if _, err := sidString(b[:10]); err == nil {
		t.Fatal("truncated SID accepted")
	}
}

// FuzzSIDString: any byte string is either a well-formed SID or an error.
func FuzzSIDString(f *testing.F) {
	files, _ := filepath.Glob("testdata/sid/*")
	if len(files) == 0 {
		f.Fatal("no seeds in testdata/sid")
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := sidString(b)
		if err != nil {
			return
		}
		if !strings.HasPrefix(s, "S-1-") || strings.Count(s, "-") != 2+int(b[1]) {
			t.Fatalf("sidString(%x) = %q", b, s)
		}
	})
}
