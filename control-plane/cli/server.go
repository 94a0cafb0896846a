package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/sitewarden/sitewarden/control-plane/enroll"
	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/control-plane/syncserver"
	"github.com/sitewarden/sitewarden/protocol"
	"github.com/sitewarden/sitewarden/protocol/audit"
)

// Files in the control plane's state directory.
const (
	dbFile       = "control-plane.db"
	caDir        = "ca"
	scopeKeyFile = "scope-signing.key"
	cosignFile   = "cosign.key"
)

type serverOpts struct {
	// httpListen is the supervisors' HTTPS API address; out receives the
	// first start's one-time setup link.
	httpListen string
	out        io.Writer
	metrics    metricsOpts // --metrics-listen, --metrics-token-file (metrics.go)
	// notifyConfig is --notify-config (notify.go).
	notifyConfig string

	runFor time.Duration
	listen string
	state  string
	// storeURL selects the store: empty for SQLite in the state
	// directory, postgres://... for a PostgreSQL database shared by
	// several replicas (docs/scaling.md).
	storeURL  string
	tenant    string
	heartbeat time.Duration
	// idleTimeout is how long a silent sync connection lives: how soon
	// the sites of a replica that died move to another (docs/scaling.md).
	idleTimeout time.Duration
	logLevel    string
	// gcPercent and memLimitMiB tune the Go garbage collector of the
	// server process (docs/sync.md, "Memory per idle site").
	gcPercent   int
	memLimitMiB int64
}

// defaultGCPercent trades a little GC CPU for less heap headroom: each idle
// site's connection state is small and long-lived, so with Go's default
// (100) the heap's headroom alone is a sizeable share of each site's RSS.
const defaultGCPercent = 35

// setGC applies --gc-percent (unless left at its default while GOGC is set
// in the environment, which then wins) and --memory-limit-mib, and returns
// a function restoring the previous settings.
func setGC(o serverOpts, gcFlagSet bool) (restore func(), err error) {
	if o.gcPercent != -1 && o.gcPercent < 10 {
		return nil, usageError{fmt.Errorf("--gc-percent %d: use 10 or more, or -1 (off) with --memory-limit-mib", o.gcPercent)}
	}
	if o.memLimitMiB < 0 || (o.gcPercent == -1 && o.memLimitMiB == 0) {
		return nil, usageError{fmt.Errorf("--memory-limit-mib %d: use a positive size in MiB (0: no limit; required with --gc-percent -1)", o.memLimitMiB)}
	}
	oldPercent, oldLimit := -2, int64(-1)
	if gcFlagSet || os.Getenv("GOGC") == "" {
		oldPercent = debug.SetGCPercent(o.gcPercent)
	}
	if o.memLimitMiB > 0 {
		oldLimit = debug.SetMemoryLimit(o.memLimitMiB << 20)
	}
	return func() {
		if oldPercent != -2 {
			debug.SetGCPercent(oldPercent)
		}
		if oldLimit >= 0 {
			debug.SetMemoryLimit(oldLimit)
		}
	}, nil
}

