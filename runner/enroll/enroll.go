package enroll

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sitewarden/sitewarden/protocol"
)

// File names in the state directory.
const (
	KeyFile        = "site-key.pem"
	CertFile       = "site-cert.pem"
	CAFile         = "ca.pem"
	EnrollmentFile = "enrollment.json"
	ScopeKeyFile   = "scope-key.pub"
)

// Identity names a site as its certificate does.
type Identity struct {
	Tenant string
	Client string
	Site   string
}

func (id Identity) String() string { return id.Tenant + "/" + id.Client + "/" + id.Site }

// IdentityFromCert returns the identity in a site certificate's
// sitewarden:// URI SAN.
func IdentityFromCert(c *x509.Certificate) (Identity, error) {
	for _, u := range c.URIs {
		if u.Scheme != "sitewarden" {
			continue
		}
		parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
		if len(parts) == 2 && u.Host != "" && parts[0] != "" && parts[1] != "" {
			return Identity{Tenant: u.Host, Client: parts[0], Site: parts[1]}, nil
		}
	}
	return Identity{}, errors.New("certificate names no sitewarden site")
}

// PinOf returns a certificate's pin: "sha256/" + base64url(SHA-256(SPKI)).
func PinOf(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return "sha256/" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// Credentials is what a runner needs to connect: its certificate and key,
// the pinned CA, the control plane's address and its own identity.
type Credentials struct {
	Cert     tls.Certificate
	CA       *x509.Certificate
	Address  string
	Identity Identity
	// ScopeKey is the control plane's scope-signing public key.
	ScopeKey ed25519.PublicKey
}

// Pool returns a pool holding only the pinned CA.
func (c Credentials) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.CA)
	return p
}

type enrollmentJSON struct {
	ControlPlane string `json:"control_plane"`
	CAPin        string `json:"ca_pin"`
}

// Load reads the credentials from dir; ErrNotEnrolled when there are none.
func Load(dir string) (Credentials, error) {
	meta, err := os.ReadFile(filepath.Join(dir, EnrollmentFile))
	if errors.Is(err, os.ErrNotExist) {
		return Credentials{}, fmt.Errorf("%w: no %s in %s; run 'sitewarden-runner enroll --token <token>'", ErrNotEnrolled, EnrollmentFile, dir)
	}
	if err != nil {
		return Credentials{}, fmt.Errorf("load credentials: %w", err)
	}
	var m enrollmentJSON
	if err := json.Unmarshal(meta, &m); err != nil {
		return Credentials{}, fmt.Errorf("load credentials: %s: %w", EnrollmentFile, err)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile))
	if err != nil {
		return Credentials{}, fmt.Errorf("load credentials: %w; enroll again with a new token", err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, CAFile))
	if err != nil {
		return Credentials{}, fmt.Errorf("load credentials: %w", err)
	}
	b, _ := pem.Decode(caPEM)
	if b == nil {
		return Credentials{}, fmt.Errorf("load credentials: %s is not PEM", CAFile)
	}
	ca, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return Credentials{}, fmt.Errorf("load credentials: %w", err)
	}
	if PinOf(ca) != m.CAPin {
		return Credentials{}, fmt.Errorf("load credentials: %w: %s does not match the pin enrolled with", ErrWrongCA, CAFile)
	}
	id, err := IdentityFromCert(cert.Leaf)
	if err != nil {
		return Credentials{}, fmt.Errorf("load credentials: %w", err)
	}
	sk, err := os.ReadFile(filepath.Join(dir, ScopeKeyFile))
	if err != nil {
		return Credentials{}, fmt.Errorf("load credentials: %w; enroll again with a new token", err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(sk)))
	if err != nil || len(key) != ed25519.PublicKeySize {
		return Credentials{}, fmt.Errorf("load credentials: %s is not an ed25519 public key", ScopeKeyFile)
	}
	return Credentials{Cert: cert, CA: ca, Address: m.ControlPlane, Identity: id, ScopeKey: key}, nil
}

// Enroller enrolls and renews a site.
type Enroller struct {
	// Dir is the state directory.
	Dir string
	// Now returns the current time (time.Now when nil).
	Now func() time.Time
	// Timeout bounds one call to the control plane (30 s when zero).
	Timeout time.Duration
	// Proxy, when set, carries the HTTPS calls (CONNECT); nil: direct.
	Proxy *url.URL
	// Addresses are the control-plane addresses (host:port) Renew tries in
	// order, each with the enrolled CA pin, until one answers: the runner's
	// control_plane (or the enrolled address) then its control_planes. The
	// enrolled address is tried last when it is not among them; empty means
	// the enrolled address only. Enroll uses the token's address.
	Addresses []string
	// SiteName names the site a fleet token enrolls (config's
	// SiteNameForEnroll: site_name, else the host name). Enroll calls it
	// only for a fleet token; nil then refuses with ErrNoSiteName.
	SiteName func() (string, error)
}

func (e Enroller) now() time.Time {
	if e.Now == nil {
		return time.Now()
	}
	return e.Now()
}

