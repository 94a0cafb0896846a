package sambatest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Budgets: nothing waits forever.
const (
	provisionTimeout = 3 * time.Minute
	toolTimeout      = time.Minute
	startTimeout     = 60 * time.Second
	stopTimeout      = 10 * time.Second
	maxAddrTries     = 50
)

const (
	sambaPath     = "/usr/sbin/samba"
	sambaToolPath = "/usr/bin/samba-tool"
)

// ErrMissingTools: samba or openssl is not installed, or not running as root.
var ErrMissingTools = errors.New("samba AD DC prerequisites missing")

// Template is a provisioned, seeded domain directory that DCs are cloned
// from. It is safe for concurrent use by parallel tests.
type Template struct {
	Dir string

	mu   sync.Mutex
	next int // next loopback address index
	base byte
}

// NewTemplate provisions a domain into dir (which must be empty or absent):
// about 4-8 s on two cores.
func NewTemplate(dir string) (*Template, error) {
	for _, bin := range []string{sambaPath, sambaToolPath} {
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("%w: %s: %v; install the Debian packages samba samba-ad-provision samba-dsdb-modules samba-vfs-modules ('make deps')", ErrMissingTools, bin, err)
		}
	}
	if _, err := exec.LookPath("openssl"); err != nil {
		return nil, fmt.Errorf("%w: openssl: install the Debian package openssl", ErrMissingTools)
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("%w: samba binds ports 389/636 and needs root", ErrMissingTools)
	}
	t := &Template{Dir: dir, base: byte(20 + os.Getpid()%200)}
	if err := t.provision(); err != nil {
		return nil, err
	}
	dc, err := t.startIn(dir)
	if err != nil {
		return nil, fmt.Errorf("start template DC: %w", err)
	}
	sid, err := seed(dc)
	dc.stop()
	if err != nil {
		return nil, fmt.Errorf("seed template: %w\n%s", err, dc.Log())
	}
	if err := t.delegate(sid); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Template) conf() string { return filepath.Join(t.Dir, "etc", "smb.conf") }

// pathOptions keep every file the DC writes inside its own directory.
func pathOptions(dir string) []string {
	return []string{
		"--option=interfaces=127.0.0.1/8", "--option=bind interfaces only=yes",
		"--option=log file=" + dir + "/log/log.%m", "--option=pid directory=" + dir + "/run",
		"--option=ncalrpc dir=" + dir + "/run/ncalrpc",
		"--option=winbindd socket directory=" + dir + "/run/winbindd",
		"--option=ntp signd socket directory=" + dir + "/run/ntp_signd",
	}
}

func (t *Template) provision() error {
	for _, d := range []string{"log", "run"} {
		if err := os.MkdirAll(filepath.Join(t.Dir, d), 0o700); err != nil {
			return err
		}
	}
	args := append([]string{"domain", "provision", "--use-rfc2307", "--realm=" + Realm, "--domain=" + Domain,
		"--server-role=dc", "--dns-backend=SAMBA_INTERNAL", "--adminpass=" + AdminPassword, "--targetdir=" + t.Dir},
		pathOptions(t.Dir)...)
	if err := run(provisionTimeout, t.Dir, sambaToolPath, args...); err != nil {
		return fmt.Errorf("%w (needs samba-ad-provision, samba-dsdb-modules, samba-vfs-modules)", err)
	}
	// Samba accepts the previous password for 60 min after a reset by
	// default; tests assert that the old password stops working.
	conf, err := os.ReadFile(t.conf())
	if err != nil {
		return err
	}
	conf = []byte(strings.Replace(string(conf), "[global]\n", "[global]\n\told password allowed period = 0\n", 1))
	if err := os.WriteFile(t.conf(), conf, 0o644); err != nil {
		return err
	}
	if err := makeCerts(filepath.Join(t.Dir, "private", "tls")); err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	return run(toolTimeout, t.Dir, sambaToolPath, "domain", "passwordsettings", "set", "-s", t.conf(),
		fmt.Sprintf("--account-lockout-threshold=%d", MaxFailure), "--account-lockout-duration=30",
		"--reset-account-lockout-after=30", "--min-pwd-age=0")
}

// makeCerts replaces Samba's self-generated certificate, whose serial Go may
// read as negative and which has no SAN.
func makeCerts(d string) error {
	if err := os.MkdirAll(d, 0o700); err != nil {
		return err
	}
	steps := [][]string{
		{"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
			"-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "30", "-subj", "/CN=sambatest-ca",
			"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"},
		{"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
			"-keyout", "key.pem", "-out", "server.csr", "-subj", "/CN=" + ServerName},
	}
	for _, s := range steps {
		if err := run(toolTimeout, d, "openssl", s...); err != nil {
			return err
		}
	}
	ext := "subjectAltName=DNS:" + ServerName + ",DNS:localhost\nextendedKeyUsage=serverAuth\n" +
		"basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
	if err := os.WriteFile(filepath.Join(d, "ext.cnf"), []byte(ext), 0o600); err != nil {
		return err
	}
	if err := run(toolTimeout, d, "openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
		"-CAcreateserial", "-out", "cert.pem", "-days", "30", "-extfile", "ext.cnf"); err != nil {
		return err
	}
	for _, f := range []string{"server.csr", "ext.cnf", "ca.srl"} {
		_ = os.Remove(filepath.Join(d, f))
	}
	return os.Chmod(filepath.Join(d, "key.pem"), 0o600)
}

