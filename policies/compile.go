package policies

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
)

var (
	nameRE      = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
	attrRE      = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,127}$`)
	actionRE    = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}\.[a-z][a-z0-9_]{0,62}$`)
	patternRE   = regexp.MustCompile(`^[a-z0-9_.*]{1,127}$`)
	sha256RE    = regexp.MustCompile(`^[0-9a-f]{64}$`)
	pluginRE    = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
	maxBudget   = Budget{MaxSteps: 1000, MaxActions: 1000, MaxWallTime: 24 * time.Hour}
	maxValidity = 90 * 24 * time.Hour
)

// The rule IDs Decide reports when no rule of the scope decided.
const (
	RuleDefaultDeny = "default-deny" // no allow rule covers the request
	RuleModeOff     = "mode-off"     // the workflow's mode is off
	RuleExpired     = "bundle-expired"
	RuleNoScope     = "no-scope" // an Engine with no scope loaded
)

// loc is where an element of the merged scope was written.
type loc struct {
	p    *parsedDoc
	path string
}

func (l loc) errf(format string, args ...any) error { return l.p.errAt(l.path, format, args...) }
func (l loc) String() string                        { return l.p.at(l.path) }
func (l loc) sub(s string) loc                      { return loc{l.p, l.path + s} }

type agentSrc struct {
	AgentDoc
	at loc
}

type pluginSrc struct {
	PluginDoc
	at loc
}

// merged is the union of a scope's documents, each element with its origin.
type merged struct {
	client     string
	clientAt   loc
	sites      map[string]bool
	offline    string
	offlineAt  loc
	catalog    map[string]*pluginSrc
	actions    map[string]string // action -> plugin
	agents     map[string]*agentSrc
	playbooks  map[string][]PlaybookDoc
	playAt     map[string]loc
	validation map[string]StepDoc
	valAt      map[string]loc
}

// Compile decodes and checks a scope's documents and compiles them into an
// immutable *Scope. Every problem is an ErrInvalidScope error naming file,
// line and what to change.
func Compile(cfg Config, srcs ...Source) (*Scope, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(srcs) == 0 {
		return nil, fmt.Errorf("%w: no scope documents given", ErrInvalidScope)
	}
	var docs []*parsedDoc
	for _, src := range srcs {
		d, err := decodeScopeSource(src, cfg.MaxDocumentBytes)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d...)
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("%w: %s: no documents; a scope starts with 'apiVersion: %s' and 'kind: %s'",
			ErrInvalidScope, srcs[0].Name, APIVersion, KindScope)
	}
	m, err := merge(docs)
	if err != nil {
		return nil, err
	}
	return build(cfg, m)
}

// CompileFiles reads the scope files (see ReadSources) and compiles them.
func CompileFiles(cfg Config, paths ...string) (*Scope, error) {
	srcs, err := ReadSources(paths...)
	if err != nil {
		return nil, err
	}
	return Compile(cfg, srcs...)
}

