package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sitewarden/sitewarden/policies"
	"github.com/sitewarden/sitewarden/protocol"
	"github.com/sitewarden/sitewarden/runner/config"
	"github.com/sitewarden/sitewarden/runner/enroll"
	rsync "github.com/sitewarden/sitewarden/runner/sync"
)

// fileFlags are the flags of the read-only diagnostic commands: which
// configuration (and so which state directory) to look at, and the output
// format.
type fileFlags struct {
	runFlags
	output string
}

func (f *fileFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.config, "config", config.DefaultConfigFile(), "configuration file (missing: embedded defaults)")
	cmd.Flags().StringVar(&f.state, "state", "", "state directory (overrides state_dir)")
	cmd.Flags().StringVarP(&f.output, "output", "o", "text", "output format: text or json")
}

// loadConfig checks the output format and loads the configuration.
func (f *fileFlags) loadConfig(cmd *cobra.Command) (config.Config, error) {
	if f.output != "text" && f.output != "json" {
		return config.Config{}, usageError{fmt.Errorf("-o %q: use text or json", f.output)}
	}
	cfg, err := f.load(cmd)
	if err != nil {
		return cfg, usageError{err}
	}
	return cfg, nil
}

func newScopeCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "scope", Short: "Inspect the scope this site's agents work under"}
	cmd.AddCommand(newScopeShowCmd())
	return cmd
}

func newScopeShowCmd() *cobra.Command {
	var f fileFlags
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Verify the site's cached scope bundle as the runner does and print what it allows",
		Long: `Reads the scope bundle the runner fetched (<state_dir>/scope/scope.pb) and
verifies it exactly as the runner does: the control plane's signature with
the scope key enrolled with, the client of this site, the payload, and its
expiry. Then prints the client, version, issue and expiry times, each agent's
workflows (mode, budget, actions it may run), its allow and deny rules (the
targets they cover) and data scope, and the pinned plugins.

It only reads files, so it is safe while the runner service runs. Exit
status 1 when there is no bundle yet, or it fails verification, or it has
expired (it is still printed then).`,
		Example: "  sitewarden-runner scope show\n  sitewarden-runner scope show -o json --config /etc/sitewarden/config.yaml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.loadConfig(cmd)
			if err != nil {
				return err
			}
			ss, err := loadSiteScope(cfg)
			if err != nil {
				return fmt.Errorf("scope show: %w", err)
			}
			v, err := newScopeView(ss, time.Now())
			if err != nil {
				return fmt.Errorf("scope show: %w", err)
			}
			w := cmd.OutOrStdout()
			if f.output == "json" {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				err = enc.Encode(v)
			} else {
				err = v.writeText(w)
			}
			if err != nil {
				return err
			}
			return ss.expiredError()
		},
	}
	f.register(cmd)
	return cmd
}

// siteScope is the site's cached scope bundle, verified as the runner
// verifies it.
type siteScope struct {
	File    string
	Client  string // the client the site is enrolled for
	Site    string
	Scope   *policies.Scope
	Expired bool
}

// loadSiteScope reads <state_dir>/scope/scope.pb and verifies it exactly as
// the runner does when it starts (rsync.OpenScopeCache with the enrolled
// scope key and client: signature, client, payload), then judges its
// expiry as the runner's ScopeCache.Current does. It only reads files.
// Errors wrap ErrNoScope, a protocol ErrBundle* sentinel, or the
// enrollment's error, and say what to do next.
func loadSiteScope(cfg config.Config) (siteScope, error) {
	creds, err := enroll.Load(cfg.StateDir)
	if err != nil {
		return siteScope{}, permissionHint(err)
	}
	dir := filepath.Join(cfg.StateDir, "scope")
	ss := siteScope{File: filepath.Join(dir, "scope.pb"), Client: creds.Identity.Client, Site: creds.Identity.Site}
	if _, err := os.Stat(ss.File); errors.Is(err, fs.ErrNotExist) {
		return ss, fmt.Errorf("%w: %s does not exist, so the agents have no scope and only escalate. "+
			"Publish client %s's scope on the control plane ('sitewarden scope publish' or approve a proposal), then check that "+
			"the runner is running and connected ('sitewarden-runner status'; 'sitewarden runners show %s --client %s')",
			ErrNoScope, ss.File, ss.Client, ss.Site, ss.Client)
	} else if err != nil {
		return ss, permissionHint(fmt.Errorf("read the scope bundle: %w", err))
	}
	// The directory exists (it holds the file), so opening the cache
	// creates nothing.
	cache, err := rsync.OpenScopeCache(dir, creds.ScopeKey, creds.Identity.Client, nil)
	if err != nil {
		if errors.Is(err, protocol.ErrBundleSignature) {
			return ss, fmt.Errorf("the cached bundle fails verification and the runner will not start with it: %w "+
				"(if the control plane's scope-signing key changed, enroll the site again)", err)
		}
		if isBundleRefusal(err) {
			return ss, fmt.Errorf("the cached bundle fails verification and the runner will not start with it: %w", err)
		}
		return ss, permissionHint(err)
	}
	ss.Scope, ss.Expired = cache.Current()
	if ss.Scope == nil {
		return ss, fmt.Errorf("%w: %s holds no bundle; delete it and restart the runner to fetch one", ErrNoScope, ss.File)
	}
	return ss, nil
}

