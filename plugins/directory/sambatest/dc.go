package sambatest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/go-ldap/ldap/v3"
)

// DC is one running domain controller. Its fields are read-only.
type DC struct {
	Dir   string
	IP    string
	URL   string // ldaps://IP:636
	CAPEM []byte

	cmd    *exec.Cmd
	exited chan struct{}
}

// Start clones the template into tb.TempDir(), starts a DC on its own
// loopback address (only the ldap service, one process) and stops it in
// tb.Cleanup.
func (t *Template) Start(tb testing.TB) *DC {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "dc")
	if err := run(toolTimeout, "/", "cp", "-a", t.Dir, dir); err != nil {
		tb.Fatalf("sambatest: clone template: %v", err)
	}
	dc, err := t.startIn(dir)
	if err != nil {
		tb.Fatalf("sambatest: %v", err)
	}
	tb.Cleanup(dc.stop)
	return dc
}

var interfacesLine = regexp.MustCompile(`(?m)^(\s*interfaces\s*=).*$`)

func (t *Template) startIn(dir string) (*DC, error) {
	ip, err := t.nextAddr()
	if err != nil {
		return nil, err
	}
	confPath := filepath.Join(dir, "etc", "smb.conf")
	conf, err := os.ReadFile(confPath)
	if err != nil {
		return nil, err
	}
	s := strings.ReplaceAll(string(conf), t.Dir+"/", dir+"/")
	s = interfacesLine.ReplaceAllString(s, "${1} "+ip+"/8")
	if err := os.WriteFile(confPath, []byte(s), 0o644); err != nil {
		return nil, err
	}
	for _, pat := range []string{"run/*.pid"} {
		old, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, f := range old {
			_ = os.Remove(f)
		}
	}
	ca, err := os.ReadFile(filepath.Join(dir, "private", "tls", "ca.pem"))
	if err != nil {
		return nil, err
	}
	dc := &DC{Dir: dir, IP: ip, URL: "ldaps://" + ip + ":636", CAPEM: ca, exited: make(chan struct{})}
	logf, err := os.Create(filepath.Join(dir, "log", "samba.stdout"))
	if err != nil {
		return nil, err
	}
	defer func() { _ = logf.Close() }()
	dc.cmd = exec.Command(sambaPath, "-F", "--debug-stdout", "-M", "single", "-s", confPath,
		"--option=server services=ldap", "--maximum-runtime=900")
	dc.cmd.Stdin = nil
	dc.cmd.Stdout = logf
	dc.cmd.Stderr = logf
	dc.cmd.SysProcAttr = sysProcAttr()
	if err := dc.cmd.Start(); err != nil {
		return nil, fmt.Errorf("exec samba: %w", err)
	}
	go func() { _ = dc.cmd.Wait(); close(dc.exited) }()
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-dc.exited:
			return nil, fmt.Errorf("samba exited during start (%v):\n%s", dc.cmd.ProcessState, dc.Log())
		default:
		}
		if c, err := dc.Dial(); err == nil {
			err = c.Bind(AdminDN, AdminPassword)
			_ = c.Close()
			if err == nil {
				return dc, nil
			}
		}
		if time.Now().After(deadline) {
			dc.stop()
			return nil, fmt.Errorf("samba not ready on %s after %v:\n%s", dc.URL, startTimeout, dc.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Log returns the tail of the DC's output.
func (dc *DC) Log() string {
	b, _ := os.ReadFile(filepath.Join(dc.Dir, "log", "samba.stdout"))
	return string(tail(b, 4000))
}

// TLSConfig trusts only the template's CA and checks ServerName.
func (dc *DC) TLSConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(dc.CAPEM)
	return &tls.Config{RootCAs: pool, ServerName: ServerName, MinVersion: tls.VersionTLS12}
}

// Dial opens an unauthenticated LDAPS connection.
func (dc *DC) Dial() (*ldap.Conn, error) {
	c, err := ldap.DialURL(dc.URL, ldap.DialWithTLSConfig(dc.TLSConfig()),
		ldap.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}))
	if err != nil {
		return nil, err
	}
	c.SetTimeout(15 * time.Second)
	return c, nil
}

// Admin returns a connection bound as Administrator, closed in tb.Cleanup.
func (dc *DC) Admin(tb testing.TB) *ldap.Conn {
	tb.Helper()
	c, err := dc.Dial()
	if err != nil {
		tb.Fatalf("sambatest: dial: %v", err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	if err := c.Bind(AdminDN, AdminPassword); err != nil {
		tb.Fatalf("sambatest: admin bind: %v", err)
	}
	return c
}

// Credentials returns the directory plugin's per-call credentials for the
// least-privilege service account.
func (dc *DC) Credentials() map[string]string {
	return map[string]string{
		"url":           dc.URL,
		"bind_dn":       ServiceLogin + "@test.local",
		"bind_password": ServicePassword,
		"base_dn":       BaseDN,
		"ca_pem":        string(dc.CAPEM),
		"server_name":   ServerName,
		"flavor":        "ad",
	}
}

func (dc *DC) stop() {
	select {
	case <-dc.exited:
		return
	default:
	}
	_ = dc.cmd.Process.Signal(terminateSignal())
	select {
	case <-dc.exited:
	case <-time.After(stopTimeout):
		_ = dc.cmd.Process.Kill()
		<-dc.exited
	}
}

// EncodePassword renders pw as AD's unicodePwd value: quoted, UTF-16LE.
func EncodePassword(pw string) string {
	u := utf16.Encode([]rune(`"` + pw + `"`))
	b := make([]byte, 2*len(u))
	for i, r := range u {
		binary.LittleEndian.PutUint16(b[2*i:], r)
	}
	return string(b)
}

// sidString renders a binary objectSid as S-1-5-21-….
func sidString(b []byte) (string, error) {
	if len(b) < 8 || b[0] != 1 || len(b) != 8+4*int(b[1]) {
		return "", fmt.Errorf("malformed SID of %d bytes", len(b))
	}
	var auth uint64
	for _, x := range b[2:8] {
		auth = auth<<8 | uint64(x)
	}
	s := fmt.Sprintf("S-1-%d", auth)
	for i := range int(b[1]) {
		s += fmt.Sprintf("-%d", binary.LittleEndian.Uint32(b[8+4*i:]))
	}
	return s, nil
}
