package audit

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// memLog is an in-memory transparency log built with tlog, the reference
// the tests compare this package's verifier against.
type memLog struct {
	origin  string
	signer  note.Signer
	vkey    string
	records [][]byte
	hashes  []tlog.Hash
}

func (m *memLog) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x >= int64(len(m.hashes)) {
			return nil, fmt.Errorf("hash %d not stored", x)
		}
		out[i] = m.hashes[x]
	}
	return out, nil
}

// testKey derives a deterministic key from seed so golden data is stable.
func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func newMemLog(t testing.TB, client, site string, key ed25519.PrivateKey) *memLog {
	t.Helper()
	origin, err := Origin(client, site)
	if err != nil {
		t.Fatal(err)
	}
	s, vkey, err := NewSigner(origin, key)
	if err != nil {
		t.Fatal(err)
	}
	return &memLog{origin: origin, signer: s, vkey: vkey}
}

func sampleRecord(client string, i int) Record {
	kinds := []Kind{KindGoalReceived, KindPlanStep, KindPolicyDecision, KindActionStart, KindActionResult, KindValidation}
	return Record{
		Kind:    kinds[i%len(kinds)],
		Time:    time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond),
		Client:  client,
		Site:    "hq",
		Agent:   "account-helper",
		GoalID:  fmt.Sprintf("g-%d", i/6),
		Actor:   "agent",
		Payload: fmt.Appendf(nil, `{"step":%d,"action":"directory.unlock_account","target":"dana"}`, i),
	}
}

func (m *memLog) appendRecords(t testing.TB, client string, n int) {
	t.Helper()
	for range n {
		enc, err := Encode(sampleRecord(client, len(m.records)))
		if err != nil {
			t.Fatal(err)
		}
		m.appendEncoded(t, enc)
	}
}

func (m *memLog) appendEncoded(t testing.TB, enc []byte) {
	t.Helper()
	hs, err := tlog.StoredHashes(int64(len(m.records)), enc, m)
	if err != nil {
		t.Fatal(err)
	}
	m.records = append(m.records, enc)
	m.hashes = append(m.hashes, hs...)
}

func (m *memLog) checkpoint(t testing.TB, size uint64) []byte {
	t.Helper()
	h, err := tlog.TreeHash(int64(size), m)
	if err != nil {
		t.Fatal(err)
	}
	n, err := SignCheckpoint(Checkpoint{Origin: m.origin, Size: size, Hash: h}, m.signer)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// export writes records [from, to) with checkpoints at the given sizes
// (each in (from, to], plus optionally one beyond to as the last).
func (m *memLog) export(t testing.TB, client string, from, to uint64, sizes ...uint64) []byte {
	t.Helper()
	var buf bytes.Buffer
	peaks, err := m.ReadHashes(PeakIndexes(from))
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(&buf, ExportHeader{Origin: m.origin, Client: client, Key: m.vkey, First: from,
		Count: to - from, Created: time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC), Peaks: peaks})
	if err != nil {
		t.Fatal(err)
	}
	for _, sz := range sizes {
		var proof []tlog.Hash
		if sz > to {
			proof, err = tlog.ProveTree(int64(sz), int64(to), m)
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := w.WriteCheckpoint(ExportCheckpoint{Note: m.checkpoint(t, sz), Proof: proof}); err != nil {
			t.Fatal(err)
		}
	}
	for i := from; i < to; i++ {
		if err := w.WriteRecord(i, m.records[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func (m *memLog) verifier(t testing.TB) note.Verifier {
	t.Helper()
	v, err := VerifierKey(m.vkey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