// expiredError is ErrScopeExpired, with what to do, when the bundle has
// expired, else nil.
func (ss siteScope) expiredError() error {
	if !ss.Expired {
		return nil
	}
	b := ss.Scope.Bundle()
	return fmt.Errorf("%w: v%d of client %s expired at %s, so the agents only escalate. The runner fetches a fresh bundle "+
		"when it syncs: check it is running and reaches the control plane ('sitewarden-runner status', its log), and that "+
		"client %s's scope is published", ErrScopeExpired, b.Version, ss.Client, fmtUTC(b.ExpiresAt), ss.Client)
}

func isBundleRefusal(err error) bool {
	for _, s := range []error{protocol.ErrBundleSignature, protocol.ErrBundleClient, protocol.ErrBundleExpired,
		protocol.ErrBundleRollback, protocol.ErrBundleMalformed, policies.ErrInvalidScope} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// permissionHint adds what to do to a permission error: the state
// directory belongs to the service account.
func permissionHint(err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("%w; the state directory belongs to the runner's service account: run this as root (Administrator on Windows)", err)
	}
	return err
}

// scopeView is what scope show prints (-o json: this shape).
type scopeView struct {
	File               string      `json:"file"`
	Client             string      `json:"client"`
	Site               string      `json:"site"`
	Version            uint64      `json:"version"`
	KeyID              string      `json:"key_id"`
	IssuedAt           time.Time   `json:"issued_at"`
	ExpiresAt          time.Time   `json:"expires_at"`
	Expired            bool        `json:"expired"`
	MaxOfflineValidity string      `json:"max_offline_validity"`
	Sites              []string    `json:"sites"`
	Agents             []agentView `json:"agents"`
	Plugins            []pinView   `json:"plugins"`

	now time.Time
}

type agentView struct {
	Name        string              `json:"name"`
	Description string              `json:"description,omitempty"`
	Workflows   []workflowView      `json:"workflows"`
	Allow       []policies.RuleDoc  `json:"allow"`
	Deny        []policies.RuleDoc  `json:"deny"`
	Data        map[string][]string `json:"data"`
}

type workflowView struct {
	Name           string     `json:"name"`
	Mode           string     `json:"mode"`
	Budget         budgetView `json:"budget"`
	AllowedActions []string   `json:"allowed_actions"`
}

type budgetView struct {
	MaxSteps    int    `json:"max_steps"`
	MaxActions  int    `json:"max_actions"`
	MaxWallTime string `json:"max_wall_time"`
}

type pinView struct {
	Name    string   `json:"name"`
	Version string   `json:"version"`
	SHA256  string   `json:"sha256"`
	Actions []string `json:"actions"`
}

// newScopeView describes a verified scope: the compiled scope's accessors
// for what the runner enforces (modes, budgets, the actions each workflow
// may run, data scope, pins) and its canonical document for the rules as
// written (ids, descriptions, conditions on targets).
func newScopeView(ss siteScope, now time.Time) (scopeView, error) {
	s := ss.Scope
	b := s.Bundle()
	var doc policies.Document
	if err := json.Unmarshal(s.Canonical(), &doc); err != nil {
		return scopeView{}, fmt.Errorf("decode the scope's canonical document: %w", err)
	}
	docs := map[string]policies.AgentDoc{}
	for _, a := range doc.Agents {
		docs[a.Name] = a
	}
	v := scopeView{File: ss.File, Client: s.Client(), Site: ss.Site, Version: b.Version, KeyID: b.KeyID,
		IssuedAt: b.IssuedAt.UTC(), ExpiresAt: b.ExpiresAt.UTC(), Expired: ss.Expired,
		MaxOfflineValidity: policies.FormatDuration(s.MaxOfflineValidity()), Sites: s.Sites(),
		Agents: []agentView{}, Plugins: []pinView{}, now: now}
	for _, name := range s.Agents() {
		a, _ := s.Agent(name)
		d := docs[name]
		av := agentView{Name: name, Description: d.Description, Allow: nonNil(d.Allow), Deny: nonNil(d.Deny), Data: a.DataScope()}
		for _, wname := range a.Workflows() {
			w, _ := a.Workflow(wname)
			bud := w.Budget()
			av.Workflows = append(av.Workflows, workflowView{Name: wname, Mode: string(w.Mode()),
				Budget:         budgetView{MaxSteps: bud.MaxSteps, MaxActions: bud.MaxActions, MaxWallTime: policies.FormatDuration(bud.MaxWallTime)},
				AllowedActions: w.AllowedActions()})
		}
		v.Agents = append(v.Agents, av)
	}
	for _, p := range s.Catalog() {
		v.Plugins = append(v.Plugins, pinView{Name: p.Name, Version: p.Version, SHA256: p.SHA256, Actions: p.Actions})
	}
	return v, nil
}

