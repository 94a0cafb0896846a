package slapdtest

import (
	"net"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

func TestStartSeedsUsersAndGroups(t *testing.T) {
	s := Start(t)
	c := s.Admin(t)
	res, err := c.Search(ldap.NewSearchRequest(Users[4].DN(), ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		1, 5, false, "(objectClass=*)", []string{"memberOf"}, nil))
	if err != nil {
		t.Fatalf("search erin: %v", err)
	}
	got := res.Entries[0].GetAttributeValues("memberOf")
	found := false
	for _, g := range got {
		if g == PrivilegedGroupDN {
			found = true
		}
	}
	if !found {
		t.Fatalf("erin memberOf = %v, want transitive %s (dynlist)", got, PrivilegedGroupDN)
	}
	// The service account binds, and so does every seeded user.
	for _, who := range append([]User{{Password: ServicePassword}}, Users...) {
		dn := who.DN()
		if who.Login == "" {
			dn = ServiceDN
		}
		uc, err := s.Dial()
		if err != nil {
			t.Fatal(err)
		}
		if err := uc.Bind(dn, who.Password); err != nil {
			t.Errorf("bind %s: %v", dn, err)
		}
		_ = uc.Close()
	}
}

func TestTwoInstancesAreIsolated(t *testing.T) {
	a, b := Start(t), Start(t)
	if a.URL == b.URL || a.Dir == b.Dir {
		t.Fatalf("instances share %s / %s", a.URL, a.Dir)
	}
	if _, err := a.Admin(t).Search(ldap.NewSearchRequest(BaseDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		1, 5, false, "(objectClass=*)", nil, nil)); err != nil {
		t.Fatal(err)
	}
	b.stop()
	if _, err := b.Dial(); err == nil {
		t.Fatal("stopped instance still accepts connections")
	}
	if _, err := a.Dial(); err != nil {
		t.Fatalf("stopping b affected a: %v", err)
	}
}

func TestPortCollisionIsRetried(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = busy.Close() }()
	calls := 0
	pick := func() (int, int, error) {
		calls++
		if calls == 1 {
			return busy.Addr().(*net.TCPAddr).Port, busy.Addr().(*net.TCPAddr).Port + 1, nil
		}
		return freePorts()
	}
	s := start(t, pick)
	if calls < 2 {
		t.Fatalf("picker called %d times; the collision was not retried", calls)
	}
	if _, err := s.Admin(t).WhoAmI(nil); err != nil {
		t.Fatal(err)
	}
}
