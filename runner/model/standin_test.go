package model

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// standIn is a scripted stand-in for Ollama's HTTP API (POST /api/chat).
// It is not the real model on purpose: these tests need exact, repeatable
// answers (a given tool call, a given malformed body, done:false, a 503)
// that no model produces on demand, least of all the random-weight model
// the real-server test uses. The real server is exercised by
// TestRealOllama; this one pins the client's handling of each answer.
type standIn struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	script []reply
	bodies [][]byte
}

// reply is one scripted answer: an HTTP status (default 200), a body, and
// an optional delay before answering.
type reply struct {
	status int
	body   string
	delay  time.Duration
}

func newStandIn(t *testing.T, script ...reply) *standIn {
	t.Helper()
	s := &standIn{t: t, script: script}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *standIn) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/api/chat" {
		http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, `{"error":"read"}`, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.bodies = append(s.bodies, body)
	var rep reply
	if len(s.script) == 0 {
		rep = reply{status: http.StatusInternalServerError, body: `{"error":"stand-in script exhausted"}`}
	} else {
		rep, s.script = s.script[0], s.script[1:]
	}
	s.mu.Unlock()
	if rep.delay > 0 {
		select {
		case <-time.After(rep.delay):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if rep.status != 0 {
		w.WriteHeader(rep.status)
	}
	io.WriteString(w, rep.body)
}

// requests returns the chat requests received so far, decoded.
func (s *standIn) requests() []chatRequestSeen {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]chatRequestSeen, 0, len(s.bodies))
	for _, b := range s.bodies {
		var r chatRequestSeen
		if err := json.Unmarshal(b, &r); err != nil {
			s.t.Fatalf("stand-in got an undecodable request: %v\n%s", err, b)
		}
		r.raw = b
		out = append(out, r)
	}
	return out
}

// chatRequestSeen is the part of a chat request the tests inspect, decoded
// independently of the ollama api package.
type chatRequestSeen struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
	Stream    *bool           `json:"stream"`
	Format    json.RawMessage `json:"format"`
	KeepAlive json.RawMessage `json:"keep_alive"`
	Tools     []struct {
		Type     string `json:"type"`
		Function struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
		} `json:"function"`
	} `json:"tools"`
	Options map[string]any `json:"options"`
	raw     []byte
}

// chatAnswer renders a final, non-streamed /api/chat response.
func chatAnswer(content string, toolCalls string, done bool, doneReason string) string {
	m := map[string]any{
		"model":      "stand-in",
		"created_at": "2026-11-26T12:00:00Z",
		"message":    map[string]any{"role": "assistant", "content": content},
		"done":       done,
	}
	if toolCalls != "" {
		m["message"].(map[string]any)["tool_calls"] = json.RawMessage(toolCalls)
	}
	if doneReason != "" {
		m["done_reason"] = doneReason
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func okContent(content string) reply { return reply{body: chatAnswer(content, "", true, "stop")} }

func okToolCall(name, args string) reply {
	return reply{body: chatAnswer("", `[{"function":{"index":0,"name":"`+name+`","arguments":`+args+`}}]`, true, "stop")}
}
