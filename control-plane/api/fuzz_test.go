package api

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func seeds(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "requests", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds in testdata/requests: %v", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzDecodeGoalRequest checks the strict request decoder never panics and
// that what it accepts survives a re-encode and strict decode unchanged.
func FuzzDecodeGoalRequest(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		var a, b GoalRequest
		if decode(httptest.NewRequest("POST", "/", strings.NewReader(string(body))), &a) != nil {
			return
		}
		again, err := json.Marshal(a)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", a, err)
		}
		if err := decode(httptest.NewRequest("POST", "/", strings.NewReader(string(again))), &b); err != nil {
			t.Fatalf("re-encoded %s rejected: %v", again, err)
		}
		if !reflect.DeepEqual(a, b) && !(len(a.Subject) == 0 && len(b.Subject) == 0) {
			t.Fatalf("round trip changed %+v to %+v", a, b)
		}
	})
}

// FuzzDecodeUserPatch does the same for a body with optional pointers.
func FuzzDecodeUserPatch(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		var a, b UserPatch
		if decode(httptest.NewRequest("POST", "/", strings.NewReader(string(body))), &a) != nil {
			return
		}
		again, _ := json.Marshal(a)
		if err := decode(httptest.NewRequest("POST", "/", strings.NewReader(string(again))), &b); err != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("round trip of %s: %+v -> %+v, %v", body, a, b, err)
		}
	})
}

// FuzzPageToken checks page tokens never panic and never give a negative
// offset or a limit outside 1..MaxPage.
func FuzzPageToken(f *testing.F) {
	for _, s := range []string{"", "MTA", "!!", "LTE", "OTk5OTk5OTk5OTk5OTk5OTk5OTk5"} {
		f.Add(s, "10")
	}
	s := &Server{cfg: DefaultConfig()}
	f.Fuzz(func(t *testing.T, token, limit string) {
		r := httptest.NewRequest("GET", "/", nil)
		q := r.URL.Query()
		q.Set("page_token", token)
		q.Set("limit", limit)
		r.URL.RawQuery = q.Encode()
		off, lim, err := s.pageArgs(r)
		if err == nil && (off < 0 || lim < 1 || lim > s.cfg.MaxPage) {
			t.Fatalf("page_token %q limit %q gave offset %d limit %d", token, limit, off, lim)
		}
	})
}

func TestDecodeSeeds(t *testing.T) {
	for file, ok := range map[string]bool{"goal.json": true, "goal-unknown-field.json": false, "trailing.json": false} {
		b, err := os.ReadFile(filepath.Join("testdata", "requests", file))
		if err != nil {
			t.Fatal(err)
		}
		var g GoalRequest
		if err := decode(httptest.NewRequest("POST", "/", strings.NewReader(string(b))), &g); (err == nil) != ok {
			t.Errorf("%s: %v, want accepted=%v", file, err, ok)
		}
	}
}
