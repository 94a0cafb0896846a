package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/sitewarden/sitewarden/protocol"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
	"github.com/sitewarden/sitewarden/runner/config"
	"github.com/sitewarden/sitewarden/runner/enroll"
	"github.com/sitewarden/sitewarden/runner/service"
	rsync "github.com/sitewarden/sitewarden/runner/sync"
)

// runFlags are the flags that override the configuration file.
type runFlags struct {
	config       string
	state        string
	controlPlane string
	logLevel     string
}

func (f *runFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.config, "config", config.DefaultConfigFile(), "configuration file (missing: embedded defaults)")
	cmd.Flags().StringVar(&f.state, "state", "", "state directory (overrides state_dir)")
	cmd.Flags().StringVar(&f.controlPlane, "control-plane", "", "control plane host:port (overrides control_plane and the enrolled address)")
	cmd.Flags().StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error (overrides log_level)")
}

// load reads the configuration and applies the flags; the default file may
// be missing, a named one may not.
func (f *runFlags) load(cmd *cobra.Command) (config.Config, error) {
	cfg, err := config.Load(f.config, !cmd.Flags().Changed("config"))
	if err != nil {
		return cfg, err
	}
	if f.state != "" {
		cfg.StateDir = f.state
	}
	if f.controlPlane != "" {
		cfg.ControlPlane = f.controlPlane
	}
	if f.logLevel != "" {
		cfg.LogLevel = f.logLevel
	}
	return cfg, cfg.Validate()
}

func level(s string) slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(s))
	return l
}

func newRunCmd(stderr io.Writer) *cobra.Command {
	var runFor time.Duration
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the runner in the foreground (or under the service manager) until stopped",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load(cmd)
			if err != nil {
				return usageError{err}
			}
			if !service.Interactive() {
				return runAsService(cfg, f.config, stderr)
			}
			log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level(cfg.LogLevel)}))
			ctx := cmd.Context()
			if runFor > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, runFor)
				defer cancel()
			}
			return runRunner(ctx, cfg, log)
		},
	}
	cmd.Flags().DurationVar(&runFor, "for", 0, "stop after this long (0: until interrupted)")
	f.register(cmd)
	return cmd
}

// runAsService hands the loop to the service manager, which calls Start
// and Stop.
func runAsService(cfg config.Config, configFile string, stderr io.Writer) error {
	scfg := service.DefaultConfig(configFile)
	scfg.StopTimeout = cfg.StopTimeout
	var log *slog.Logger
	prog, err := service.NewProgram(scfg, func(ctx context.Context) error { return runRunner(ctx, cfg, log) }, slog.New(slog.NewJSONHandler(stderr, nil)))
	if err != nil {
		return err
	}
	svc, err := service.New(scfg, prog)
	if err != nil {
		return err
	}
	log = service.NewLogger(svc, stderr, level(cfg.LogLevel))
	return svc.Run()
}

