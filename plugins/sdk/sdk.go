package sdk

import (
	"context"
	"encoding/json"
)

// APIVersion is the plugin API version this SDK speaks.
const APIVersion = 1

// Risk classifies what an operation can do to the systems it touches.
type Risk string

// The risk classes an Operation may declare.
const (
	RiskRead        Risk = "read"
	RiskWrite       Risk = "write"
	RiskDestructive Risk = "destructive"
)

// Valid reports whether r is one of the declared risk classes.
func (r Risk) Valid() bool {
	switch r {
	case RiskRead, RiskWrite, RiskDestructive:
		return true
	}
	return false
}

// Operation describes one action a plugin offers.
type Operation struct {
	Name         string          // fully qualified: "directory.unlock_account"
	Description  string          // written for the planning model
	ParamsSchema json.RawMessage // JSON Schema (draft 2020-12 subset) of the params object
	ResultSchema json.RawMessage // JSON Schema of Result.Output
	Risk         Risk
	Reversible   bool
	ReversedBy   string // operation that undoes it, "" if none
	VerifiedBy   string // operation that checks its effect, "" if none
	// VerifyExpect holds the top-level values VerifiedBy's Output must show
	// for the effect to count as done, e.g. {"locked": false} after an unlock.
	VerifyExpect map[string]any
}

// Info is what Describe returns.
type Info struct {
	Name        string // "directory"
	Version     string // "0.1.0"
	APIVersions []int
	Operations  []Operation
	// Credentials declares the keys the plugin reads from its credentials
	// section (names and descriptions, never values). nil: not declared;
	// &CredentialSpec{}: the plugin needs none. See CredentialSpec.
	Credentials *CredentialSpec
}

// GoalSecretPrefix prefixes, in a call's Credentials, a secret that an
// earlier action of the same goal returned in Result.Secrets: the runner
// hands "goal_secret.password" to the verification of a password reset.
// Only verification and goal-validation calls receive goal secrets.
const GoalSecretPrefix = "goal_secret."

// Credentials are handed per call, only for this action and target; plugins hold none.
type Credentials map[string]string

// Request is one call.
type Request struct {
	Operation   string
	Params      json.RawMessage // validated against ParamsSchema by the SDK before Execute runs
	Credentials Credentials
}

// Observation is one fact a call reports. Secret observations are never logged or shown to a model.
type Observation struct {
	Key    string
	Value  string
	Secret bool
}

// Result of a call. Secrets (e.g. a generated one-time password) travel ONLY in Secrets,
// never in Output or Observations; the host never logs them.
type Result struct {
	Output       json.RawMessage
	Secrets      map[string]string
	Observations []Observation
}

// Plugin is what a plugin binary implements. Execute returns an error for a failed
// action (the message is shown to supervisors; never include secrets).
//
// Describe must return the same Info on every call. Execute is called
// concurrently (up to the host's per-plugin limit) and must honour ctx: the
// host kills a plugin that outlives the call's deadline.
type Plugin interface {
	Describe(ctx context.Context) (Info, error)
	Execute(ctx context.Context, req Request) (Result, error)
}
