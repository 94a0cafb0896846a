package policies

import (
	"maps"
	"slices"
	"time"

	"cel.dev/cel-go/cel"
)

// Mode is how far an agent may go in one workflow.
type Mode string

// Modes, from least to most trusted.
const (
	// ModeOff: the agent does not run this workflow; Decide denies.
	ModeOff Mode = "off"
	// ModeShadow: plan and decide, never act; the plan goes to a human.
	ModeShadow Mode = "shadow"
	// ModeApprove: act only after a supervisor approves the action; Decide
	// turns allow into needs_approval.
	ModeApprove Mode = "approve"
	// ModeAutonomous: act on allow.
	ModeAutonomous Mode = "autonomous"
)

func (m Mode) rank() int {
	switch m {
	case ModeOff:
		return 0
	case ModeShadow:
		return 1
	case ModeApprove:
		return 2
	case ModeAutonomous:
		return 3
	}
	return -1
}

// Budget bounds one goal of a workflow.
type Budget struct {
	MaxSteps    int           // plan/act/validate rounds
	MaxActions  int           // actions run (attempted)
	MaxWallTime time.Duration // from intake to outcome or escalation
}

// Plugin is one trusted plugin of the catalog. The plugin host refuses a
// binary whose SHA-256 differs.
type Plugin struct {
	Name    string
	Version string
	SHA256  string   // lowercase hex
	Actions []string // full action names, sorted
}

// BundleInfo describes the signed bundle a scope came from; it is zero for a
// scope compiled from files.
type BundleInfo struct {
	Version   uint64
	IssuedAt  time.Time
	ExpiresAt time.Time
	KeyID     string
}

// Scope is a compiled, immutable scope: safe for concurrent use.
type Scope struct {
	client     string
	sites      []string
	maxOffline time.Duration
	catalog    []Plugin
	agents     map[string]*Agent
	playbooks  map[string][]playbook
	validation map[string]step
	doc        Document // canonical form
	canonical  []byte
	rules      int
	bundle     BundleInfo
}

// Agent is one compiled agent.
type Agent struct {
	name      string
	workflows map[string]*Workflow
	data      map[string][]string
}

// Workflow is one agent's compiled rules for one workflow class.
type Workflow struct {
	agent, name string
	mode        Mode
	budget      Budget
	actions     map[string]*actionRules
	allowed     []string
	offReason   string
}

// actionRules are the rules that apply to one action, by tier.
type actionRules struct {
	deny, approve, allow []*rule
	noMatch              string // reason when no allow rule matches
}

// rule is one compiled allow or deny rule.
type rule struct {
	id          string
	prg         cel.Program // nil: no condition
	reason      string      // why this rule decided
	approveMode string      // reason when an allow is turned into needs_approval by mode approve
}

// Client returns the client this scope belongs to.
func (s *Scope) Client() string { return s.client }

// Sites returns the client's sites, sorted.
func (s *Scope) Sites() []string { return slices.Clone(s.sites) }

// MaxOfflineValidity is how long a bundle of this scope stays valid after it
// is issued: a site offline longer than this only escalates.
func (s *Scope) MaxOfflineValidity() time.Duration { return s.maxOffline }

// Catalog returns the trusted plugins, sorted by name (a deep copy).
func (s *Scope) Catalog() []Plugin {
	out := make([]Plugin, len(s.catalog))
	for i, p := range s.catalog {
		p.Actions = slices.Clone(p.Actions)
		out[i] = p
	}
	return out
}

// Plugin returns the catalog entry named name.
func (s *Scope) Plugin(name string) (Plugin, bool) {
	for _, p := range s.catalog {
		if p.Name == name {
			p.Actions = slices.Clone(p.Actions)
			return p, true
		}
	}
	return Plugin{}, false
}

// Agents returns the agents' names, sorted.
func (s *Scope) Agents() []string { return slices.Sorted(maps.Keys(s.agents)) }

// Agent returns the agent named name.
func (s *Scope) Agent(name string) (*Agent, bool) {
	a, ok := s.agents[name]
	return a, ok
}

// Workflow returns agent's rules for a workflow class.
func (s *Scope) Workflow(agent, workflow string) (*Workflow, bool) {
	a, ok := s.agents[agent]
	if !ok {
		return nil, false
	}
	return a.Workflow(workflow)
}

// Bundle describes the signed bundle this scope was verified from (zero
// when compiled from files).
func (s *Scope) Bundle() BundleInfo { return s.bundle }

// Canonical returns the scope's canonical bytes: the bundle payload. Equal
// documents give equal bytes whatever their file split, order or layout.
func (s *Scope) Canonical() []byte { return slices.Clone(s.canonical) }

// Rules returns the number of allow and deny rules.
func (s *Scope) Rules() int { return s.rules }

// Name returns the agent's name.
func (a *Agent) Name() string { return a.name }

// Workflows returns the workflow classes the agent handles, sorted.
func (a *Agent) Workflows() []string { return slices.Sorted(maps.Keys(a.workflows)) }

// Workflow returns the agent's rules for one workflow class.
func (a *Agent) Workflow(name string) (*Workflow, bool) {
	w, ok := a.workflows[name]
	return w, ok
}

// DataScope returns, per data kind (e.g. user), the attributes the agent may
// read and pass to the model (a copy; attributes sorted).
func (a *Agent) DataScope() map[string][]string {
	out := make(map[string][]string, len(a.data))
	for k, v := range a.data {
		out[k] = slices.Clone(v)
	}
	return out
}

// MayRead reports whether the agent may read attribute attr of data kind.
func (a *Agent) MayRead(kind, attr string) bool {
	_, ok := slices.BinarySearch(a.data[kind], attr)
	return ok
}

// Agent returns the agent's name.
func (w *Workflow) Agent() string { return w.agent }

// Name returns the workflow class.
func (w *Workflow) Name() string { return w.name }

// Mode returns the agent's mode in this workflow.
func (w *Workflow) Mode() Mode { return w.mode }

// Budget returns the budget of one goal of this workflow.
func (w *Workflow) Budget() Budget { return w.budget }

// AllowedActions returns the actions some allow rule covers in this
// workflow, minus those an unconditional deny rule forbids: the tools to
// offer the model. Each is still decided by Decide before it runs. Sorted.
func (w *Workflow) AllowedActions() []string { return slices.Clone(w.allowed) }