// runRunner is the runner's main loop: enroll from the installer's token
// when needed, then keep synced with the control plane until ctx ends, and
// drain within cfg.StopTimeout.
func runRunner(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	start := time.Now()
	host, _ := os.Hostname()
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("state directory %s: %w; the service account must own it", cfg.StateDir, err)
	}
	creds, err := loadOrEnroll(ctx, cfg, log)
	if errors.Is(err, enroll.ErrNotEnrolled) {
		log.Info("runner ready", "version", Version, "protocol", protocol.Version, "host", host, "enrolled", false,
			"start_ms", time.Since(start).Milliseconds())
		log.Error("runner is not enrolled: nothing to sync", "err", err.Error())
		<-ctx.Done()
		log.Info("runner stopped")
		return nil
	}
	if err != nil {
		return err
	}
	outbox, err := rsync.OpenDirOutbox(filepath.Join(cfg.StateDir, "outbox"), cfg.OutboxLimit)
	if err != nil {
		return err
	}
	inbox, err := rsync.OpenDirInbox(filepath.Join(cfg.StateDir, "inbox"))
	if err != nil {
		return err
	}
	scope, err := rsync.OpenScopeCache(filepath.Join(cfg.StateDir, "scope"), creds.ScopeKey, creds.Identity.Client, nil)
	if err != nil {
		return err
	}
	st, err := openSite(ctx, cfg, creds.Identity, inbox, outbox, scope, log)
	if err != nil {
		return err
	}
	defer st.Close()
	var current atomic.Pointer[rsync.Client]
	st.worker.OnPublish(func() {
		if c := current.Load(); c != nil {
			c.Kick()
		}
	})
	workerDone := make(chan struct{})
	wctx, stopWorker := context.WithCancel(ctx)
	go func() { defer close(workerDone); _ = st.worker.Run(wctx) }()
	defer func() { stopWorker(); <-workerDone }()
	address := creds.Address
	if cfg.ControlPlane != "" {
		address = cfg.ControlPlane
	}
	health := func() *pb.Health {
		h := &pb.Health{QueueDepths: map[string]uint64{"outbox": uint64(outbox.Len())},
			Model: &pb.ModelStatus{State: "disabled"}, AuditTreeSize: st.log.Size(), ScopeVersion: scope.InUse(),
			UptimeSeconds: uint64(time.Since(start).Seconds())}
		if st.model != nil {
			state, _ := st.model.Status()
			h.Model = &pb.ModelStatus{Name: cfg.ModelName, State: state, Endpoint: cfg.ModelHost}
		}
		for _, p := range st.host.PluginStatus() {
			h.Plugins = append(h.Plugins, &pb.PluginStatus{Name: p.Name, Version: p.Version, State: p.State, LastError: p.LastError})
		}
		return h
	}
	log = log.With("client", creds.Identity.Client, "site", creds.Identity.Site)
	log.Info("runner ready", "version", Version, "protocol", protocol.Version, "host", host, "enrolled", true,
		"tenant", creds.Identity.Tenant, "control_plane", address, "os", runtime.GOOS,
		"start_ms", time.Since(start).Milliseconds())

	for ctx.Err() == nil {
		scfg := rsync.DefaultConfig()
		scfg.Address, scfg.RunnerVersion, scfg.HeartbeatInterval = address, Version, cfg.HeartbeatInterval
		scfg.Alternates = cfg.ControlPlanes
		client, err := rsync.New(scfg, creds.Cert, creds.CA, rsync.Deps{Outbox: outbox, Inbox: inbox, Scope: scope, Witness: st.witness, Health: health, Log: log})
		if err != nil {
			return err
		}
		current.Store(client)
		renewed, err := runUntilRenewed(ctx, cfg, append([]string{address}, cfg.ControlPlanes...), client, log)
		if err != nil {
			return err
		}
		if !renewed {
			break
		}
		if creds, err = enroll.Load(cfg.StateDir); err != nil {
			return err
		}
		log.Info("site certificate renewed; reconnecting with it", "not_after", creds.Cert.Leaf.NotAfter)
	}
	log.Info("runner stopped")
	return nil
}

// runUntilRenewed runs client until ctx ends (false) or the certificate
// was renewed (true). Renewal tries addrs in order (the sync client's
// address, then its alternates). It waits at most cfg.StopTimeout for the
// client to drain.
func runUntilRenewed(ctx context.Context, cfg config.Config, addrs []string, client *rsync.Client, log *slog.Logger) (bool, error) {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- client.Run(cctx) }()
	renewed := false
	tick := time.NewTicker(cfg.RenewCheckInterval)
	defer tick.Stop()
	check := func() {
		// 30 s per address, as one Enroller call, so a dead first
		// address cannot use up the alternates' time.
		rctx, rcancel := context.WithTimeout(ctx, time.Duration(len(addrs)+1)*30*time.Second)
		defer rcancel()
		ok, err := enroll.Enroller{Dir: cfg.StateDir, Proxy: cfg.ProxyURL(), Addresses: addrs}.Renew(rctx)
		switch {
		case err != nil:
			log.Warn("certificate renewal failed; will retry", "err", err.Error())
		case ok:
			renewed = true
			cancel()
		}
	}
	check()
loop:
	for !renewed {
		select {
		case <-ctx.Done():
			break loop
		case err := <-done:
			return false, err
		case <-tick.C:
			check()
		}
	}
	cancel()
	t := time.NewTimer(cfg.StopTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		return renewed, err
	case <-t.C:
		return false, fmt.Errorf("sync did not stop within %s", cfg.StopTimeout)
	}
}

// loadOrEnroll loads the site credentials, enrolling first with the token
// the installer left in cfg.EnrollTokenFile (then deleting it).
func loadOrEnroll(ctx context.Context, cfg config.Config, log *slog.Logger) (enroll.Credentials, error) {
	creds, err := enroll.Load(cfg.StateDir)
	if !errors.Is(err, enroll.ErrNotEnrolled) {
		return creds, err
	}
	tok, rerr := os.ReadFile(cfg.EnrollTokenFile)
	if rerr != nil {
		return creds, err
	}
	id, err := enroll.Enroller{Dir: cfg.StateDir, Proxy: cfg.ProxyURL(), SiteName: cfg.SiteNameForEnroll}.Enroll(ctx, string(tok))
	if err != nil {
		return creds, fmt.Errorf("enroll with %s: %w", cfg.EnrollTokenFile, err)
	}
	if err := os.Remove(cfg.EnrollTokenFile); err != nil {
		log.Warn("enrolled, but could not delete the used token file", "file", cfg.EnrollTokenFile, "err", err.Error())
	}
	log.Info("site enrolled", "tenant", id.Tenant, "client", id.Client, "site", id.Site)
	return enroll.Load(cfg.StateDir)
}
