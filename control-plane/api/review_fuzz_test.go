package api

import (
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/sitewarden/sitewarden/policies"
)

// FuzzProposalRequest checks that a proposal body, however malformed,
// never panics the decoder, the file checks or the scope compiler, that an
// accepted body survives a round trip, and that a scope that compiles
// differs from itself in nothing.
func FuzzProposalRequest(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		var a, b ProposalRequest
		if decode(httptest.NewRequest("POST", "/", strings.NewReader(string(body))), &a) != nil {
			return
		}
		again, err := json.Marshal(a)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", a, err)
		}
		if err := decode(httptest.NewRequest("POST", "/", strings.NewReader(string(again))), &b); err != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("round trip of %s: %+v -> %+v, %v", body, a, b, err)
		}
		if checkFiles(a.Files) != nil {
			return
		}
		sc, err := compileFiles(a.Files)
		if err != nil {
			return
		}
		if d := policies.Diff(sc, sc); len(d) != 0 {
			t.Fatalf("a scope differs from itself: %v", d)
		}
		if d := diffAgainst(nil, sc); len(d) != 1 || d[0].Mark != policies.Widens {
			t.Fatalf("a first version is not one WIDENS change: %v", d)
		}
	})
}

// FuzzGradeRequest does the same for a grade body.
func FuzzGradeRequest(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		var a, b GradeRequest
		if decode(httptest.NewRequest("POST", "/", strings.NewReader(string(body))), &a) != nil {
			return
		}
		again, _ := json.Marshal(a)
		if err := decode(httptest.NewRequest("POST", "/", strings.NewReader(string(again))), &b); err != nil || a != b {
			t.Fatalf("round trip of %s: %+v -> %+v, %v", body, a, b, err)
		}
	})
}