func merge(docs []*parsedDoc) (*merged, error) {
	m := &merged{
		sites: map[string]bool{}, catalog: map[string]*pluginSrc{}, actions: map[string]string{},
		agents: map[string]*agentSrc{}, playbooks: map[string][]PlaybookDoc{}, playAt: map[string]loc{},
		validation: map[string]StepDoc{}, valAt: map[string]loc{},
	}
	for _, p := range docs {
		d := &p.doc
		at := loc{p, "$"}
		switch {
		case d.Client == "":
			return nil, at.sub(".client").errf("client is required: the client this scope belongs to, e.g. client: acme")
		case !nameRE.MatchString(d.Client):
			return nil, at.sub(".client").errf("client %q: use lowercase letters, digits, '-' and '_' (at most 63)", d.Client)
		case m.client == "":
			m.client, m.clientAt = d.Client, at.sub(".client")
		case m.client != d.Client:
			return nil, at.sub(".client").errf("client %q, but %s says %q; one scope serves one client", d.Client, m.clientAt, m.client)
		}
		for i, s := range d.Sites {
			if !nameRE.MatchString(s) {
				return nil, at.sub(fmt.Sprintf(".sites[%d]", i)).errf("site %q: use lowercase letters, digits, '-' and '_'", s)
			}
			m.sites[s] = true
		}
		if d.MaxOfflineValidity != "" {
			if m.offline != "" && m.offline != d.MaxOfflineValidity {
				return nil, at.sub(".maxOfflineValidity").errf("maxOfflineValidity %s, but %s says %s; state it once",
					d.MaxOfflineValidity, m.offlineAt, m.offline)
			}
			m.offline, m.offlineAt = d.MaxOfflineValidity, at.sub(".maxOfflineValidity")
		}
		for i, pl := range d.Catalog {
			pat := at.sub(fmt.Sprintf(".catalog[%d]", i))
			if err := checkPlugin(pl, pat); err != nil {
				return nil, err
			}
			if prev, ok := m.catalog[pl.Name]; ok {
				if prev.Version != pl.Version || prev.SHA256 != pl.SHA256 {
					return nil, pat.errf("plugin %s %s (sha256 %.12s…) is also trusted as %s (sha256 %.12s…) at %s; trust one build",
						pl.Name, pl.Version, pl.SHA256, prev.Version, prev.SHA256, prev.at)
				}
				prev.Actions = append(prev.Actions, pl.Actions...)
			} else {
				cp := pl
				cp.Actions = slices.Clone(pl.Actions)
				m.catalog[pl.Name] = &pluginSrc{cp, pat}
			}
			for _, a := range pl.Actions {
				m.actions[a] = pl.Name
			}
		}
		for i, a := range d.Agents {
			aat := at.sub(fmt.Sprintf(".agents[%d]", i))
			if !nameRE.MatchString(a.Name) {
				return nil, aat.sub(".name").errf("agent name %q: use lowercase letters, digits, '-' and '_' (at most 63)", a.Name)
			}
			if prev, ok := m.agents[a.Name]; ok {
				return nil, aat.sub(".name").errf("duplicate agent %q (first defined at %s); merge the two definitions or rename one",
					a.Name, prev.at)
			}
			m.agents[a.Name] = &agentSrc{a, aat}
		}
		for _, wf := range sortedKeys(d.Playbooks) {
			pat := at.sub(".playbooks." + wf)
			if prev, ok := m.playAt[wf]; ok {
				return nil, pat.errf("duplicate playbook for workflow %q (first defined at %s)", wf, prev)
			}
			m.playbooks[wf], m.playAt[wf] = d.Playbooks[wf], pat
		}
		for _, wf := range sortedKeys(d.Validation) {
			vat := at.sub(".validation." + wf)
			if prev, ok := m.valAt[wf]; ok {
				return nil, vat.errf("duplicate validation for workflow %q (first defined at %s)", wf, prev)
			}
			m.validation[wf], m.valAt[wf] = d.Validation[wf], vat
		}
	}
	if m.offline == "" {
		return nil, m.clientAt.errf("maxOfflineValidity is required: how long a site may run on this scope without the control plane, e.g. maxOfflineValidity: 7d")
	}
	return m, nil
}

func checkPlugin(pl PluginDoc, at loc) error {
	switch {
	case !pluginRE.MatchString(pl.Name):
		return at.sub(".name").errf("plugin name %q: use lowercase letters, digits and '_'", pl.Name)
	case pl.Version == "":
		return at.sub(".version").errf("plugin %s: version is required", pl.Name)
	case !sha256RE.MatchString(pl.SHA256):
		return at.sub(".sha256").errf("plugin %s: sha256 must be 64 lowercase hex digits (sha256sum of the plugin binary)", pl.Name)
	case len(pl.Actions) == 0:
		return at.sub(".actions").errf("plugin %s declares no actions; list the actions the binary declares, e.g. %s.do_something", pl.Name, pl.Name)
	}
	for i, a := range pl.Actions {
		if !actionRE.MatchString(a) || !strings.HasPrefix(a, pl.Name+".") {
			return at.sub(fmt.Sprintf(".actions[%d]", i)).errf("action %q: write it as %s.ACTION (lowercase letters, digits, '_')", a, pl.Name)
		}
	}
	return nil
}

// ParseDuration parses a Go duration (90s, 10m, 1h30m) or a whole number of
// days (7d).
func ParseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err := strconv.ParseUint(n, 10, 16)
		if err != nil {
			return 0, fmt.Errorf("duration %q: want whole days such as 7d", s)
		}
		return time.Duration(d) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want e.g. 90s, 10m, 1h30m or 7d", s)
	}
	return d, nil
}

