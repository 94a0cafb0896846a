package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/sitewarden/sitewarden/plugins/sdk"
	"github.com/sitewarden/sitewarden/policies"
	"github.com/sitewarden/sitewarden/runner/config"
	"github.com/sitewarden/sitewarden/runner/pluginhost"
)

// Pin states of a plugin binary against the scope's catalog.
const (
	pinPinned   = "pinned"
	pinNone     = "not_pinned"
	pinMismatch = "hash_mismatch"
	pinMissing  = "missing" // pinned, but no binary in the plugin directory
)

// Bounds on what plugins list keeps of a plugin's own output.
const (
	maxOutputLines = 8
	maxOutputLine  = 300
)

func newPluginsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "plugins", Short: "Inspect the site's action plugins"}
	cmd.AddCommand(newPluginsListCmd())
	return cmd
}

func newPluginsListCmd() *cobra.Command {
	var f fileFlags
	var noStart bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the plugin binaries, check them against the scope's pins and start each as the runner would",
		Long: `Lists every plugin binary in the plugin directory (plugin_dir) with its size
and SHA-256, and whether the site's scope pins it: pinned, NOT PINNED (the
runner never starts it), HASH MISMATCH (the binary differs from its pin; the
runner refuses it) or MISSING (pinned, but no binary). Unless --no-start,
each pinned plugin is then started through the runner's plugin host, with
the same pin check, sandbox and start timeout, to print its manifest
(version and actions); it is stopped again at once. For each plugin it also
names the credentials section the runner hands its actions (the plugin's
name in credentials_file) and the keys it holds, never their values, next
to the keys the plugin declares it needs (required or optional, with what
each is for): the runner refuses to start a plugin whose section lacks a
required key, and so does this check.

It reads the scope and plugins only and starts plugins in a temporary
working directory, so it is safe while the runner service runs. Exit status
1 when any plugin the scope pins cannot run (missing, hash mismatch, failed
to start, missing a required credential), or the scope or the credentials
file cannot be read; the other plugins are still listed.`,
		Example: "  sitewarden-runner plugins list\n  sitewarden-runner plugins list --no-start -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.loadConfig(cmd)
			if err != nil {
				return err
			}
			rep := checkPlugins(cmd.Context(), cfg, !noStart)
			w := cmd.OutOrStdout()
			if f.output == "json" {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				err = enc.Encode(rep)
			} else {
				err = rep.writeText(w)
			}
			if err != nil {
				return err
			}
			return rep.err()
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&noStart, "no-start", false, "do not start the plugins (no manifests): only list, hash and check pins")
	return cmd
}

// pluginsReport is what plugins list prints (-o json: this shape).
type pluginsReport struct {
	PluginDir        string         `json:"plugin_dir"`
	PluginDirError   string         `json:"plugin_dir_error,omitempty"`
	Scope            scopeRef       `json:"scope"`
	CredentialsFile  string         `json:"credentials_file"`
	CredentialsError string         `json:"credentials_error,omitempty"`
	Started          bool           `json:"started"`
	Plugins          []pluginReport `json:"plugins"`
	Failed           []string       `json:"failed"`
}

// scopeRef names the scope whose pins apply; Error says why there is none.
type scopeRef struct {
	Client  string `json:"client,omitempty"`
	Version uint64 `json:"version,omitempty"`
	Expired bool   `json:"expired,omitempty"`
	Pins    int    `json:"pins"`
	Error   string `json:"error,omitempty"`
}

type pluginReport struct {
	Name          string          `json:"name"`
	Path          string          `json:"path"`
	Size          int64           `json:"size"`
	SHA256        string          `json:"sha256,omitempty"`
	Pin           string          `json:"pin"`
	PinnedSHA256  string          `json:"pinned_sha256,omitempty"`
	PinnedVersion string          `json:"pinned_version,omitempty"`
	Manifest      *manifestView   `json:"manifest,omitempty"`
	Error         string          `json:"error,omitempty"`
	Output        []string        `json:"output,omitempty"`
	Notes         []string        `json:"notes,omitempty"`
	Credentials   credentialsView `json:"credentials"`
	Failed        bool            `json:"failed"`
}

type manifestView struct {
	Version     string       `json:"version"`
	APIVersions []int        `json:"api_versions"`
	Actions     []actionView `json:"actions"`
}