// delegate gives the service account exactly what the directory plugin needs
// on user objects under CN=Users (see docs/directory.md): the Reset Password
// extended right and write access to lockoutTime and pwdLastSet. Reading is
// what every authenticated user may do.
func (t *Template) delegate(sid string) error {
	sddl := fmt.Sprintf("(OA;CIIO;CR;%s;%s;%s)(OA;CIIO;WP;%s;%s;%s)(OA;CIIO;WP;%s;%s;%s)",
		guidResetPassword, guidUserClass, sid, guidLockoutTime, guidUserClass, sid, guidPwdLastSet, guidUserClass, sid)
	return run(toolTimeout, t.Dir, sambaToolPath, "dsacl", "set", "-s", t.conf(),
		"-H", "tdb://"+filepath.Join(t.Dir, "private", "sam.ldb"), "--objectdn="+UsersDN, "--sddl="+sddl)
}

func run(timeout time.Duration, dir, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(redact(args), " "), err, tail(out, 3000))
	}
	return nil
}

func redact(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.HasPrefix(a, "--adminpass=") {
			a = "--adminpass=…"
		}
		out[i] = a
	}
	return out
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// nextAddr returns a loopback address whose LDAP ports are free.
func (t *Template) nextAddr() (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for range maxAddrTries {
		t.next++
		ip := fmt.Sprintf("127.%d.%d.%d", t.base, t.next/250, t.next%250+2)
		free := true
		for _, port := range []string{"389", "636"} {
			l, err := net.Listen("tcp", net.JoinHostPort(ip, port))
			if err != nil {
				free = false
				break
			}
			_ = l.Close()
		}
		if free {
			return ip, nil
		}
	}
	return "", fmt.Errorf("no free loopback address for a DC after %d tries", maxAddrTries)
}

// seed adds the users, groups and service account over LDAPS as Administrator
// and returns the service account's SID.
func seed(dc *DC) (string, error) {
	c, err := dc.Dial()
	if err != nil {
		return "", err
	}
	defer func() { _ = c.Close() }()
	if err := c.Bind(AdminDN, AdminPassword); err != nil {
		return "", err
	}
	all := append([]User{{Login: ServiceLogin, Password: ServicePassword}}, Users...)
	for _, u := range all {
		if err := c.Add(addUser(u)); err != nil {
			return "", fmt.Errorf("add %s: %w", u.Login, err)
		}
	}
	groups := []struct {
		cn      string
		members []string
	}{
		{"Helpdesk Test", []string{Users[0].DN(), Users[1].DN()}},
		{"Helpdesk Leads", []string{Users[4].DN()}},
	}
	for _, g := range groups {
		a := ldap.NewAddRequest("CN="+g.cn+","+UsersDN, nil)
		a.Attribute("objectClass", []string{"top", "group"})
		a.Attribute("sAMAccountName", []string{strings.ReplaceAll(g.cn, " ", "")})
		a.Attribute("member", g.members)
		if err := c.Add(a); err != nil {
			return "", fmt.Errorf("add group %s: %w", g.cn, err)
		}
	}
	m := ldap.NewModifyRequest(PrivilegedGroupDN, nil)
	m.Add("member", []string{Users[3].DN(), "CN=Helpdesk Leads," + UsersDN})
	if err := c.Modify(m); err != nil {
		return "", fmt.Errorf("fill Domain Admins: %w", err)
	}
	res, err := c.Search(ldap.NewSearchRequest(ServiceDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 10, false,
		"(objectClass=user)", []string{"objectSid"}, nil))
	if err != nil || len(res.Entries) != 1 {
		return "", fmt.Errorf("read service account SID: %v", err)
	}
	return sidString(res.Entries[0].GetRawAttributeValue("objectSid"))
}

func addUser(u User) *ldap.AddRequest {
	a := ldap.NewAddRequest(u.DN(), nil)
	a.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "user"})
	a.Attribute("sAMAccountName", []string{u.Login})
	a.Attribute("userPrincipalName", []string{u.Login + "@test.local"})
	if u.Mail != "" {
		a.Attribute("mail", []string{u.Mail})
	}
	a.Attribute("unicodePwd", []string{EncodePassword(u.Password)})
	a.Attribute("userAccountControl", []string{"512"})
	return a
}