// Enroll enrolls the site with token and returns its identity. A one-site
// token names the site; a fleet token enrolls a new site named by
// SiteName. It sends
// the public half of the site's audit key (LoadOrCreateAuditKey, created
// in Dir when missing) so the control plane can verify the site's audit
// checkpoints.
func (e Enroller) Enroll(ctx context.Context, token string) (Identity, error) {
	tok, err := protocol.DecodeToken(token)
	if err != nil {
		return Identity{}, fmt.Errorf("enroll: %w", err)
	}
	if !e.now().Before(tok.Expires) {
		hint := "--site " + tok.Site
		if tok.Fleet {
			hint = "--fleet"
		}
		return Identity{}, fmt.Errorf("enroll: %w at %s; create a new one with 'sitewarden token create --client %s %s'",
			ErrTokenExpired, tok.Expires.Format(time.RFC3339), tok.Client, hint)
	}
	body := map[string]any{"token_secret": tok.Secret}
	if tok.Fleet {
		if e.SiteName == nil {
			return Identity{}, fmt.Errorf("enroll: %w: a fleet token needs the site's name; set site_name in config.yaml", ErrNoSiteName)
		}
		name, err := e.SiteName()
		if err != nil {
			return Identity{}, fmt.Errorf("enroll with a fleet token for %s: %w", tok.Client, err)
		}
		if !protocol.ValidName(name) {
			return Identity{}, fmt.Errorf("enroll: %w: %q: %s; set site_name in config.yaml", ErrNoSiteName, name, protocol.NameRule)
		}
		body["site"] = name
	}
	if _, err := os.Stat(filepath.Join(e.Dir, CertFile)); err == nil {
		return Identity{}, fmt.Errorf("enroll: %w (%s exists); remove the state directory's site files to enroll again", ErrAlreadyEnrolled, CertFile)
	}
	key, csr, err := newKeyAndCSR()
	if err != nil {
		return Identity{}, fmt.Errorf("enroll: %w", err)
	}
	// The audit key outlives enrollments: a site enrolled again keeps
	// signing its log with the same key, and the control plane learns it here.
	auditKey, err := LoadOrCreateAuditKey(e.Dir)
	if err != nil {
		return Identity{}, fmt.Errorf("enroll: %w", err)
	}
	body["csr"], body["audit_key"] = csr, auditKey.Public().(ed25519.PublicKey)
	cfg := pinnedTLS(tok.Address, tok.Pin)
	return e.exchange(ctx, tok.Address, tok.Address, tok.Pin, cfg, "/v1/enroll", body, key)
}

// RenewDue reports whether a certificate valid over [notBefore, notAfter]
// should be renewed at now: when less than a third of its life is left.
func RenewDue(notBefore, notAfter, now time.Time) bool {
	return notAfter.Sub(now) < notAfter.Sub(notBefore)/3
}

// Renew renews the site certificate when RenewDue says so, with a new key
// pair; renewed is false when nothing was due. It tries each of Addresses
// in order (each call bounded by Timeout) until a control plane answers; a
// control plane that answers with a refusal ends the attempt (replicas share
// one store, so another would refuse too). The enrollment keeps the
// enrolled address whichever replica renewed.
func (e Enroller) Renew(ctx context.Context) (renewed bool, err error) {
	cr, err := Load(e.Dir)
	if err != nil {
		return false, err
	}
	if !RenewDue(cr.Cert.Leaf.NotBefore, cr.Cert.Leaf.NotAfter, e.now()) {
		return false, nil
	}
	key, csr, err := newKeyAndCSR()
	if err != nil {
		return false, fmt.Errorf("renew: %w", err)
	}
	pin := PinOf(cr.CA)
	var errs []error
	for _, addr := range renewAddresses(e.Addresses, cr.Address) {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		cfg := pinnedTLS(addr, pin)
		cfg.Certificates = []tls.Certificate{cr.Cert}
		_, err := e.exchange(ctx, addr, cr.Address, pin, cfg, "/v1/renew", map[string]any{"csr": csr}, key)
		if err == nil {
			return true, nil
		}
		errs = append(errs, err)
		if !errors.Is(err, ErrUnreachable) && !errors.Is(err, ErrWrongCA) {
			break
		}
	}
	return false, fmt.Errorf("renew: %w", errors.Join(errs...))
}

// renewAddresses is addrs without blanks and repeats, then enrolled if
// missing.
func renewAddresses(addrs []string, enrolled string) []string {
	var out []string
	for _, a := range append(slices.Clone(addrs), enrolled) {
		if a != "" && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

func newKeyAndCSR() (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate site key: %w", err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "sitewarden site"}}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate request: %w", err)
	}
	return key, csr, nil
}

// pinnedTLS trusts exactly the CA with pin: the chain the control plane
// presents must contain that CA and its leaf must verify against it for
// the address's host.
func pinnedTLS(address, pin string) *tls.Config {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		host = address
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		NextProtos:         []string{"http/1.1"},
		InsecureSkipVerify: true, // replaced by VerifyConnection: trust comes from the token's pin, not the system roots
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyPinned(cs.PeerCertificates, host, pin)
		},
	}
}