type actionView struct {
	Name string `json:"name"`
	Risk string `json:"risk"`
}

// credentialsView names a plugin's credentials section and its keys, and
// (once the plugin has started) the keys it declares it needs; the values
// are never read out.
type credentialsView struct {
	Section string   `json:"section"`
	Present bool     `json:"present"`
	Keys    []string `json:"keys"`
	// Declared: the plugin declares its keys (Needs); false for a plugin
	// built before declarations existed, or not started.
	Declared bool            `json:"declared"`
	Needs    []credentialKey `json:"needs,omitempty"`
	// Missing are the required keys the section lacks: the runner refuses
	// to start the plugin.
	Missing []string `json:"missing,omitempty"`
	// Unused are keys of the section the plugin does not declare.
	Unused []string `json:"unused,omitempty"`
	// Error is the runner's refusal for Missing, naming the file.
	Error string `json:"error,omitempty"`
}

// credentialKey is one key a plugin declares and whether the section has it.
type credentialKey struct {
	Name        string `json:"name"`
	Required    bool   `json:"required"`
	Description string `json:"description"`
	Has         bool   `json:"has"`
}

// credentialKeys adapts the site's credentials file to
// pluginhost.CredentialKeys: the names of a section's keys that hold a
// value, never the values.
type credentialKeys struct{ c *config.Credentials }

var _ pluginhost.CredentialKeys = credentialKeys{}

