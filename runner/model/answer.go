package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// answer is the model's structured answer (see answerFormat).
type answer struct {
	Name      string
	Arguments json.RawMessage
	Rationale string
}

// maxAnswerBytes bounds the answer decodeAnswer accepts.
const maxAnswerBytes = 64 << 10

// decodeAnswer parses the model's content as the structured answer: one
// JSON object with exactly the keys name (string), arguments (object) and
// rationale (string).
func decodeAnswer(content []byte) (answer, error) {
	if len(content) > maxAnswerBytes {
		return answer{}, fmt.Errorf("answer is %d bytes, more than %d", len(content), maxAnswerBytes)
	}
	v, err := decodeValue(content)
	if err != nil {
		return answer{}, fmt.Errorf("answer is not one JSON value: %w", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return answer{}, fmt.Errorf("answer is %s, want an object", kindOf(v))
	}
	var a answer
	for k, val := range m {
		switch k {
		case "name":
			s, ok := val.(string)
			if !ok {
				return answer{}, errors.New(`"name" is not a string`)
			}
			a.Name = s
		case "arguments":
			if _, ok := val.(map[string]any); !ok {
				return answer{}, fmt.Errorf(`"arguments" is %s, want an object`, kindOf(val))
			}
			b, err := json.Marshal(val)
			if err != nil {
				return answer{}, err
			}
			a.Arguments = b
		case "rationale":
			s, ok := val.(string)
			if !ok {
				return answer{}, errors.New(`"rationale" is not a string`)
			}
			a.Rationale = s
		default:
			return answer{}, fmt.Errorf("unexpected key %q in answer", k)
		}
	}
	if a.Name == "" {
		return answer{}, errors.New(`answer has no "name"`)
	}
	if a.Arguments == nil {
		return answer{}, errors.New(`answer has no "arguments"`)
	}
	return a, nil
}

// toStep checks an answer against the offered tools and turns it into a
// Step. Every failure is a *PlanError; the caller fills in its Meta.
func toStep(a answer, tools map[string]*compiledTool, maxRationale int) (Step, *PlanError) {
	if !utf8.ValidString(a.Rationale) {
		return Step{}, &PlanError{Kind: FailMalformed, Detail: "rationale is not valid UTF-8"}
	}
	if n := utf8.RuneCountInString(a.Rationale); n > maxRationale {
		return Step{}, &PlanError{Kind: FailSchema, Detail: fmt.Sprintf("rationale has %d characters, more than %d", n, maxRationale)}
	}
	switch a.Name {
	case nameDone, nameEscalate:
		kind := StepDone
		if a.Name == nameEscalate {
			kind = StepEscalate
		}
		return Step{Kind: kind, Rationale: a.Rationale}, nil
	}
	t, ok := tools[a.Name]
	if !ok {
		return Step{}, &PlanError{Kind: FailOutOfScope, Proposed: a.Name, Detail: "the action was not offered for this goal"}
	}
	v, err := decodeValue(a.Arguments)
	if err != nil {
		return Step{}, &PlanError{Kind: FailMalformed, Proposed: a.Name, Detail: "arguments: " + err.Error()}
	}
	if err := t.params.validate(v); err != nil {
		return Step{}, &PlanError{Kind: FailSchema, Proposed: a.Name, Detail: "arguments " + err.Error()}
	}
	params, err := json.Marshal(v)
	if err != nil {
		return Step{}, &PlanError{Kind: FailMalformed, Proposed: a.Name, Detail: err.Error()}
	}
	return Step{Kind: StepAction, Action: a.Name, Params: params, Rationale: a.Rationale}, nil
}
