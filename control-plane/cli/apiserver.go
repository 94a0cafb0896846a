package cli

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/api"
	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/enroll"
	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/control-plane/web"
)

// defaultHTTPListen is where the supervisors' API listens by default.
const defaultHTTPListen = "127.0.0.1:8443"

// apiServer is the running HTTPS API listener.
type apiServer struct {
	hs   *http.Server
	done chan error
	// bgCancel ends the background jobs (daily samples); bgDone is closed
	// when they ended.
	bgCancel context.CancelFunc
	bgDone   <-chan struct{}
}

// startAPI serves the HTTP/JSON API (/api/) and the web UI (/) over HTTPS (a certificate from the
// control plane's CA) on listen. On first start it creates the admin
// account and writes its one-time setup link to out (never to the log).
func startAPI(ctx context.Context, p *plane, listen, tenant, enrollAddr string, n api.Notifier, out io.Writer, log *slog.Logger) (*apiServer, error) {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, usageError{fmt.Errorf("--http-listen %q: %w", listen, err)}
	}
	a, err := auth.New(auth.DefaultConfig(), p.store, log, nil)
	if err != nil {
		return nil, err
	}
	// A store shared by replicas keeps a pending setup link: renewing it
	// here would void the link another replica printed.
	bootstrap := a.Bootstrap
	if p.sharedStore {
		bootstrap = a.BootstrapShared
	}
	setup, err := bootstrap(ctx)
	if err != nil {
		return nil, err
	}
	if setup == "" && p.sharedStore {
		log.Info("admin setup link not printed: accounts exist, or another replica printed a link that is still valid")
	}
	if setup != "" {
		fmt.Fprintf(out, "\nAccount %q has no password yet (no default password). Set one within 24h, once:\n  https://%s/setup#%s\n  or: sitewarden setup --server https://%s --setup %s\n\n",
			auth.DefaultConfig().AdminName, listen, setup, listen, setup)
	}
	enrollFn := func(ctx context.Context, client, site string, ttl time.Duration) (string, time.Time, error) {
		tok, err := enroll.CreateToken(ctx, p.store, p.ca, enrollAddr, store.Identity{Tenant: tenant, Client: client, Site: site}, ttl, time.Now())
		if err != nil {
			return "", time.Time{}, err
		}
		return tok.Encode(), tok.Expires, nil
	}
	opts := []api.Option{api.WithFleetEnroll(func(ctx context.Context, client string, uses int, ttl time.Duration) (string, time.Time, error) {
		tok, err := enroll.CreateFleetToken(ctx, p.store, p.ca, enrollAddr, tenant, client, uses, ttl, time.Now())
		if err != nil {
			return "", time.Time{}, err
		}
		return tok.Encode(), tok.Expires, nil
	})}
	var accuracy web.AccuracyFunc
	if rv, ok := any(p.store).(store.Review); ok {
		opts = append(opts, api.WithGovernance(api.Governance{Review: rv, ScopeKey: p.scopeKey}))
		accuracy = rv.Accuracy
	}
	srv, err := api.New(api.DefaultConfig(), p.store, a, n, enrollFn, log, nil, opts...)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", srv)
	if ws, ok := p.store.(web.Store); ok {
		ui, err := web.New(web.DefaultConfig(), web.Deps{Actions: srv, Sessions: a, Store: ws, Accuracy: accuracy, Log: log})
		if err != nil {
			return nil, err
		}
		mux.Handle("/", ui)
	} else {
		log.Warn("web UI not served: this store has no dashboard statistics yet (store.Stats); the API and CLI work")
	}
	cert, err := p.ca.ServerCert([]string{host, "localhost"}, time.Now(), 30*24*time.Hour)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("api listen on %s: %w; pick another --http-listen", listen, err)
	}
	s := &apiServer{done: make(chan error, 1), hs: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}}
	tcfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	go func() { s.done <- s.hs.Serve(tls.NewListener(ln, tcfg)) }()
	bg, cancel := context.WithCancel(ctx)
	s.bgCancel, s.bgDone = cancel, startSampler(bg, srv, p.store)
	log.Info("api ready", "http_listen", listen)
	return s, nil
}

// stop shuts the listener down within the context's time.
func (s *apiServer) stop(ctx context.Context) {
	_ = s.hs.Shutdown(ctx)
	<-s.done
	s.bgCancel()
	if s.bgDone != nil {
		<-s.bgDone
	}
}