func (k credentialKeys) Keys(plugin string) []string {
	m, _ := k.c.For(context.Background(), plugin+".")
	out := []string{}
	for name, v := range m {
		if v != "" {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// checkPlugins builds the report: the binaries the runner's plugin host
// finds, their pins from the site's verified scope, and (start) each
// pinned plugin's manifest from a real start through pluginhost with the
// runner's configuration.
func checkPlugins(ctx context.Context, cfg config.Config, start bool) *pluginsReport {
	hcfg := pluginHostConfig(cfg)
	rep := &pluginsReport{PluginDir: hcfg.Dir, CredentialsFile: cfg.CredentialsFile, Started: start,
		Plugins: []pluginReport{}, Failed: []string{}}

	pins, catalog := map[string]string{}, map[string]policies.Plugin{}
	if ss, err := loadSiteScope(cfg); err != nil {
		rep.Scope.Error = err.Error()
	} else {
		rep.Scope = scopeRef{Client: ss.Client, Version: ss.Scope.Bundle().Version, Expired: ss.Expired}
		for _, p := range ss.Scope.Catalog() {
			pins[p.Name], catalog[p.Name] = p.SHA256, p
		}
		rep.Scope.Pins = len(pins)
	}

	creds, credsErr := config.LoadCredentials(cfg.CredentialsFile)
	if credsErr != nil {
		rep.CredentialsError = permissionHint(credsErr).Error()
	}

	// A private working directory: the running service's plugins keep
	// theirs (<state_dir>/plugins) to themselves.
	work, err := os.MkdirTemp("", "sitewarden-plugins-list-")
	if err != nil {
		rep.PluginDirError = fmt.Sprintf("create a temporary working directory: %v", err)
		return rep
	}
	defer os.RemoveAll(work)
	hcfg.WorkDir, hcfg.Pins = work, pins
	out := &pluginOutput{lines: map[string][]string{}}
	host, err := pluginhost.New(hcfg, slog.New(outputHandler{out: out}))
	if err != nil {
		rep.PluginDirError = err.Error()
		return rep
	}
	defer host.Close()
	names, err := host.Discover()
	if err != nil {
		rep.PluginDirError = dirHint(err, hcfg.Dir).Error()
	}

	specs := map[string]*sdk.CredentialSpec{} // declarations of the plugins that started
	for _, name := range names {
		p := pluginReport{Name: name, Path: filepath.Join(hcfg.Dir, binaryFile(name)), Pin: pinNone,
			PinnedSHA256: pins[name], PinnedVersion: catalog[name].Version}
		if fi, err := os.Stat(p.Path); err == nil {
			p.Size = fi.Size()
		}
		sum, err := pluginhost.FileSHA256(p.Path)
		switch {
		case err != nil:
			p.Error = permissionHint(fmt.Errorf("hash the binary: %w", err)).Error()
			p.Failed = p.PinnedSHA256 != ""
		case p.PinnedSHA256 == "":
		case sum == p.PinnedSHA256:
			p.Pin = pinPinned
		default:
			p.Pin, p.Failed = pinMismatch, true
		}
		p.SHA256 = sum
		if start && p.PinnedSHA256 != "" && p.Error == "" {
			if spec, ok := startPlugin(ctx, host, hcfg, &p, catalog[name].Actions); ok {
				specs[name] = spec
			}
			p.Output = out.take(name)
		}
		rep.Plugins = append(rep.Plugins, p)
	}
	for _, name := range sortedKeys(pins) {
		if slices.Contains(names, name) {
			continue
		}
		rep.Plugins = append(rep.Plugins, pluginReport{Name: name, Path: filepath.Join(hcfg.Dir, binaryFile(name)), Pin: pinMissing,
			PinnedSHA256: pins[name], PinnedVersion: catalog[name].Version, Failed: true,
			Error: "the scope pins this plugin but its binary is not in the plugin directory: install it (reinstall the runner package) or fix plugin_dir"})
	}
	for i := range rep.Plugins {
		p := &rep.Plugins[i]
		p.Credentials = credentialsView{Section: p.Name, Keys: []string{}}
		if creds != nil {
			c, _ := creds.For(ctx, p.Name+".")
			p.Credentials.Keys = sortedKeys(c)
			p.Credentials.Present = len(c) > 0
			if spec, ok := specs[p.Name]; ok {
				compareCredentials(p, spec, credentialKeys{creds}.Keys(p.Name), cfg.CredentialsFile)
			}
		}
		if p.Failed {
			rep.Failed = append(rep.Failed, p.Name)
		}
	}
	return rep
}

// startPlugin starts one pinned plugin through the host (pin check,
// sandbox, handshake, Describe, all bounded by the host's start timeout)
// and records its manifest or why it did not start. It returns the
// plugin's credential declaration (nil: none) and whether it started.
// The host here checks no credentials, so that the manifest shows even
// when keys are missing; compareCredentials applies the runner's check.
func startPlugin(ctx context.Context, host *pluginhost.Host, hcfg pluginhost.Config, p *pluginReport, pinnedActions []string) (*sdk.CredentialSpec, bool) {
	sctx, cancel := context.WithTimeout(ctx, hcfg.StartTimeout+hcfg.KillGrace)
	defer cancel()
	info, err := host.Describe(sctx, p.Name)
	if err != nil {
		p.Error, p.Failed = err.Error(), true
		return nil, false
	}
	m := &manifestView{Version: info.Version, APIVersions: info.APIVersions, Actions: []actionView{}}
	for _, op := range info.Operations {
		m.Actions = append(m.Actions, actionView{Name: op.Name, Risk: string(op.Risk)})
	}
	p.Manifest = m
	var absent []string
	for _, a := range pinnedActions {
		if !slices.ContainsFunc(info.Operations, func(op sdk.Operation) bool { return op.Name == a }) {
			absent = append(absent, a)
		}
	}
	if len(absent) > 0 {
		p.Notes = append(p.Notes, fmt.Sprintf("the scope's catalog lists actions this plugin does not offer: %s (they fail when used)", strings.Join(absent, ", ")))
	}
	if p.PinnedVersion != "" && p.PinnedVersion != info.Version {
		p.Notes = append(p.Notes, fmt.Sprintf("the catalog names version %s, the plugin reports %s (the SHA-256 pin is what counts)", p.PinnedVersion, info.Version))
	}
	return info.Credentials, true
}

// compareCredentials records what the plugin declares against the keys its
// section holds (have: names with a value), with the runner's own check.
func compareCredentials(p *pluginReport, spec *sdk.CredentialSpec, have []string, file string) {
	v := &p.Credentials
	if spec == nil {
		return
	}
	v.Declared = true
	for _, k := range spec.Keys {
		v.Needs = append(v.Needs, credentialKey{Name: k.Name, Required: k.Required, Description: k.Description, Has: slices.Contains(have, k.Name)})
	}
	for _, k := range v.Keys {
		if !spec.Declares(k) {
			v.Unused = append(v.Unused, k)
		}
	}
	if err := pluginhost.CheckCredentials(p.Name, spec, have, file); err != nil {
		for _, n := range v.Needs {
			if n.Required && !n.Has {
				v.Missing = append(v.Missing, n.Name)
			}
		}
		v.Error, p.Failed = err.Error(), true
	}
}

// err is ErrPluginsFailed, naming what failed, or nil.
func (r *pluginsReport) err() error {
	var why []string
	if r.PluginDirError != "" {
		why = append(why, "the plugin directory cannot be read")
	}
	if r.Scope.Error != "" {
		why = append(why, "no valid scope, so the runner trusts no plugin")
	}
	if r.CredentialsError != "" {
		why = append(why, "the credentials file cannot be read (the runner will not start)")
	}
	for _, p := range r.Plugins {
		if p.Failed {
			why = append(why, fmt.Sprintf("%s (%s)", p.Name, failureKind(p)))
		}
	}
	if len(why) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s; see the details above", ErrPluginsFailed, strings.Join(why, ", "))
}

func failureKind(p pluginReport) string {
	switch {
	case len(p.Credentials.Missing) == 1:
		return "missing credential " + p.Credentials.Missing[0]
	case len(p.Credentials.Missing) > 1:
		return "missing credentials " + strings.Join(p.Credentials.Missing, ", ")
	case p.Pin == pinMismatch:
		return "HASH MISMATCH"
	case p.Pin == pinMissing:
		return "MISSING"
	case p.SHA256 == "":
		return "unreadable"
	}
	return "failed to start"
}

// writeText prints the report for a person.
func (r *pluginsReport) writeText(w io.Writer) error {
	p := &printer{w: w}
	p.f("plugin dir   %s\n", r.PluginDir)
	if r.PluginDirError != "" {
		p.f("             ERROR: %s\n", r.PluginDirError)
	}
	switch {
	case r.Scope.Error != "":
		p.f("scope        NONE: the runner starts no plugin without a valid scope\n             %s\n", r.Scope.Error)
	case r.Scope.Expired:
		p.f("scope        client %s v%d, EXPIRED (its pins still apply; agents only escalate): %d plugins pinned\n", r.Scope.Client, r.Scope.Version, r.Scope.Pins)
	default:
		p.f("scope        client %s v%d: %d plugins pinned\n", r.Scope.Client, r.Scope.Version, r.Scope.Pins)
	}
	p.f("credentials  %s\n", r.CredentialsFile)
	if r.CredentialsError != "" {
		p.f("             ERROR: %s\n", r.CredentialsError)
	}
	if len(r.Plugins) == 0 {
		p.f("\nno plugin binaries (sitewarden-plugin-<name>%s) in %s\n", exeSuffix, r.PluginDir)
	}
	for _, pl := range r.Plugins {
		p.f("\n%s  %s\n", pl.Name, pinLabel(pl.Pin))
		if pl.Pin == pinMissing {
			p.f("  file         %s: missing\n", pl.Path)
		} else {
			p.f("  file         %s (%s)\n", pl.Path, fmtSize(pl.Size))
			p.f("  sha256       %s\n", orDash(pl.SHA256))
		}
		if pl.Pin == pinMismatch || pl.Pin == pinMissing {
			p.f("  pinned       %s\n", pl.PinnedSHA256)
		}
		switch {
		case pl.Manifest != nil:
			acts := make([]string, len(pl.Manifest.Actions))
			for i, a := range pl.Manifest.Actions {
				acts[i] = a.Name + " (" + a.Risk + ")"
			}
			p.f("  manifest     version %s (plugin API %s), %d actions\n", pl.Manifest.Version, joinInts(pl.Manifest.APIVersions), len(acts))
			for _, a := range acts {
				p.f("               %s\n", a)
			}
		case pl.Error != "" && pl.Failed:
			p.f("  ERROR        %s\n", indent(pl.Error))
		case pl.Error != "":
			p.f("  note         %s\n", indent(pl.Error))
		case pl.Pin == pinNone:
			p.f("  manifest     not started: the scope does not pin it, so the runner never starts it (add it to the scope's catalog to use it)\n")
		case !r.Started:
			p.f("  manifest     not started (--no-start)\n")
		}
		for _, line := range pl.Output {
			p.f("  output       %s\n", indent(line))
		}
		for _, n := range pl.Notes {
			p.f("  note         %s\n", n)
		}
		switch {
		case r.CredentialsError != "":
			p.f("  credentials  section %q: unknown (the file cannot be read)\n", pl.Credentials.Section)
		case pl.Credentials.Present:
			p.f("  credentials  section %q: keys %s (values not shown)\n", pl.Credentials.Section, strings.Join(pl.Credentials.Keys, ", "))
		default:
			p.f("  credentials  no section %q: its actions get none\n", pl.Credentials.Section)
		}
		writeNeeds(p, pl)
	}
	if len(r.Failed) > 0 {
		p.f("%d of %d plugins cannot run: %s\n", len(r.Failed), len(r.Plugins), strings.Join(r.Failed, ", "))
	}
	return p.err
}

// writeNeeds prints the keys a started plugin declares, needs vs has.
func writeNeeds(p *printer, pl pluginReport) {
	c := pl.Credentials
	switch {
	case pl.Manifest == nil:
		return
	case !c.Declared:
		p.f("  needs        not declared (a plugin built before declarations): a missing key shows only when an action fails\n")
		return
	case len(c.Needs) == 0:
		p.f("  needs        no credentials\n")
	}
	width := 0
	for _, k := range c.Needs {
		width = max(width, len(k.Name))
	}
	for i, k := range c.Needs {
		label := "             "
		if i == 0 {
			label = "  needs      "
		}
		kind, has := "optional", "-"
		if k.Required {
			kind = "required"
		}
		switch {
		case k.Has:
			has = "has"
		case k.Required:
			has = "MISSING"
		}
		p.f("%s  %-*s  %s  %-7s  %s\n", label, width, k.Name, kind, has, k.Description)
	}
	if len(c.Unused) > 0 {
		p.f("  note         the section holds keys the plugin does not declare (never read): %s\n", strings.Join(c.Unused, ", "))
	}
	if c.Error != "" {
		p.f("  ERROR        %s\n", indent(c.Error))
	}
}

// indent lines up the continuation lines of a multi-line value.
func indent(s string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n               ")
}

func pinLabel(pin string) string {
	switch pin {
	case pinPinned:
		return "pinned"
	case pinMismatch:
		return "HASH MISMATCH (the runner refuses it: reinstall the plugin or update the scope's catalog)"
	case pinMissing:
		return "MISSING (pinned by the scope, no binary)"
	}
	return "NOT PINNED"
}

// dirHint says what to do about an unreadable plugin directory.
func dirHint(err error, dir string) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w; set plugin_dir in the configuration to where the plugins are installed, or reinstall the runner package", err)
	}
	return permissionHint(fmt.Errorf("%s: %w", dir, err))
}

func binaryFile(name string) string { return "sitewarden-plugin-" + name + exeSuffix }

func fmtSize(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%d bytes", n)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}

// pluginOutput keeps the last lines each plugin wrote (its stderr and
// go-plugin's messages about it), bounded per plugin and per line.
type pluginOutput struct {
	mu    sync.Mutex
	lines map[string][]string
}

func (o *pluginOutput) add(plugin, line string) {
	if len(line) > maxOutputLine {
		line = line[:maxOutputLine] + "..."
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	l := append(o.lines[plugin], line)
	if len(l) > maxOutputLines {
		l = l[len(l)-maxOutputLines:]
	}
	o.lines[plugin] = l
}

// take returns and forgets what plugin wrote.
func (o *pluginOutput) take(plugin string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	l := o.lines[plugin]
	delete(o.lines, plugin)
	return l
}

// outputHandler is the plugin host's logger for plugins list: it keeps
// each plugin's output lines (and warnings about it) for the report
// instead of logging them.
type outputHandler struct {
	out    *pluginOutput
	plugin string
}

var _ slog.Handler = outputHandler{}

func (h outputHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h outputHandler) Handle(_ context.Context, r slog.Record) error {
	plugin, line := h.plugin, ""
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "plugin":
			plugin = a.Value.String()
		case "line":
			line = a.Value.String()
		}
		return true
	})
	switch {
	case plugin == "" || r.Message == "plugin started":
	case line != "":
		h.out.add(plugin, line)
	case r.Level >= slog.LevelWarn:
		h.out.add(plugin, r.Message)
	}
	return nil
}

func (h outputHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	for _, a := range attrs {
		if a.Key == "plugin" {
			h.plugin = a.Value.String()
		}
	}
	return h
}

func (h outputHandler) WithGroup(string) slog.Handler { return h }