func newServerCmd(stderr io.Writer) *cobra.Command {
	o := serverOpts{out: stderr}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane server in the foreground until interrupted",
		Long: `Run the control plane: enrollment (HTTPS on TCP) and sync (QUIC on UDP)
on the same address, with its state (SQLite store, CA, signing keys) in --state.
With --store postgres://..., the store is that database instead, shared by
several replicas (docs/scaling.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
				return usageError{fmt.Errorf("--log-level %q: use debug, info, warn or error", o.logLevel)}
			}
			restore, err := setGC(o, cmd.Flags().Changed("gc-percent"))
			if err != nil {
				return err
			}
			defer restore()
			log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
			ctx := cmd.Context()
			if o.runFor > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, o.runFor)
				defer cancel()
			}
			return runServer(ctx, o, log)
		},
	}
	cmd.Flags().DurationVar(&o.runFor, "for", 0, "stop after this long (0: until interrupted)")
	cmd.Flags().StringVar(&o.listen, "listen", "127.0.0.1:7443", "address for enrollment (TCP) and sync (QUIC, UDP)")
	cmd.Flags().StringVar(&o.httpListen, "http-listen", defaultHTTPListen, "address of the supervisors' HTTPS API (loopback by default)")
	cmd.Flags().StringVar(&o.state, "state", defaultStateDir(), "state directory: store, CA, signing keys")
	cmd.Flags().StringVar(&o.storeURL, "store", "", "store: empty for SQLite in --state, or postgres://user@host:port/db?sslmode=verify-full to run as one of several replicas (docs/scaling.md); the password from PGPASSWORD or ~/.pgpass")
	cmd.Flags().StringVar(&o.tenant, "tenant", "default", "tenant (MSP) name written into site certificates")
	cmd.Flags().DurationVar(&o.heartbeat, "heartbeat", 15*time.Second, "heartbeat interval asked of runners")
	cmd.Flags().DurationVar(&o.idleTimeout, "idle-timeout", syncserver.DefaultConfig().IdleTimeout, "close a sync connection silent this long (at least 4 heartbeats); with replicas, how soon sites notice one died and move to another")
	cmd.Flags().StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	o.metrics.addFlags(cmd)
	cmd.Flags().StringVar(&o.notifyConfig, "notify-config", "", "push escalations, approvals and witness alerts to the webhooks of this YAML file (mode 0600; docs/notify.md)")
	cmd.Flags().IntVar(&o.gcPercent, "gc-percent", defaultGCPercent, "Go GC target percentage (lower: less memory per site, more GC CPU; -1: off, needs --memory-limit-mib); GOGC in the environment wins over the default")
	cmd.Flags().Int64Var(&o.memLimitMiB, "memory-limit-mib", 0, "soft memory limit of the process in MiB, the GC works harder near it (0: none)")
	return cmd
}

// plane holds the control plane's long-lived state, shared by the server
// and the supervisors' commands.
type plane struct {
	store     store.Store
	ca        *enroll.CA
	scopeKey  ed25519.PrivateKey
	cosignKey ed25519.PrivateKey
	// sharedStore is true when the store is shared by replicas
	// (--store postgres://...).
	sharedStore bool
}

func openPlane(ctx context.Context, dir string) (*plane, error) {
	return openPlaneStore(ctx, dir, "")
}

// openPlaneStore opens the state directory with the store storeURL names
// (openStore).
func openPlaneStore(ctx context.Context, dir, storeURL string) (*plane, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory %s: %w", dir, err)
	}
	st, err := openStore(ctx, dir, storeURL)
	if err != nil {
		return nil, err
	}
	p := &plane{store: st, sharedStore: storeURL != ""}
	if p.ca, err = enroll.LoadOrCreateCA(filepath.Join(dir, caDir), time.Now()); err == nil {
		if p.scopeKey, err = loadOrCreateKey(filepath.Join(dir, scopeKeyFile)); err == nil {
			p.cosignKey, err = loadOrCreateKey(filepath.Join(dir, cosignFile))
		}
	}
	if err != nil {
		st.Close()
		return nil, err
	}
	return p, nil
}

// loadOrCreateKey reads an ed25519 seed file, creating it (mode 0600) when
// missing.
func loadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) != ed25519.SeedSize {
			return nil, fmt.Errorf("key %s: %d bytes, want a %d-byte ed25519 seed", path, len(b), ed25519.SeedSize)
		}
		return ed25519.NewKeyFromSeed(b), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	if err := os.WriteFile(path, k.Seed(), 0o600); err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	return k, nil
}

func runServer(ctx context.Context, o serverOpts, log *slog.Logger) error {
	ncfg, notifyOn, err := loadNotify(o.notifyConfig, o.tenant)
	if err != nil {
		return err
	}
	p, err := openPlaneStore(ctx, o.state, o.storeURL)
	if err != nil {
		return err
	}
	defer p.store.Close()
	host, _, err := net.SplitHostPort(o.listen)
	if err != nil {
		return usageError{fmt.Errorf("--listen %q: %w", o.listen, err)}
	}
	cert, err := p.ca.ServerCert([]string{host, "localhost"}, time.Now(), 30*24*time.Hour)
	if err != nil {
		return err
	}
	ecfg := enroll.DefaultConfig()
	ecfg.Tenant = o.tenant
	esrv, err := enroll.NewServer(ecfg, p.store, p.ca, p.scopeKey.Public().(ed25519.PublicKey), log, nil)
	if err != nil {
		return err
	}
	signer, _, err := audit.NewSigner("sitewarden-control-plane/"+o.tenant, p.cosignKey)
	if err != nil {
		return err
	}
	scfg := syncserver.DefaultConfig()
	scfg.Listen = o.listen
	scfg.HeartbeatInterval = o.heartbeat
	scfg.IdleTimeout = max(o.idleTimeout, 4*o.heartbeat)
	ssrv, err := syncserver.New(scfg, p.store, cert, p.ca.Pool(), syncserver.NewAuditor(signer, alerter(p.store, log), nil), log, Version, nil)
	if err != nil {
		return err
	}
	if err := ssrv.Listen(); err != nil {
		return err
	}
	apiSrv, err := startAPI(ctx, p, o.httpListen, o.tenant, o.listen, ssrv, o.out, log)
	if err != nil {
		return err
	}
	stopReplica := startReplica(ctx, p.store, ssrv, log)
	defer stopReplica()
	stopNotify, notifyMetrics, err := startNotify(ctx, ncfg, notifyOn, p.store, log)
	if err != nil {
		return err
	}
	defer stopNotify()
	stopMetrics, err := startMetrics(o.metrics, ssrv, p.store, log, notifyMetrics...)
	if err != nil {
		return err
	}
	defer stopMetrics()
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("enrollment listen on %s: %w; is another control plane running there?", o.listen, err)
	}
	hs := &http.Server{Handler: esrv.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	httpDone := make(chan error, 1)
	go func() { httpDone <- hs.Serve(tls.NewListener(ln, esrv.TLSConfig(cert))) }()
	syncDone := make(chan error, 1)
	go func() { syncDone <- ssrv.Serve(ctx) }()
	log.Info("control plane ready", "version", Version, "protocol", protocol.Version, "sync_listen", o.listen,
		"state", o.state, "ca_pin", p.ca.Pin())

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-syncDone:
	case serveErr = <-httpDone:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	apiSrv.stop(sctx)
	if serveErr == nil {
		serveErr = <-syncDone
	}
	log.Info("control plane stopped")
	if errors.Is(serveErr, http.ErrServerClosed) {
		return nil
	}
	return serveErr
}
