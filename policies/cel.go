package policies

import (
	"fmt"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"
)

// The CEL variables a `when` condition may use.
const (
	VarAgent    = "agent"    // string: the agent's name
	VarWorkflow = "workflow" // string: the goal's workflow class
	VarAction   = "action"   // string: the action's full name, e.g. directory.unlock_account
	VarTarget   = "target"   // map(string, dyn): the target's attributes
	VarGoal     = "goal"     // map(string, dyn): the goal's attributes
	VarNow      = "now"      // timestamp: the request's time
)

// newCELEnv declares the environment every condition is checked against.
func newCELEnv(cfg Config) (*cel.Env, error) {
	env, err := cel.NewEnv(
		cel.Variable(VarAgent, cel.StringType),
		cel.Variable(VarWorkflow, cel.StringType),
		cel.Variable(VarAction, cel.StringType),
		cel.Variable(VarTarget, cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable(VarGoal, cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable(VarNow, cel.TimestampType),
		ext.Strings(),
		cel.Function("equalsIgnoreCase",
			cel.MemberOverload("string_equals_ignore_case_string", []*cel.Type{cel.StringType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(equalsIgnoreCase))),
		cel.ParserExpressionSizeLimit(cfg.MaxExpressionBytes),
		cel.ParserRecursionLimit(64),
	)
	if err != nil {
		return nil, fmt.Errorf("policies: CEL environment: %w", err)
	}
	return env, nil
}

// Input bounds. A condition's worst-case cost is estimated when it is
// compiled, assuming every list and map in the request holds at most
// MaxAttrElems entries and every string at most MaxAttrString bytes; Decide
// refuses (fails closed on) a request whose target or goal exceeds them, so
// no evaluation can cost more than Config.MaxCELCost.
const (
	MaxAttrElems  = 512
	MaxAttrString = 1024
	MaxAttrDepth  = 8
)

// equalsIgnoreCase is the CEL function a.equalsIgnoreCase(b): Unicode
// case-insensitive equality (strings.EqualFold), without the allocations of
// a.lowerAscii() == b.lowerAscii().
func equalsIgnoreCase(a, b ref.Val) ref.Val {
	x, ok1 := a.(types.String)
	y, ok2 := b.(types.String)
	if !ok1 || !ok2 {
		return types.NoSuchOverloadErr()
	}
	return types.Bool(strings.EqualFold(string(x), string(y)))
}

// compileCondition type-checks expr as a boolean, checks its worst-case
// cost and plans it. The error is the checker's message.
func compileCondition(env *cel.Env, cfg Config, expr string) (cel.Program, error) {
	if len(expr) > cfg.MaxExpressionBytes {
		return nil, fmt.Errorf("condition is %d bytes, limit %d; split it over several rules", len(expr), cfg.MaxExpressionBytes)
	}
	checked, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		return nil, iss.Err()
	}
	if !checked.OutputType().IsExactType(types.BoolType) {
		return nil, fmt.Errorf("condition has type %s, want bool; compare explicitly, e.g. target.enabled == true",
			checked.OutputType())
	}
	est, err := env.EstimateCost(checked, boundedSizes{})
	if err != nil {
		return nil, fmt.Errorf("estimate cost: %w", err)
	}
	if est.Max > cfg.MaxCELCost {
		return nil, fmt.Errorf("condition may cost up to %d units on the largest allowed request, limit %d; avoid nested loops over lists",
			est.Max, cfg.MaxCELCost)
	}
	return env.Program(checked, cel.EvalOptions(cel.OptOptimize))
}

// boundedSizes tells the cost estimator the request's input bounds.
type boundedSizes struct{}

func (boundedSizes) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	if n.ComputedSize() != nil {
		return nil
	}
	return &cost.SizeEstimate{Min: 0, Max: max(MaxAttrElems, MaxAttrString)}
}

func (boundedSizes) EstimateCallCost(string, string, *cost.AstNode, []cost.AstNode) *cost.CallEstimate {
	return nil
}

// activation resolves the CEL variables from a request without copying it.
// One activation serves every condition of one decision.
type activation struct {
	r            Request
	target, goal any
}

var _ interpreter.Activation = (*activation)(nil)

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case VarAgent:
		return types.String(a.r.Agent), true
	case VarWorkflow:
		return types.String(a.r.Workflow), true
	case VarAction:
		return types.String(a.r.Action), true
	case VarTarget:
		if a.target == nil {
			a.target = attrsVal(VarTarget, a.r.Target)
		}
		return a.target, true
	case VarGoal:
		if a.goal == nil {
			a.goal = attrsVal(VarGoal, a.r.Goal)
		}
		return a.goal, true
	case VarNow:
		return types.Timestamp{Time: a.r.Now}, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

func attrsVal(name string, m map[string]any) any {
	if err := checkBounds(m, 0); err != nil {
		return types.NewErr("%s attributes: %v", name, err)
	}
	if m == nil {
		return map[string]any{}
	}
	// The interpreter qualifies native maps directly: no wrapper to allocate.
	return m
}

// checkBounds reports a value outside the input bounds, or of a type a
// condition cannot see.
func checkBounds(v any, depth int) error {
	if depth > MaxAttrDepth {
		return fmt.Errorf("nested deeper than %d", MaxAttrDepth)
	}
	switch x := v.(type) {
	case nil, bool, int, int64, uint64, float64, time.Time, time.Duration:
		return nil
	case string:
		if len(x) > MaxAttrString {
			return fmt.Errorf("a string of %d bytes exceeds %d", len(x), MaxAttrString)
		}
	case []string:
		if len(x) > MaxAttrElems {
			return fmt.Errorf("a list of %d exceeds %d entries", len(x), MaxAttrElems)
		}
		for _, e := range x {
			if len(e) > MaxAttrString {
				return fmt.Errorf("a string of %d bytes exceeds %d", len(e), MaxAttrString)
			}
		}
	case []any:
		if len(x) > MaxAttrElems {
			return fmt.Errorf("a list of %d exceeds %d entries", len(x), MaxAttrElems)
		}
		for _, e := range x {
			if err := checkBounds(e, depth+1); err != nil {
				return err
			}
		}
	case map[string]any:
		if len(x) > MaxAttrElems {
			return fmt.Errorf("a map of %d exceeds %d entries", len(x), MaxAttrElems)
		}
		for k, e := range x {
			if len(k) > MaxAttrString {
				return fmt.Errorf("a key of %d bytes exceeds %d", len(k), MaxAttrString)
			}
			if err := checkBounds(e, depth+1); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("unsupported value type %T", v)
	}
	return nil
}

// evalBool runs prg; ok reports whether the condition holds, err why it
// could not be evaluated (missing attribute, wrong type, input too large).
func evalBool(prg cel.Program, act *activation) (ok bool, err error) {
	out, _, err := prg.Eval(act)
	if err != nil {
		return false, err
	}
	b, isBool := out.(types.Bool)
	if !isBool {
		return false, fmt.Errorf("condition returned %s, not a bool", out.Type())
	}
	return bool(b), nil
}

// nowOr returns t, or the current time when t is zero.
func nowOr(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}
