package slapdtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Budgets of the harness: nothing waits forever.
const (
	startAttempts = 5                // port collisions are retried with new ports
	startTimeout  = 15 * time.Second // exec to first successful LDAPS admin bind
	stopTimeout   = 5 * time.Second  // SIGTERM to exit, then SIGKILL
	toolTimeout   = 30 * time.Second // openssl and slapadd runs
)

// Server is one running slapd. Its fields are read-only.
type Server struct {
	// Dir is the scratch directory (config, database, certificates, log).
	Dir string
	// URL is the LDAPS listener, e.g. ldaps://127.0.0.1:40123.
	URL string
	// StartTLSURL is the plain listener on which clients must send StartTLS.
	StartTLSURL string
	// CAPEM is the PEM of the CA that signed the server certificate (SANs 127.0.0.1 and localhost).
	CAPEM []byte

	cmd    *exec.Cmd
	exited chan struct{}
}

// Start creates an instance in a fresh t.TempDir(), starts slapd on two free
// loopback ports, waits until an LDAPS admin bind succeeds, and stops it in
// t.Cleanup. It fails the test when slapd, slapadd or openssl are missing.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return start(tb, freePorts)
}

// start is Start with the port picker injected (tests force a collision).
func start(tb testing.TB, pick func() (int, int, error)) *Server {
	tb.Helper()
	for _, bin := range []string{slapdPath, slapaddPath} {
		if _, err := os.Stat(bin); err != nil {
			tb.Fatalf("slapdtest: %s not found (%v): install the Debian packages slapd and ldap-utils ('make deps' or .ci/deps.sh)", bin, err)
		}
	}
	if _, err := exec.LookPath("openssl"); err != nil {
		tb.Fatalf("slapdtest: openssl not found: install the Debian package openssl ('make deps')")
	}
	dir := tb.TempDir()
	if err := prepare(dir); err != nil {
		tb.Fatalf("slapdtest: prepare instance in %s: %v", dir, err)
	}
	var lastErr error
	for range startAttempts {
		s, err := launch(dir, pick)
		if err == nil {
			tb.Cleanup(s.stop)
			return s
		}
		lastErr = err
		if !errors.Is(err, errPortInUse) {
			break
		}
	}
	tb.Fatalf("slapdtest: start slapd: %v", lastErr)
	return nil
}

var errPortInUse = errors.New("port already in use")

// StartIn is Start for programs that are not tests (the 'make run' demo):
// it creates the instance in dir (new or empty), starts slapd on two free
// loopback ports and waits until it answers. Stop it with Stop.
func StartIn(dir string) (*Server, error) {
	for _, bin := range []string{slapdPath, slapaddPath} {
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("slapdtest: %s not found (%w): install the Debian packages slapd and ldap-utils ('make deps')", bin, err)
		}
	}
	if err := prepare(dir); err != nil {
		return nil, fmt.Errorf("slapdtest: prepare instance in %s: %w", dir, err)
	}
	var lastErr error
	for range startAttempts {
		s, err := launch(dir, freePorts)
		if err == nil {
			return s, nil
		}
		if lastErr = err; !errors.Is(err, errPortInUse) {
			break
		}
	}
	return nil, fmt.Errorf("slapdtest: start slapd: %w", lastErr)
}

// Stop stops slapd (SIGTERM, then SIGKILL after 5 s). Start's instances
// stop by themselves at the end of the test.
func (s *Server) Stop() { s.stop() }

const (
	slapdPath   = "/usr/sbin/slapd"
	slapaddPath = "/usr/sbin/slapadd"
)

func prepare(dir string) error {
	for _, d := range []string{"data", "certs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return err
		}
	}
	if err := makeCerts(filepath.Join(dir, "certs")); err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	conf := strings.ReplaceAll(slapdConf, "@DIR@", dir)
	if err := os.WriteFile(filepath.Join(dir, "slapd.conf"), []byte(conf), 0o600); err != nil {
		return err
	}
	ldif := seedLDIF + "\n" + usersLDIF() + "\n" + groupsLDIF
	if err := os.WriteFile(filepath.Join(dir, "seed.ldif"), []byte(ldif), 0o600); err != nil {
		return err
	}
	return run(dir, slapaddPath, "-q", "-f", filepath.Join(dir, "slapd.conf"), "-l", filepath.Join(dir, "seed.ldif"))
}

