package sign

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Environment variables FromEnv reads.
const (
	EnvCert         = "SITEWARDEN_SIGN_CERT"
	EnvKey          = "SITEWARDEN_SIGN_KEY"
	EnvPassFile     = "SITEWARDEN_SIGN_PASS_FILE"
	EnvTimestampURL = "SITEWARDEN_SIGN_TIMESTAMP_URL"
)

// ErrIncomplete means only one of the certificate and the key was given.
var ErrIncomplete = errors.New("sign: give both SITEWARDEN_SIGN_CERT and SITEWARDEN_SIGN_KEY, or neither for an unsigned build")

// callTimeout bounds one osslsigncode run (a time-stamping authority may
// be slow).
const callTimeout = 2 * time.Minute

// Signer signs files with one certificate and key.
type Signer struct {
	// Cert is the PEM certificate chain (leaf first), Key its PEM private key.
	Cert, Key string
	// PassFile holds the key's passphrase (empty: the key is not encrypted).
	PassFile string
	// TimestampURL is an RFC 3161 time-stamping authority (empty: no
	// timestamp; the signature then stops verifying when the certificate
	// expires).
	TimestampURL string
	// Description and URL are shown by Windows in the signature's details.
	Description, URL string
}

// FromEnv returns the Signer the environment describes, or nil (and no
// error) when neither certificate nor key is set.
func FromEnv(getenv func(string) string) (*Signer, error) {
	cert, key := getenv(EnvCert), getenv(EnvKey)
	if cert == "" && key == "" {
		return nil, nil
	}
	if cert == "" || key == "" {
		return nil, ErrIncomplete
	}
	s := &Signer{Cert: cert, Key: key, PassFile: getenv(EnvPassFile), TimestampURL: getenv(EnvTimestampURL),
		Description: "Sitewarden site runner", URL: "https://sitewarden.example/"}
	return s, s.Validate()
}

// Validate checks that the files exist and the URL is usable.
func (s *Signer) Validate() error {
	for _, f := range []string{s.Cert, s.Key, s.PassFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("sign: %w", err)
		}
	}
	if s.TimestampURL != "" && !strings.HasPrefix(s.TimestampURL, "http://") && !strings.HasPrefix(s.TimestampURL, "https://") {
		return fmt.Errorf("sign: timestamp URL %q: use an http:// or https:// RFC 3161 service", s.TimestampURL)
	}
	return nil
}

// Sign signs path in place (SHA-256 Authenticode): an .exe or an .msi.
func (s *Signer) Sign(ctx context.Context, path string) error {
	out := path + ".signed"
	defer os.Remove(out)
	args := []string{"sign", "-certs", s.Cert, "-key", s.Key, "-h", "sha256"}
	if s.PassFile != "" {
		args = append(args, "-readpass", s.PassFile)
	}
	if s.Description != "" {
		args = append(args, "-n", s.Description)
	}
	if s.URL != "" {
		args = append(args, "-i", s.URL)
	}
	if s.TimestampURL != "" {
		args = append(args, "-ts", s.TimestampURL)
	}
	args = append(args, "-in", path, "-out", out)
	if err := run(ctx, args...); err != nil {
		return fmt.Errorf("sign %s: %w", filepath.Base(path), err)
	}
	if err := os.Rename(out, path); err != nil {
		return fmt.Errorf("sign %s: %w", filepath.Base(path), err)
	}
	return nil
}

// Verify checks path's Authenticode signature against the CA certificates
// in caFile (PEM); it fails for an unsigned or altered file.
func Verify(ctx context.Context, path, caFile string) error {
	if err := run(ctx, "verify", "-CAfile", caFile, "-in", path); err != nil {
		return fmt.Errorf("verify %s: %w", filepath.Base(path), err)
	}
	return nil
}

func run(ctx context.Context, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "osslsigncode", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return errors.New("osslsigncode not found; install it ('make deps' or 'apt-get install osslsigncode')")
		}
		return fmt.Errorf("osslsigncode %s: %w\n%s", args[0], err, lastLines(out.String(), 8))
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
