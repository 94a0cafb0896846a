package sign

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/installer/internal/testbin"
)

// TestSignAndVerifyExe: a real Windows binary, signed with a certificate
// made here, verifies against it; the unsigned original, an altered copy,
// and a check against another certificate do not.
func TestSignAndVerifyExe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := testbin.Windows(t)
	dir := t.TempDir()
	cert, key := testbin.CodeSigning(t, dir, "signer")
	other, _ := testbin.CodeSigning(t, dir, "other")
	src, err := os.ReadFile(filepath.Join(bin, "plugins", "sitewarden-plugin-host.exe"))
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "plugin.exe")
	if err := os.WriteFile(exe, src, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Verify(ctx, exe, cert); err == nil {
		t.Fatal("an unsigned binary verified")
	}
	s, err := FromEnv(func(k string) string { return map[string]string{EnvCert: cert, EnvKey: key}[k] })
	if err != nil || s == nil {
		t.Fatalf("FromEnv: %v, %v", s, err)
	}
	if err := s.Sign(ctx, exe); err != nil {
		t.Fatal(err)
	}
	if err := Verify(ctx, exe, cert); err != nil {
		t.Fatalf("signed binary does not verify: %v", err)
	}
	if err := Verify(ctx, exe, other); err == nil {
		t.Error("signature verified against a certificate that did not make it")
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/3] ^= 0xff
	altered := filepath.Join(dir, "altered.exe")
	if err := os.WriteFile(altered, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Verify(ctx, altered, cert); err == nil {
		t.Error("an altered signed binary verified")
	}
}

// TestFromEnv: nothing set is an unsigned build; half a pair is an error;
// a missing file and a bad timestamp URL are refused.
func TestFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if s, err := FromEnv(env(nil)); s != nil || err != nil {
		t.Errorf("empty environment: %v, %v", s, err)
	}
	if _, err := FromEnv(env(map[string]string{EnvCert: "/x"})); !errors.Is(err, ErrIncomplete) {
		t.Errorf("certificate without key: %v", err)
	}
	if _, err := FromEnv(env(map[string]string{EnvCert: "/nonexistent.crt", EnvKey: "/nonexistent.key"})); err == nil {
		t.Error("missing files accepted")
	}
	dir := t.TempDir()
	cert, key := testbin.CodeSigning(t, dir, "s")
	if _, err := FromEnv(env(map[string]string{EnvCert: cert, EnvKey: key, EnvTimestampURL: "ftp://tsa"})); err == nil {
		t.Error("ftp timestamp URL accepted")
	}
}
