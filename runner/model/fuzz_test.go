package model

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func seedDir(f *testing.F, dir string) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds in testdata/%s: %v", dir, err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzDecodeAnswer feeds arbitrary model output to the answer decoder and
// the step check: they must never panic, and whatever they accept as an
// action must name an offered tool with schema-valid, canonical params.
func FuzzDecodeAnswer(f *testing.F) {
	seedDir(f, "answers")
	tools, err := compileTools(testTools)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, content []byte) {
		a, err := decodeAnswer(content)
		if err != nil {
			return
		}
		step, pe := toStep(a, tools, 200)
		if pe != nil {
			if pe.Kind == "" {
				t.Fatalf("PlanError without kind: %v", pe)
			}
			return
		}
		if step.Kind != StepAction {
			return
		}
		tl, ok := tools[step.Action]
		if !ok {
			t.Fatalf("accepted unoffered action %q", step.Action)
		}
		v, err := decodeValue(step.Params)
		if err != nil {
			t.Fatalf("params %s do not decode: %v", step.Params, err)
		}
		if err := tl.params.validate(v); err != nil {
			t.Fatalf("accepted params %s that violate the schema: %v", step.Params, err)
		}
		again, _ := json.Marshal(v)
		if string(again) != string(step.Params) {
			t.Fatalf("params not canonical: %s vs %s", step.Params, again)
		}
	})
}

// FuzzSchema compiles arbitrary schemas and validates the schema document
// itself against them: no panic, and validation is deterministic.
func FuzzSchema(f *testing.F) {
	seedDir(f, "schemas")
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := compileSchema(raw)
		if err != nil {
			return
		}
		v, err := decodeValue(raw)
		if err != nil {
			t.Fatalf("compiled a schema that does not decode: %v", err)
		}
		e1, e2 := s.validate(v), s.validate(v)
		if (e1 == nil) != (e2 == nil) {
			t.Fatalf("validation not deterministic: %v vs %v", e1, e2)
		}
	})
}