// FormatDuration is ParseDuration's inverse: whole days as Nd.
func FormatDuration(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func build(cfg Config, m *merged) (*Scope, error) {
	env, err := newCELEnv(cfg)
	if err != nil {
		return nil, err
	}
	s := &Scope{client: m.client, agents: map[string]*Agent{}, playbooks: map[string][]playbook{}, validation: map[string]step{}}
	s.sites = sortedKeys(m.sites)
	if s.maxOffline, err = ParseDuration(m.offline); err != nil {
		return nil, m.offlineAt.errf("maxOfflineValidity: %v", err)
	}
	if s.maxOffline < time.Minute || s.maxOffline > maxValidity {
		return nil, m.offlineAt.errf("maxOfflineValidity %s: want between 1m and %s", m.offline, FormatDuration(maxValidity))
	}
	allActions := sortedKeys(m.actions)
	for _, name := range sortedKeys(m.catalog) {
		pl := m.catalog[name]
		acts := slices.Compact(slices.Sorted(slices.Values(pl.Actions)))
		s.catalog = append(s.catalog, Plugin{Name: name, Version: pl.Version, SHA256: pl.SHA256, Actions: acts})
	}
	workflows := map[string]bool{}
	ruleIDs := map[string]loc{}
	var docAgents []AgentDoc
	for _, name := range sortedKeys(m.agents) {
		a, err := buildAgent(cfg, env, m.agents[name], allActions, ruleIDs)
		if err != nil {
			return nil, err
		}
		s.agents[name] = a
		for wf := range a.workflows {
			workflows[wf] = true
		}
		docAgents = append(docAgents, canonicalAgent(m.agents[name].AgentDoc))
	}
	s.rules = len(ruleIDs)
	if s.rules > cfg.MaxRules {
		return nil, m.clientAt.errf("%d rules, limit %d", s.rules, cfg.MaxRules)
	}
	senv, err := newStepEnv(cfg, m.actions)
	if err != nil {
		return nil, err
	}
	for wf, alts := range m.playbooks {
		at := m.playAt[wf]
		if !workflows[wf] {
			return nil, at.errf("playbook for workflow %q, which no agent handles; add it to an agent's workflows or remove the playbook", wf)
		}
		pbs, err := buildPlaybook(alts, at, senv)
		if err != nil {
			return nil, err
		}
		s.playbooks[wf] = pbs
	}
	for wf, st := range m.validation {
		at := m.valAt[wf]
		if !workflows[wf] {
			return nil, at.errf("validation for workflow %q, which no agent handles; add it to an agent's workflows or remove it", wf)
		}
		v, err := buildStep(st, at, senv)
		if err != nil {
			return nil, err
		}
		s.validation[wf] = v
	}
	s.doc = Document{
		APIVersion: APIVersion, Kind: KindScope, Client: s.client, Sites: s.sites,
		MaxOfflineValidity: FormatDuration(s.maxOffline), Agents: docAgents,
		Playbooks: m.playbooks, Validation: m.validation,
	}
	for _, p := range s.catalog {
		s.doc.Catalog = append(s.doc.Catalog, PluginDoc(p))
	}
	if len(s.doc.Playbooks) == 0 {
		s.doc.Playbooks = nil
	}
	if len(s.doc.Validation) == 0 {
		s.doc.Validation = nil
	}
	if s.canonical, err = json.MarshalIndent(s.doc, "", "  "); err != nil {
		return nil, fmt.Errorf("policies: canonical encoding: %w", err)
	}
	s.canonical = append(s.canonical, '\n')
	return s, nil
}

// canonicalAgent normalizes what has no meaning: wall-time spelling, data
// attribute order.
func canonicalAgent(a AgentDoc) AgentDoc {
	wfs := make(map[string]WorkflowDoc, len(a.Workflows))
	for k, w := range a.Workflows {
		if d, err := ParseDuration(w.Budget.MaxWallTime); err == nil {
			w.Budget.MaxWallTime = FormatDuration(d)
		}
		wfs[k] = w
	}
	a.Workflows = wfs
	if len(a.Data) > 0 {
		data := make(map[string][]string, len(a.Data))
		for k, v := range a.Data {
			data[k] = slices.Compact(slices.Sorted(slices.Values(v)))
		}
		a.Data = data
	}
	return a
}

func buildAgent(cfg Config, env *cel.Env, src *agentSrc, allActions []string, ruleIDs map[string]loc) (*Agent, error) {
	at := src.at
	a := &Agent{name: src.Name, workflows: map[string]*Workflow{}, data: map[string][]string{}}
	if len(src.Workflows) == 0 {
		return nil, at.sub(".workflows").errf("agent %s handles no workflows; add e.g. workflows: {account_unlock: {mode: shadow, budget: {...}}}", src.Name)
	}
	for _, wf := range sortedKeys(src.Workflows) {
		w, err := buildWorkflow(src.Name, wf, src.Workflows[wf], at.sub(".workflows."+wf))
		if err != nil {
			return nil, err
		}
		a.workflows[wf] = w
	}
	for _, kind := range sortedKeys(src.Data) {
		kat := at.sub(".data." + kind)
		if !nameRE.MatchString(kind) {
			return nil, kat.errf("data kind %q: use lowercase letters, digits, '-' and '_'", kind)
		}
		attrs := src.Data[kind]
		if len(attrs) == 0 {
			return nil, kat.errf("data kind %s lists no attributes; list them or remove the kind", kind)
		}
		for i, attr := range attrs {
			if !attrRE.MatchString(attr) {
				return nil, kat.sub(fmt.Sprintf("[%d]", i)).errf("attribute %q: use letters, digits, '_', '.', '-'", attr)
			}
		}
		a.data[kind] = slices.Compact(slices.Sorted(slices.Values(attrs)))
	}
	if len(src.Allow) == 0 {
		return nil, at.sub(".name").errf("agent %s has no allow rules, so it could do nothing; add an allow rule or remove the agent", src.Name)
	}
	for _, tier := range []struct {
		key   string
		rules []RuleDoc
	}{{"deny", src.Deny}, {"allow", src.Allow}} {
		for i, rd := range tier.rules {
			rat := at.sub(fmt.Sprintf(".%s[%d]", tier.key, i))
			if err := addRule(cfg, env, a, rd, tier.key == "deny", rat, allActions, ruleIDs); err != nil {
				return nil, err
			}
		}
	}
	for _, w := range a.workflows {
		for _, act := range sortedKeys(w.actions) {
			ar := w.actions[act]
			if len(ar.allow)+len(ar.approve) == 0 {
				continue
			}
			if slices.ContainsFunc(ar.deny, func(r *rule) bool { return r.prg == nil }) {
				continue
			}
			w.allowed = append(w.allowed, act)
		}
	}
	return a, nil
}

func buildWorkflow(agent, wf string, d WorkflowDoc, at loc) (*Workflow, error) {
	if !nameRE.MatchString(wf) {
		return nil, at.errf("workflow %q: use lowercase letters, digits, '-' and '_'", wf)
	}
	w := &Workflow{agent: agent, name: wf, mode: Mode(d.Mode), actions: map[string]*actionRules{}}
	if w.mode.rank() < 0 {
		return nil, at.sub(".mode").errf("mode %q: want off, shadow, approve or autonomous", d.Mode)
	}
	b := d.Budget
	if b.MaxSteps <= 0 || b.MaxSteps > maxBudget.MaxSteps {
		return nil, at.sub(".budget.maxSteps").errf("budget.maxSteps %d: want 1..%d", b.MaxSteps, maxBudget.MaxSteps)
	}
	if b.MaxActions <= 0 || b.MaxActions > maxBudget.MaxActions {
		return nil, at.sub(".budget.maxActions").errf("budget.maxActions %d: want 1..%d", b.MaxActions, maxBudget.MaxActions)
	}
	wall, err := ParseDuration(b.MaxWallTime)
	if err != nil || wall < time.Second || wall > maxBudget.MaxWallTime {
		return nil, at.sub(".budget.maxWallTime").errf("budget.maxWallTime %q: want a duration from 1s to 24h, e.g. 10m", b.MaxWallTime)
	}
	w.budget = Budget{MaxSteps: b.MaxSteps, MaxActions: b.MaxActions, MaxWallTime: wall}
	w.offReason = "workflow " + wf + " is off for agent " + agent + "; set its mode to shadow, approve or autonomous to let it run"
	return w, nil
}

func addRule(cfg Config, env *cel.Env, a *Agent, rd RuleDoc, deny bool, at loc, allActions []string, ids map[string]loc) error {
	if !nameRE.MatchString(rd.ID) {
		return at.sub(".id").errf("rule id %q: every rule needs an id of lowercase letters, digits, '-' and '_', reported in decisions", rd.ID)
	}
	if prev, ok := ids[rd.ID]; ok {
		return at.sub(".id").errf("duplicate rule id %q (first used at %s); rule ids are unique within a scope", rd.ID, prev)
	}
	ids[rd.ID] = at.sub(".id")
	if len(rd.Actions) == 0 {
		return at.errf("rule %s names no actions; add actions: [plugin.action] or a pattern such as plugin.*", rd.ID)
	}
	var acts []string
	for i, pat := range rd.Actions {
		var matched []string
		if patternRE.MatchString(pat) {
			matched = expandPattern(pat, allActions)
		}
		if len(matched) == 0 {
			return at.sub(fmt.Sprintf(".actions[%d]", i)).errf("rule %s: action %q is not declared by any trusted plugin in the catalog; declared: %s",
				rd.ID, pat, strings.Join(allActions, ", "))
		}
		acts = append(acts, matched...)
	}
	acts = slices.Compact(slices.Sorted(slices.Values(acts)))
	wfs := rd.Workflows
	if len(wfs) == 0 {
		wfs = sortedKeys(a.workflows)
	}
	for i, wf := range wfs {
		if _, ok := a.workflows[wf]; !ok {
			return at.sub(fmt.Sprintf(".workflows[%d]", i)).errf("rule %s: agent %s does not handle workflow %q; handled: %s",
				rd.ID, a.name, wf, strings.Join(sortedKeys(a.workflows), ", "))
		}
	}
	switch {
	case rd.Approval != "" && rd.Approval != "required":
		return at.sub(".approval").errf("rule %s: approval %q; the only value is 'required'", rd.ID, rd.Approval)
	case deny && rd.Approval != "":
		return at.sub(".approval").errf("rule %s: a deny rule cannot require approval; move it to allow", rd.ID)
	}
	r := &rule{id: rd.ID}
	if rd.When != "" {
		prg, err := compileCondition(env, cfg, rd.When)
		if err != nil {
			return at.sub(".when").errf("rule %s: condition does not compile: %s; variables: agent, workflow, action (string), target, goal (map), now (timestamp)",
				rd.ID, oneLine(err.Error()))
		}
		r.prg = prg
	}
	desc := ""
	if rd.Description != "" {
		desc = ": " + rd.Description
	}
	switch {
	case deny:
		r.reason = "denied by rule " + rd.ID + desc
	case rd.Approval == "required":
		r.reason = "rule " + rd.ID + " requires a supervisor's approval" + desc
	default:
		r.reason = "allowed by rule " + rd.ID + desc
		r.approveMode = "allowed by rule " + rd.ID + desc + "; mode approve requires a supervisor's approval"
	}
	for _, wf := range wfs {
		w := a.workflows[wf]
		for _, act := range acts {
			ar := w.actions[act]
			if ar == nil {
				ar = &actionRules{noMatch: "no allow rule's condition holds for " + act + " (agent " + a.name + ", workflow " + wf + ")"}
				w.actions[act] = ar
			}
			switch {
			case deny:
				ar.deny = append(ar.deny, r)
			case rd.Approval == "required":
				ar.approve = append(ar.approve, r)
			default:
				ar.allow = append(ar.allow, r)
			}
		}
	}
	return nil
}

// expandPattern returns the declared actions pat matches: an exact name, or
// a pattern where * stands for any run of characters (directory.*).
func expandPattern(pat string, all []string) []string {
	var out []string
	for _, a := range all {
		if matchPattern(pat, a) {
			out = append(out, a)
		}
	}
	return out
}

func matchPattern(pat, s string) bool {
	// Greedy glob with one backtrack point: O(len(pat)*len(s)) at worst.
	p, i, star, mark := 0, 0, -1, 0
	for i < len(s) {
		switch {
		case p < len(pat) && pat[p] == '*':
			star, mark = p, i
			p++
		case p < len(pat) && pat[p] == s[i]:
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pat) && pat[p] == '*' {
		p++
	}
	return p == len(pat)
}

func oneLine(s string) string {
	s = strings.TrimPrefix(s, "ERROR: <input>:")
	return strings.Join(strings.Fields(s), " ")
}