func nonNil(rs []policies.RuleDoc) []policies.RuleDoc {
	if rs == nil {
		return []policies.RuleDoc{}
	}
	return rs
}

// writeText prints the view for a person.
func (v scopeView) writeText(w io.Writer) error {
	p := &printer{w: w}
	p.f("scope of client %s, version %d (site %s)\n", v.Client, v.Version, v.Site)
	p.f("  bundle   %s: signature (key %s), client and payload verified\n", v.File, v.KeyID)
	p.f("  issued   %s\n", fmtUTC(v.IssuedAt))
	if v.Expired {
		p.f("  expires  %s: EXPIRED %s ago; the agents only escalate until a fresh bundle arrives\n", fmtUTC(v.ExpiresAt), roundAge(v.now.Sub(v.ExpiresAt)))
	} else {
		p.f("  expires  %s: valid offline until then (%s left; at most %s after issue)\n", fmtUTC(v.ExpiresAt), roundAge(v.ExpiresAt.Sub(v.now)), v.MaxOfflineValidity)
	}
	p.f("  sites    %s\n", strings.Join(v.Sites, ", "))
	p.f("\nagents (%d)\n", len(v.Agents))
	for _, a := range v.Agents {
		p.f("  %s", a.Name)
		if a.Description != "" {
			p.f(": %s", a.Description)
		}
		p.f("\n")
		for _, wf := range a.Workflows {
			p.f("    workflow %s: %s; budget %d steps, %d actions, %s\n", wf.Name, wf.Mode, wf.Budget.MaxSteps, wf.Budget.MaxActions, wf.Budget.MaxWallTime)
			p.f("      may run: %s\n", listOrNone(wf.AllowedActions))
		}
		for _, r := range a.Deny {
			p.f("    deny  %s\n", describeRuleDoc(r))
		}
		for _, r := range a.Allow {
			p.f("    allow %s\n", describeRuleDoc(r))
		}
		if len(a.Data) == 0 {
			p.f("    data: none (nothing the plugins return is passed to the model)\n")
		}
		for _, kind := range sortedKeys(a.Data) {
			p.f("    data %s: %s\n", kind, strings.Join(a.Data[kind], ", "))
		}
	}
	p.f("\npinned plugins (%d)\n", len(v.Plugins))
	for _, pl := range v.Plugins {
		p.f("  %-12s %-8s sha256 %s\n", pl.Name, pl.Version, pl.SHA256)
		p.f("  %-12s %-8s actions: %s\n", "", "", listOrNone(pl.Actions))
	}
	return p.err
}

// describeRuleDoc prints one rule: id and description, then the actions
// (and workflows) it covers, its condition on the target and goal, and
// whether it needs approval; continuation lines are indented to line up.
func describeRuleDoc(r policies.RuleDoc) string {
	const indent = "\n          "
	var b strings.Builder
	b.WriteString(r.ID)
	if r.Description != "" {
		fmt.Fprintf(&b, ": %s", r.Description)
	}
	fmt.Fprintf(&b, indent+"actions  %s", strings.Join(r.Actions, ", "))
	if len(r.Workflows) > 0 {
		fmt.Fprintf(&b, " (workflows %s only)", strings.Join(r.Workflows, ", "))
	}
	if r.When != "" {
		fmt.Fprintf(&b, indent+"when     %s", strings.Join(strings.Fields(r.When), " "))
	}
	if r.Approval != "" {
		fmt.Fprintf(&b, indent+"approval %s", r.Approval)
	}
	return b.String()
}

// printer writes formatted text and keeps the first error.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) f(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

func fmtUTC(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// roundAge prints a duration to the minute, with days.
func roundAge(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	d = d.Round(time.Minute)
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	h, m := d/time.Hour, (d%time.Hour)/time.Minute
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh %dm", days, h, m)
	case h > 0:
		return fmt.Sprintf("%dh %dm", h, m)
	}
	return fmt.Sprintf("%dm", m)
}

func listOrNone(xs []string) string {
	if len(xs) == 0 {
		return "none"
	}
	return strings.Join(xs, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
