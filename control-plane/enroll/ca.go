package enroll

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/protocol"
)

// IdentityScheme is the URI scheme of a site certificate's identity SAN.
const IdentityScheme = "sitewarden"

// CA is the control plane's certificate authority. It signs site
// certificates and the control plane's own serving certificate.
type CA struct {
	Cert *x509.Certificate
	key  crypto.Signer
}

// Files in a CA directory.
const (
	caCertFile = "ca.pem"
	caKeyFile  = "ca-key.pem"
)

// LoadOrCreateCA loads the CA from dir, creating a new one (ECDSA P-256,
// ten years) when dir holds none. The key file is written with mode 0600.
func LoadOrCreateCA(dir string, now time.Time) (*CA, error) {
	certPEM, errC := os.ReadFile(filepath.Join(dir, caCertFile))
	keyPEM, errK := os.ReadFile(filepath.Join(dir, caKeyFile))
	switch {
	case errC == nil && errK == nil:
		return parseCA(certPEM, keyPEM)
	case errors.Is(errC, os.ErrNotExist) && errors.Is(errK, os.ErrNotExist):
	case errC != nil:
		return nil, fmt.Errorf("load CA: %w", errC)
	default:
		return nil, fmt.Errorf("load CA: %w; restore %s beside %s", errK, caKeyFile, caCertFile)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("create CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randSerial(),
		Subject:               pkix.Name{CommonName: "Sitewarden control plane CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode CA key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create CA directory: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := os.WriteFile(filepath.Join(dir, caKeyFile), keyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("write CA key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, caCertFile), certPEM, 0o644); err != nil {
		return nil, fmt.Errorf("write CA certificate: %w", err)
	}
	return parseCA(certPEM, keyPEM)
}

func parseCA(certPEM, keyPEM []byte) (*CA, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, errors.New("load CA: files are not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("load CA certificate: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("load CA key: %w", err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("load CA key: not a signing key")
	}
	return &CA{Cert: cert, key: signer}, nil
}

// Pin returns the CA's pin: "sha256/" + base64url(SHA-256(SPKI)).
func (ca *CA) Pin() string { return PinOf(ca.Cert) }

// PinOf returns a certificate's pin as Pin does.
func PinOf(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return "sha256/" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// Pool returns a pool holding only the CA certificate.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// PEM returns the CA certificate in PEM.
func (ca *CA) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// ServerCert issues the control plane's serving certificate for hosts (IP
// addresses or DNS names), valid for validity from now. The chain includes
// the CA so a runner can check its pin.
func (ca *CA) ServerCert(hosts []string, now time.Time, validity time.Duration) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("server key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: randSerial(),
		Subject:      pkix.Name{CommonName: "sitewarden control plane"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue server certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue server certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.Cert.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

// SignSite signs a site certificate for csr's public key naming id, valid
// for validity from now. The CSR's own subject and SANs are ignored: the
// identity comes from the token or the certificate being renewed.
func (ca *CA) SignSite(csrDER []byte, id store.Identity, now time.Time, validity time.Duration) (*x509.Certificate, error) {
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCSR, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: signature: %v", ErrBadCSR, err)
	}
	if err := checkName(id); err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: randSerial(),
		Subject:      pkix.Name{CommonName: id.Site, Organization: []string{id.Tenant}, OrganizationalUnit: []string{id.Client}},
		URIs:         []*url.URL{IdentityURI(id)},
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, csr.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("sign site certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// IdentityURI returns the identity SAN for id.
func IdentityURI(id store.Identity) *url.URL {
	return &url.URL{Scheme: IdentityScheme, Host: id.Tenant, Path: "/" + id.Client + "/" + id.Site}
}

// IdentityFromCert returns the site identity a certificate names. The
// caller must have verified the certificate's chain first.
func IdentityFromCert(c *x509.Certificate) (store.Identity, error) {
	for _, u := range c.URIs {
		if u.Scheme != IdentityScheme {
			continue
		}
		parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
		if len(parts) != 2 {
			break
		}
		id := store.Identity{Tenant: u.Host, Client: parts[0], Site: parts[1]}
		if err := checkName(id); err != nil {
			return store.Identity{}, err
		}
		return id, nil
	}
	return store.Identity{}, ErrNoIdentity
}

// checkName refuses names that cannot round-trip through the identity URI.
func checkName(id store.Identity) error {
	for _, s := range []string{id.Tenant, id.Client, id.Site} {
		if !ValidName(s) {
			return fmt.Errorf("%w: name %q: use 1-63 letters, digits, '-', '_' or '.'", ErrNoIdentity, s)
		}
	}
	return nil
}

// ValidName reports whether s is usable as a tenant, client or site name:
// protocol.ValidName, the rule the runner checks its site name with too.
func ValidName(s string) bool { return protocol.ValidName(s) }

func randSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic("crypto/rand failed: " + err.Error()) // crypto/rand never fails on supported platforms
	}
	return n
}
