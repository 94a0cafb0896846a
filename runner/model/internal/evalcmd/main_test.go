package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHostURL(t *testing.T) {
	for in, want := range map[string]string{
		"":                       "http://127.0.0.1:11434",
		"127.0.0.1:18000":        "http://127.0.0.1:18000",
		"http://localhost:11434": "http://localhost:11434",
		"https://ollama.site":    "https://ollama.site",
	} {
		if got := hostURL(in); got != want {
			t.Errorf("hostURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRunPlaybookBaseline(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(t.Context(), []string{"-corpus", "../../eval/corpus", "-playbook"}, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	for _, want := range []string{"planner: playbook", "resolution rate:          1.00", "mean steps per goal:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunNoModel(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"models":[]}`))
	}))
	defer srv.Close()
	t.Setenv("OLLAMA_HOST", srv.URL)
	t.Setenv("EVAL_MODEL", "")
	err := run(context.Background(), []string{"-corpus", "../../eval/corpus"}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "has no model") {
		t.Fatalf("err = %v, want a 'has no model' error", err)
	}
}