func verifyPinned(chain []*x509.Certificate, host, pin string) error {
	if len(chain) == 0 {
		return fmt.Errorf("%w: the control plane presented no certificate", ErrWrongCA)
	}
	var ca *x509.Certificate
	var seen []string
	for _, c := range chain[1:] {
		if PinOf(c) == pin {
			ca = c
		}
		seen = append(seen, PinOf(c))
	}
	if ca == nil {
		return fmt.Errorf("%w: the token pins %s but the control plane at %s presents %v; the token was made for another control plane, or something intercepts the connection: check the address and create a new token there",
			ErrWrongCA, pin, host, seen)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: pool, DNSName: host}); err != nil {
		return fmt.Errorf("%w: the control plane's certificate does not verify against the pinned CA for %s: %v", ErrWrongCA, host, err)
	}
	return nil
}

// exchange posts body to path at address and saves the answer, recording
// enrolled as the control plane's address. A failure to reach address
// wraps ErrUnreachable, the wrong CA ErrWrongCA.
func (e Enroller) exchange(ctx context.Context, address, enrolled, pin string, cfg *tls.Config, path string, body map[string]any, key *ecdsa.PrivateKey) (Identity, error) {
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: false}
	if e.Proxy != nil {
		tr.Proxy = http.ProxyURL(e.Proxy)
	}
	hc := &http.Client{Transport: tr, Timeout: timeout}
	defer hc.CloseIdleConnections()
	b, err := json.Marshal(body)
	if err != nil {
		return Identity{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+address+path, bytes.NewReader(b))
	if err != nil {
		return Identity{}, fmt.Errorf("enroll: control plane address %q: %w", address, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		if errors.Is(err, ErrWrongCA) {
			return Identity{}, fmt.Errorf("enroll: %w", unwrapWrongCA(err))
		}
		return Identity{}, fmt.Errorf("enroll: %w at %s: %w; check the address and that UDP/TCP to it is open", ErrUnreachable, address, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 256<<10))
	if err != nil {
		return Identity{}, fmt.Errorf("enroll: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var er struct{ Code, Error string }
		if json.Unmarshal(raw, &er) != nil || er.Error == "" {
			return Identity{}, fmt.Errorf("enroll: control plane answered %s", resp.Status)
		}
		return Identity{}, fmt.Errorf("enroll: %w: %s (%s)", ErrTokenRejected, er.Error, er.Code)
	}
	var ok struct {
		Certificate string `json:"certificate"`
		CA          string `json:"ca"`
		ScopeKey    []byte `json:"scope_key"`
	}
	if err := json.Unmarshal(raw, &ok); err != nil {
		return Identity{}, fmt.Errorf("enroll: answer: %w", err)
	}
	if len(ok.ScopeKey) != ed25519.PublicKeySize {
		return Identity{}, errors.New("enroll: control plane answered without its scope-signing key; upgrade the control plane")
	}
	return e.save(enrolled, pin, key, []byte(ok.Certificate), []byte(ok.CA), ok.ScopeKey)
}

// unwrapWrongCA drops the HTTP client's URL prefix so the person reads the
// pin message first.
func unwrapWrongCA(err error) error {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if strings.HasPrefix(e.Error(), ErrWrongCA.Error()) {
			return e
		}
	}
	return err
}

func (e Enroller) save(address, pin string, key *ecdsa.PrivateKey, certPEM, caPEM, scopeKey []byte) (Identity, error) {
	cb, _ := pem.Decode(certPEM)
	ab, _ := pem.Decode(caPEM)
	if cb == nil || ab == nil {
		return Identity{}, errors.New("enroll: control plane answered without certificates")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return Identity{}, fmt.Errorf("enroll: certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(ab.Bytes)
	if err != nil || PinOf(ca) != pin {
		return Identity{}, fmt.Errorf("enroll: %w: the returned CA is not the pinned one", ErrWrongCA)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, CurrentTime: e.now()}); err != nil {
		return Identity{}, fmt.Errorf("enroll: returned certificate does not verify: %w", err)
	}
	if pub, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return Identity{}, errors.New("enroll: returned certificate is not for this site's key")
	}
	id, err := IdentityFromCert(cert)
	if err != nil {
		return Identity{}, fmt.Errorf("enroll: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Identity{}, err
	}
	meta, _ := json.Marshal(enrollmentJSON{ControlPlane: address, CAPin: pin})
	if err := os.MkdirAll(e.Dir, 0o700); err != nil {
		return Identity{}, fmt.Errorf("enroll: state directory: %w", err)
	}
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600},
		{CAFile, caPEM, 0o644},
		{EnrollmentFile, meta, 0o644},
		{ScopeKeyFile, []byte(base64.StdEncoding.EncodeToString(scopeKey) + "\n"), 0o644},
		{CertFile, certPEM, 0o644}, // last: its presence means enrolled
	} {
		if err := writeAtomic(filepath.Join(e.Dir, f.name), f.data, f.mode); err != nil {
			return Identity{}, fmt.Errorf("enroll: %w", err)
		}
	}
	return id, nil
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