func usersLDIF() string {
	var b strings.Builder
	for _, u := range Users {
		fmt.Fprintf(&b, "dn: %s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: %s\nmail: %s\nuserPassword: %s\n\n",
			u.DN(), u.Login, u.Login, u.Login, u.Mail, u.Password)
	}
	return b.String()
}

func makeCerts(d string) error {
	steps := [][]string{
		{"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
			"-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=slapdtest-ca",
			"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"},
		{"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
			"-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"},
	}
	for _, s := range steps {
		if err := run(d, "openssl", s...); err != nil {
			return err
		}
	}
	ext := "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n" +
		"extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
	if err := os.WriteFile(filepath.Join(d, "server.ext"), []byte(ext), 0o600); err != nil {
		return err
	}
	return run(d, "openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
		"-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "server.ext")
}

func run(dir, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// freePorts returns two distinct free loopback ports. Racy by nature: launch
// retries on a collision.
func freePorts() (int, int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, 0, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports[0], ports[1], nil
}

func launch(dir string, pick func() (int, int, error)) (*Server, error) {
	plain, secure, err := pick()
	if err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(filepath.Join(dir, "certs", "ca.crt"))
	if err != nil {
		return nil, err
	}
	s := &Server{
		Dir:         dir,
		URL:         "ldaps://127.0.0.1:" + strconv.Itoa(secure),
		StartTLSURL: "ldap://127.0.0.1:" + strconv.Itoa(plain),
		CAPEM:       ca,
		exited:      make(chan struct{}),
	}
	logPath := filepath.Join(dir, "slapd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer func() { _ = logf.Close() }()
	s.cmd = exec.Command(slapdPath, "-h", s.StartTLSURL+"/ "+s.URL+"/", "-f", filepath.Join(dir, "slapd.conf"), "-d", "none")
	s.cmd.Stdout = logf
	s.cmd.Stderr = logf
	s.cmd.SysProcAttr = sysProcAttr()
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("exec %s: %w", slapdPath, err)
	}
	go func() { _ = s.cmd.Wait(); close(s.exited) }()

	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-s.exited:
			log, _ := os.ReadFile(logPath)
			if strings.Contains(string(log), "Address already in use") {
				return nil, fmt.Errorf("%w: %s", errPortInUse, log)
			}
			return nil, fmt.Errorf("slapd exited during start (%v):\n%s", s.cmd.ProcessState, log)
		default:
		}
		if log, _ := os.ReadFile(logPath); strings.Contains(string(log), "slapd starting") {
			if c, err := s.Dial(); err == nil {
				err = c.Bind(AdminDN, AdminPassword)
				_ = c.Close()
				if err == nil {
					return s, nil
				}
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("slapd not ready after %v:\n%s", startTimeout, log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TLSConfig returns a client configuration that trusts only this instance's CA.
func (s *Server) TLSConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CAPEM)
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// Dial opens an unauthenticated LDAPS connection to the instance.
func (s *Server) Dial() (*ldap.Conn, error) {
	c, err := ldap.DialURL(s.URL, ldap.DialWithTLSConfig(s.TLSConfig()),
		ldap.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}))
	if err != nil {
		return nil, err
	}
	c.SetTimeout(10 * time.Second)
	return c, nil
}

// Admin returns an LDAPS connection bound as the rootdn, closed in t.Cleanup.
func (s *Server) Admin(tb testing.TB) *ldap.Conn {
	tb.Helper()
	c, err := s.Dial()
	if err != nil {
		tb.Fatalf("slapdtest: dial: %v", err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	if err := c.Bind(AdminDN, AdminPassword); err != nil {
		tb.Fatalf("slapdtest: admin bind: %v", err)
	}
	return c
}

// Credentials returns the per-call credentials the directory plugin takes,
// for the least-privilege service account over LDAPS.
func (s *Server) Credentials() map[string]string {
	return map[string]string{
		"url":           s.URL,
		"bind_dn":       ServiceDN,
		"bind_password": ServicePassword,
		"base_dn":       BaseDN,
		"ca_pem":        string(s.CAPEM),
		"flavor":        "openldap",
	}
}

// Log returns slapd's log so far (errors only, at -d none).
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "slapd.log"))
	return string(b)
}

func (s *Server) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(terminateSignal())
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}
