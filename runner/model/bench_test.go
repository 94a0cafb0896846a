package model

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/ollama/ollama/api"
)

func benchState() State {
	st := testState()
	st.Tools = testTools
	for i := range 6 {
		st.History = append(st.History, Attempt{
			Action:      "directory.unlock_account",
			Params:      json.RawMessage(`{"user":"dana"}`),
			Result:      ResultFailed,
			Observation: json.RawMessage(fmt.Sprintf(`{"locked":true,"attempt":%d,"dn":"cn=dana,ou=staff,dc=example,dc=test"}`, i)),
			Note:        "verification failed: account still locked",
		})
	}
	return st
}

// BenchmarkPlannerOverhead measures the Ollama planner's own work per step,
// without the model: building and hashing the request (prompt, tools,
// answer format, schema compilation) and checking a tool-call answer
// against the action's schema.
func BenchmarkPlannerOverhead(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Model = "bench"
	p, err := NewOllama(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	st := benchState()
	var resp api.ChatResponse
	if err := json.Unmarshal([]byte(okToolCall("directory.reset_password", `{"user":"dana","notify":true}`).body), &resp); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		req, err := p.prepare(st)
		if err != nil {
			b.Fatal(err)
		}
		step, pe := p.interpret(resp, req.tools, Meta{})
		if pe != nil || step.Kind != StepAction {
			b.Fatal(pe)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/step")
}

// BenchmarkPlaybookNext measures one playbook step.
func BenchmarkPlaybookNext(b *testing.B) {
	p, err := NewPlaybookPlanner([]Playbook{testPlaybook()})
	if err != nil {
		b.Fatal(err)
	}
	st := benchState()
	st.History = st.History[:1]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Next(b.Context(), st); err != nil {
			b.Fatal(err)
		}
	}
}
