// Package testbin gives the installer's tests the binaries they package
// and a throwaway code-signing certificate. Binaries come from
// $SITEWARDEN_BIN ('make test' sets it to bin/ after 'make build'; Windows
// binaries in its windows/ subdirectory), or are built into a temporary
// directory when it is unset.
package testbin

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildTimeout bounds building the binaries when SITEWARDEN_BIN is unset.
const buildTimeout = 10 * time.Minute

// Plugins are the plugin binaries' names without the OS suffix.
func plugins(t testing.TB, root string) []string {
	t.Helper()
	mains, err := filepath.Glob(filepath.Join(root, "plugins", "*", "main.go"))
	if err != nil || len(mains) == 0 {
		t.Fatalf("no plugins under %s/plugins (%v)", root, err)
	}
	var names []string
	for _, m := range mains {
		names = append(names, filepath.Base(filepath.Dir(m)))
	}
	return names
}

// Windows returns a directory holding sitewarden-runner.exe and
// plugins/sitewarden-plugin-<name>.exe for every plugin in the module.
func Windows(t testing.TB) string {
	t.Helper()
	return binaries(t, "windows", ".exe", "windows")
}

// Linux returns a directory holding sitewarden-runner, sitewarden and
// plugins/sitewarden-plugin-<name> for every plugin in the module.
func Linux(t testing.TB) string {
	t.Helper()
	return binaries(t, "linux", "", "")
}

func binaries(t testing.TB, goos, suffix, sub string) string {
	t.Helper()
	root := ModuleRoot(t)
	want := map[string]string{"sitewarden-runner" + suffix: "./runner"}
	if goos == "linux" {
		want["sitewarden"] = "./control-plane"
	}
	for _, p := range plugins(t, root) {
		want[filepath.Join("plugins", "sitewarden-plugin-"+p+suffix)] = "./plugins/" + p
	}
	if env := os.Getenv("SITEWARDEN_BIN"); env != "" {
		dir := filepath.Join(env, sub)
		for name := range want {
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				t.Fatalf("SITEWARDEN_BIN: %s missing (%v); run 'make build' or unset SITEWARDEN_BIN", name, err)
			}
		}
		return dir
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	for name, pkg := range want {
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", filepath.Join(dir, name), pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH=amd64")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s for %s: %v\n%s", pkg, goos, err, out)
		}
	}
	return dir
}

// Installer builds the package builder (./installer) for this machine,
// without the race detector whatever the test runs with: compressing
// tens of megabytes under -race takes minutes, and the packaging code is
// the same.
func Installer(t testing.TB) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "installer")
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./installer")
	cmd.Dir = ModuleRoot(t)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build ./installer: %v\n%s", err, b)
	}
	return out
}

// ModuleRoot is the directory holding go.mod.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/sitewarden/sitewarden\n") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal(errors.New("go.mod of github.com/sitewarden/sitewarden not found above the working directory"))
		}
		dir = parent
	}
}

// CodeSigning writes a self-signed code-signing certificate and its key
// (PEM) into dir and returns their paths; the certificate is its own CA
// for verification.
func CodeSigning(t testing.TB, dir, name string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Sitewarden test"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}
