package audit

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func TestCheckpointSignVerify(t *testing.T) {
	m := newMemLog(t, "acme", "hq", testKey(1))
	m.appendRecords(t, "acme", 10)
	signed := m.checkpoint(t, 10)
	c, err := VerifyCheckpoint(signed, m.verifier(t))
	if err != nil {
		t.Fatal(err)
	}
	root, _ := tlog.TreeHash(10, m)
	if c.Origin != "sitewarden-audit/acme/hq" || c.Size != 10 || c.Hash != root {
		t.Fatalf("checkpoint %+v", c)
	}
	// The body is the C2SP tlog-checkpoint layout.
	text := strings.SplitN(string(signed), "\n\n", 2)[0] + "\n"
	if want := "sitewarden-audit/acme/hq\n10\n" + root.String() + "\n"; text != want {
		t.Fatalf("body %q, want %q", text, want)
	}
	// The note package's own verifier accepts it.
	if _, err := note.Open(signed, note.VerifierList(m.verifier(t))); err != nil {
		t.Fatal(err)
	}

	other := newMemLog(t, "acme", "hq", testKey(2))
	if _, err := VerifyCheckpoint(signed, other.verifier(t)); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("other key: %v, want ErrBadSignature", err)
	}
	flipped := bytes.Replace(signed, []byte("\n10\n"), []byte("\n11\n"), 1)
	if _, err := VerifyCheckpoint(flipped, m.verifier(t)); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("altered body: %v, want ErrBadSignature", err)
	}
	if _, err := VerifyCheckpoint([]byte("garbage"), m.verifier(t)); !errors.Is(err, ErrMalformedCheckpoint) {
		t.Fatalf("garbage: %v, want ErrMalformedCheckpoint", err)
	}
}

func TestParseCheckpointStrict(t *testing.T) {
	h := tlog.Hash{1}.String()
	for _, body := range []string{
		"", "o\n1\n", "o\n01\n" + h + "\n", "o\n-1\n" + h + "\n", "o\n1\nnotbase64\n", "\n1\n" + h + "\n",
		"o\n1\n" + h + "\n\n", "o\n1\n" + h, "o\n1\n" + tlog.Hash{}.String()[:40] + "\n",
	} {
		if _, err := ParseCheckpoint([]byte(body)); !errors.Is(err, ErrMalformedCheckpoint) {
			t.Errorf("ParseCheckpoint(%q) = %v, want ErrMalformedCheckpoint", body, err)
		}
	}
	c, err := ParseCheckpoint([]byte("o\n5\n" + h + "\next one\n"))
	if err != nil || c.Size != 5 || len(c.Extensions) != 1 {
		t.Fatalf("with extension: %+v %v", c, err)
	}
	if !bytes.Equal(c.Marshal(), []byte("o\n5\n"+h+"\next one\n")) {
		t.Fatal("Marshal does not round-trip")
	}
}

func TestCosign(t *testing.T) {
	site := newMemLog(t, "acme", "hq", testKey(1))
	site.appendRecords(t, "acme", 3)
	signed := site.checkpoint(t, 3)
	cp, _, err := NewSigner("sitewarden-control-plane", testKey(9))
	if err != nil {
		t.Fatal(err)
	}
	cosigned, err := Cosign(signed, cp)
	if err != nil {
		t.Fatal(err)
	}
	_, cpKey, _ := NewSigner("sitewarden-control-plane", testKey(9))
	cpv, _ := VerifierKey(cpKey)
	n, err := note.Open(cosigned, note.VerifierList(site.verifier(t), cpv))
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Sigs) != 2 {
		t.Fatalf("cosigned note has %d verified signatures, want 2", len(n.Sigs))
	}
	if _, err := VerifyCheckpoint(cosigned, site.verifier(t)); err != nil {
		t.Fatalf("site signature lost in cosigning: %v", err)
	}
	if _, err := Cosign([]byte("x\n\n— a b\n"), cp); !errors.Is(err, ErrMalformedCheckpoint) {
		t.Fatalf("cosign garbage: %v", err)
	}
}

func TestVerifyConsistency(t *testing.T) {
	m := newMemLog(t, "acme", "hq", testKey(1))
	m.appendRecords(t, "acme", 37)
	at := func(n uint64) Checkpoint {
		c, err := VerifyCheckpoint(m.checkpoint(t, n), m.verifier(t))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, pair := range [][2]uint64{{1, 37}, {16, 37}, {20, 21}, {36, 37}, {37, 37}} {
		var proof [][]byte
		if pair[0] != pair[1] {
			p, err := tlog.ProveTree(int64(pair[1]), int64(pair[0]), m)
			if err != nil {
				t.Fatal(err)
			}
			proof = HashesToBytes(p)
		}
		if err := VerifyConsistency(at(pair[0]), at(pair[1]), proof); err != nil {
			t.Errorf("%v: %v", pair, err)
		}
		if len(proof) > 0 {
			proof[0][0] ^= 1
			if err := VerifyConsistency(at(pair[0]), at(pair[1]), proof); !errors.Is(err, ErrInconsistent) {
				t.Errorf("%v with a bad proof: %v", pair, err)
			}
		}
	}
	// A forked log: same size 20, different records.
	fork := newMemLog(t, "acme", "hq", testKey(1))
	fork.appendRecords(t, "acme", 19)
	fork.appendEncoded(t, must(Encode(sampleRecord("acme", 1000))))
	forked, _ := VerifyCheckpoint(fork.checkpoint(t, 20), m.verifier(t))
	p, _ := tlog.ProveTree(37, 20, m)
	if err := VerifyConsistency(forked, at(37), HashesToBytes(p)); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("fork accepted: %v", err)
	}
	if err := VerifyConsistency(at(20), forked, nil); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("equal sizes, different roots accepted: %v", err)
	}
	if err := VerifyConsistency(at(30), at(20), nil); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("shrinking accepted: %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestRangeMatchesTlog(t *testing.T) {
	m := newMemLog(t, "acme", "hq", testKey(1))
	m.appendRecords(t, "acme", 70)
	for from := uint64(0); from <= 70; from += 7 {
		peaks, err := m.ReadHashes(PeakIndexes(from))
		if err != nil {
			t.Fatal(err)
		}
		r, err := NewRange(from, peaks)
		if err != nil {
			t.Fatal(err)
		}
		for i := from; i < 70; i++ {
			r.Append(LeafHash(m.records[i]))
			want, _ := tlog.TreeHash(int64(i+1), m)
			if r.Root() != want {
				t.Fatalf("from %d, size %d: root %v, tlog says %v", from, i+1, r.Root(), want)
			}
		}
	}
}
