package policies

import (
	"encoding/json"
	"fmt"
)

// Config bounds what the compiler accepts and what one evaluation may cost.
type Config struct {
	// MaxCELCost bounds one condition's worst-case evaluation cost (CEL
	// cost units: roughly one per operation, list element visited or ten
	// string bytes compared), estimated at compile time on the largest
	// request Decide accepts (see MaxAttrElems). A condition that could cost
	// more does not compile, so no evaluation can stall the runner.
	MaxCELCost uint64
	// MaxExpressionBytes bounds the length of one `when` expression.
	MaxExpressionBytes int
	// MaxDocumentBytes bounds one scope file (and a bundle payload).
	MaxDocumentBytes int
	// MaxRules bounds the number of allow and deny rules in a scope.
	MaxRules int
	// ParamSchemas maps an action to its parameters' JSON Schema: playbook
	// and validation steps of these actions are checked against it when a
	// scope compiles (types, required and unknown parameters, bounds).
	// Steps of other actions are checked when the planner proposes them.
	// DefaultConfig sets the shipped plugins' schemas.
	ParamSchemas map[string]json.RawMessage
}

// DefaultConfig returns the limits the runner and the control plane use.
func DefaultConfig() Config {
	return Config{
		MaxCELCost:         20_000_000,
		MaxExpressionBytes: 4 << 10,
		MaxDocumentBytes:   1 << 20,
		MaxRules:           10_000,
		ParamSchemas:       ShippedParamSchemas(),
	}
}

// Validate reports a limit that is zero or out of range.
func (c Config) Validate() error {
	switch {
	case c.MaxCELCost == 0 || c.MaxCELCost > 100_000_000:
		return fmt.Errorf("%w: MaxCELCost %d, want 1..100000000", ErrInvalidConfig, c.MaxCELCost)
	case c.MaxExpressionBytes <= 0 || c.MaxExpressionBytes > 1<<20:
		return fmt.Errorf("%w: MaxExpressionBytes %d, want 1..1048576", ErrInvalidConfig, c.MaxExpressionBytes)
	case c.MaxDocumentBytes <= 0 || c.MaxDocumentBytes > 64<<20:
		return fmt.Errorf("%w: MaxDocumentBytes %d, want 1..67108864", ErrInvalidConfig, c.MaxDocumentBytes)
	case c.MaxRules <= 0 || c.MaxRules > 1_000_000:
		return fmt.Errorf("%w: MaxRules %d, want 1..1000000", ErrInvalidConfig, c.MaxRules)
	}
	return nil
}
