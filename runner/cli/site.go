package cli

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/sitewarden/sitewarden/runner/agent"
	"github.com/sitewarden/sitewarden/runner/audit"
	"github.com/sitewarden/sitewarden/runner/config"
	"github.com/sitewarden/sitewarden/runner/enroll"
	"github.com/sitewarden/sitewarden/runner/goals"
	"github.com/sitewarden/sitewarden/runner/model"
	"github.com/sitewarden/sitewarden/runner/pluginhost"
	rsync "github.com/sitewarden/sitewarden/runner/sync"
)

// site is the runner's working half: the audit log, the plugin host, the
// agent and the goal worker, wired over the sync half's inbox, outbox and
// scope cache.
type site struct {
	log     *audit.Log
	host    *goals.ScopedHost
	worker  *goals.Worker
	witness *rsync.LogWitness
	model   *model.Ollama // nil: no model configured
}

// openSite wires the site. Close it when the runner stops.
func openSite(ctx context.Context, cfg config.Config, id enroll.Identity, in *rsync.DirInbox, out *rsync.DirOutbox,
	scope *rsync.ScopeCache, log *slog.Logger) (*site, error) {
	s := &site{}
	key, err := enroll.LoadOrCreateAuditKey(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	acfg := audit.DefaultConfig()
	acfg.Dir, acfg.Client, acfg.Site = filepath.Join(cfg.StateDir, "audit"), id.Client, id.Site
	if s.log, err = audit.Open(ctx, acfg, key, log); err != nil {
		return nil, fmt.Errorf("open the audit log: %w", err)
	}
	if s.witness, err = rsync.OpenLogWitness(s.log, filepath.Join(cfg.StateDir, "witness"), 1000); err != nil {
		s.Close()
		return nil, err
	}
	creds, err := config.LoadCredentials(cfg.CredentialsFile)
	if err != nil {
		s.Close()
		return nil, err
	}
	policy := goals.Policy{Source: scope}
	hcfg := pluginHostConfig(cfg)
	hcfg.Credentials, hcfg.CredentialsFile = credentialKeys{creds}, cfg.CredentialsFile
	s.host = goals.NewScopedHost(hcfg, policy, log)
	var planner model.Planner
	if cfg.ModelName != "" {
		mcfg := model.DefaultConfig()
		mcfg.Host, mcfg.Model = cfg.ModelHost, cfg.ModelName
		if s.model, err = model.NewOllama(mcfg, log); err != nil {
			s.Close()
			return nil, err
		}
		planner = s.model
	}
	approvals, err := agent.NewFileApprovals(filepath.Join(cfg.StateDir, "approvals"))
	if err != nil {
		s.Close()
		return nil, err
	}
	agcfg := agent.DefaultConfig()
	agcfg.Site = id.Site
	ag, err := agent.New(agcfg, agent.Deps{Policy: policy, Actions: agent.NewHostActions(s.host, policy), Audit: s.log,
		Credentials: creds, Approvals: approvals, Model: planner, Log: log})
	if err != nil {
		s.Close()
		return nil, err
	}
	wcfg := goals.DefaultConfig()
	wcfg.Dir, wcfg.Client, wcfg.Site = filepath.Join(cfg.StateDir, "goals"), id.Client, id.Site
	if s.worker, err = goals.New(wcfg, ag, in, out, log); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// pluginHostConfig is the plugin host's configuration for the runner
// configuration cfg, without pins (they come from the scope in use). The
// runner and 'plugins list' both start plugins with it.
func pluginHostConfig(cfg config.Config) pluginhost.Config {
	hcfg := pluginhost.DefaultConfig()
	if cfg.PluginDir != "" {
		hcfg.Dir = cfg.PluginDir
	}
	hcfg.WorkDir = filepath.Join(cfg.StateDir, "plugins")
	return hcfg
}

// Close stops the plugins and closes the audit log with a final checkpoint.
func (s *site) Close() {
	if s.host != nil {
		_ = s.host.Close()
	}
	if s.log != nil {
		_ = s.log.Close(context.Background())
	}
}
