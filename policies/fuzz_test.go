package policies

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sitewarden/sitewarden/protocol"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

// addSeeds adds every file matching the globs as a seed.
func addSeeds(f *testing.F, globs ...string) {
	f.Helper()
	n := 0
	for _, g := range globs {
		files, err := filepath.Glob(g)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
			n++
		}
	}
	if n == 0 {
		f.Fatalf("no seeds in %v", globs)
	}
}

// FuzzCompile feeds arbitrary bytes to the YAML decoder, the checks and the
// CEL compiler. A scope that compiles must round-trip through its canonical
// bytes and decide without panicking.
func FuzzCompile(f *testing.F) {
	addSeeds(f, "testdata/*.yaml", "testdata/*.json", "packs/*.yaml")
	cfg := DefaultConfig()
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Compile(cfg, Source{Name: "fuzz.yaml", Data: data})
		if err != nil {
			return
		}
		back, err := DecodePayload(s.Canonical())
		if err != nil {
			t.Fatalf("canonical bytes do not compile: %v\n%s", err, s.Canonical())
		}
		if !bytes.Equal(back.Canonical(), s.Canonical()) {
			t.Fatalf("canonical bytes are not stable:\n%s\n---\n%s", s.Canonical(), back.Canonical())
		}
		for _, a := range s.Agents() {
			ag, _ := s.Agent(a)
			for _, wf := range ag.Workflows() {
				w, _ := ag.Workflow(wf)
				for _, act := range w.AllowedActions() {
					s.Decide(Request{Agent: a, Workflow: wf, Action: act,
						Target: map[string]any{"login": "x", "groups": []any{"a"}}, Goal: map[string]any{"user": "x"}, Now: testNow})
				}
				_, _ = s.Playbooks(wf, map[string]any{"user": "x"})
			}
		}
	})
}

// FuzzDecodeBundle feeds arbitrary bytes to the bundle decoder: protobuf
// envelope, then Verify. Inputs are also re-signed with the trusted key, so
// the fuzzer reaches the payload decoding a rogue or buggy control plane
// could send.
func FuzzDecodeBundle(f *testing.F) {
	addSeeds(f, "testdata/bundle/*.pb")
	key := testKey()
	f.Fuzz(func(t *testing.T, data []byte) {
		var b pb.ScopeBundle
		if err := proto.Unmarshal(data, &b); err != nil {
			return
		}
		c := protocol.BundleCheck{Key: key.Public().(ed25519.PublicKey), Client: b.GetClientId(), Now: issued.Add(time.Second)}
		_, _ = Verify(&b, c)
		if protocol.SignBundle(key, &b) != nil {
			return
		}
		c.Now = b.GetIssuedAt().AsTime().Add(time.Nanosecond)
		s, err := Verify(&b, c)
		if err != nil {
			return
		}
		if s.Client() != b.GetClientId() || s.Bundle().Version != b.GetVersion() {
			t.Fatalf("verified scope %s v%d from bundle %s v%d", s.Client(), s.Bundle().Version, b.GetClientId(), b.GetVersion())
		}
	})
}
