package protocol

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTokenRoundTrip(t *testing.T) {
	exp := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	in := Token{Address: "cp.example:7443", Pin: "sha256/abc", Secret: make([]byte, TokenSecretSize), Client: "acme", Site: "hq", Expires: exp}
	in.Secret[5] = 7
	out, err := DecodeToken("  " + in.Encode() + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if out.Address != in.Address || out.Pin != in.Pin || !bytes.Equal(out.Secret, in.Secret) ||
		out.Client != "acme" || out.Site != "hq" || !out.Expires.Equal(exp) {
		t.Errorf("round trip = %+v", out)
	}
}

// TestDecodeTokenGolden decodes the token in testdata, made by an earlier
// build: the format must not drift.
func TestDecodeTokenGolden(t *testing.T) {
	b, err := os.ReadFile("testdata/tokens/valid.txt")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := DecodeToken(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Address != "127.0.0.1:7443" || tok.Client != "acme" || tok.Site != "hq" || len(tok.Secret) != 32 || tok.Secret[31] != 31 ||
		!tok.Expires.Equal(time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("DecodeToken = %+v", tok)
	}
	if got := tok.Encode(); got != string(bytes.TrimSpace(b)) {
		t.Errorf("re-encoded golden token differs:\n got %s\nwant %s", got, b)
	}
}

func TestDecodeTokenRefuses(t *testing.T) {
	good := Token{Address: "a:1", Pin: "sha256/x", Secret: make([]byte, TokenSecretSize)}
	short := good
	short.Secret = short.Secret[:8]
	nopin := good
	nopin.Pin = "md5/x"
	noaddr := good
	noaddr.Address = ""
	for name, s := range map[string]string{
		"empty":       "",
		"no prefix":   "hello",
		"prefix only": TokenPrefix,
		"version 2":   "swt2_abc",
		"not b64":     TokenPrefix + "!!!",
		"not json":    TokenPrefix + "aGVsbG8",
		"short":       short.Encode(),
		"no pin":      nopin.Encode(),
		"no address":  noaddr.Encode(),
		"huge":        TokenPrefix + string(make([]byte, 4096)),
	} {
		if _, err := DecodeToken(s); !errors.Is(err, ErrMalformedToken) {
			t.Errorf("%s: %v, want ErrMalformedToken", name, err)
		}
	}
	if _, err := DecodeToken(good.Encode()); err != nil {
		t.Errorf("good token refused: %v", err)
	}
}

// FuzzDecodeToken: DecodeToken never panics, accepts only tokens with an
// address, a pin and a full secret, and a token it accepts re-encodes to
// one that decodes the same.
func FuzzDecodeToken(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/tokens/*.txt")
	if len(seeds) == 0 {
		f.Fatal("no seeds in testdata/tokens")
	}
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := DecodeToken(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedToken) {
				t.Fatalf("error does not wrap ErrMalformedToken: %v", err)
			}
			return
		}
		if len(tok.Secret) != TokenSecretSize || tok.Address == "" || tok.Pin == "" {
			t.Fatalf("accepted an incomplete token: %+v", tok)
		}
		again, err := DecodeToken(tok.Encode())
		if err != nil {
			t.Fatalf("re-encoded token does not decode: %v", err)
		}
		if again.Address != tok.Address || again.Pin != tok.Pin || !bytes.Equal(again.Secret, tok.Secret) ||
			again.Client != tok.Client || again.Site != tok.Site || !again.Expires.Equal(tok.Expires) || again.Fleet != tok.Fleet {
			t.Fatalf("re-encoded token decodes differently: %+v vs %+v", again, tok)
		}
	})
}

// TestFleetTokenRoundTrip: a fleet token keeps its kind and names no site;
// a one-site token's encoding has no "f" key, so tokens made before fleet
// tokens existed (the golden file) encode as they did.
func TestFleetTokenRoundTrip(t *testing.T) {
	in := Token{Address: "cp.example:7443", Pin: "sha256/abc", Secret: make([]byte, TokenSecretSize), Client: "acme", Fleet: true,
		Expires: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	out, err := DecodeToken(in.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if !out.Fleet || out.Site != "" || out.Client != "acme" {
		t.Errorf("fleet round trip = %+v", out)
	}
	one := in
	one.Fleet, one.Site = false, "hq"
	if got, err := DecodeToken(one.Encode()); err != nil || got.Fleet {
		t.Errorf("one-site token decodes as %+v, %v", got, err)
	}
	b, err := os.ReadFile("testdata/tokens/fleet.txt")
	if err != nil {
		t.Fatal(err)
	}
	if g, err := DecodeToken(string(b)); err != nil || !g.Fleet || g.Client != "acme" || g.Site != "" {
		t.Errorf("golden fleet token = %+v, %v", g, err)
	}
}

func TestDecodeFleetTokenRefuses(t *testing.T) {
	enc := func(j string) string { return TokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(j)) }
	secret := base64.RawURLEncoding.EncodeToString(make([]byte, TokenSecretSize))
	for name, s := range map[string]string{
		"fleet with site": enc(`{"a":"a:1","p":"sha256/x","s":"` + secret + `","c":"acme","t":"hq","f":1}`),
		"unknown kind":    enc(`{"a":"a:1","p":"sha256/x","s":"` + secret + `","c":"acme","f":7}`),
	} {
		if _, err := DecodeToken(s); !errors.Is(err, ErrMalformedToken) {
			t.Errorf("%s: %v, want ErrMalformedToken", name, err)
		}
	}
}

func TestValidName(t *testing.T) {
	for s, want := range map[string]bool{"hq": true, "pc-01.corp": true, "A_b": true, "": false, "a b": false, "é": false,
		strings.Repeat("x", MaxNameLen): true, strings.Repeat("x", MaxNameLen+1): false, "a/b": false} {
		if ValidName(s) != want {
			t.Errorf("ValidName(%q) = %v", s, !want)
		}
	}
}
