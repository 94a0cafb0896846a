package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	stdsync "sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/proto"

	cpenroll "github.com/sitewarden/sitewarden/control-plane/enroll"
	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/control-plane/syncserver"
	"github.com/sitewarden/sitewarden/internal/testsupport"
	"github.com/sitewarden/sitewarden/policies"
	"github.com/sitewarden/sitewarden/protocol/audit"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
	renroll "github.com/sitewarden/sitewarden/runner/enroll"
	rsync "github.com/sitewarden/sitewarden/runner/sync"
)

// plane is a control plane in process: a real SQLite store, CA, HTTPS
// enrollment listener (TCP) and QUIC sync server (UDP) on the same
// loopback port.
type plane struct {
	dir      string
	store    *store.SQLite
	ca       *cpenroll.CA
	scopeKey ed25519.PrivateKey
	addr     string
	clock    *fakeClock
	sync     *syncserver.Server
	logs     *testsupport.Buffer
	stop     func()
	// issueAt dates new scope bundles (time.Now when nil).
	issueAt func() time.Time
}

type fakeClock struct {
	mu stdsync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

type planeOpts struct {
	validity time.Duration
	sync     func(*syncserver.Config)
	dir      string // reuse a state directory (control plane restart)
	addr     string // reuse an address
}

func startPlane(t testing.TB, validity time.Duration) *plane {
	return startPlaneWith(t, planeOpts{validity: validity})
}

func startPlaneWith(t testing.TB, o planeOpts) *plane {
	t.Helper()
	if o.validity == 0 {
		o.validity = 90 * 24 * time.Hour
	}
	dir := o.dir
	if dir == "" {
		dir = t.TempDir()
	}
	p := &plane{dir: dir, clock: &fakeClock{t: time.Now()}, logs: &testsupport.Buffer{}}
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "cp.db"))
	if err != nil {
		t.Fatal(err)
	}
	p.store = st
	if p.ca, err = cpenroll.LoadOrCreateCA(filepath.Join(dir, "ca"), p.clock.Now()); err != nil {
		t.Fatal(err)
	}
	p.scopeKey = loadOrMakeKey(t, filepath.Join(dir, "scope.key"))
	log := slog.New(slog.NewJSONHandler(p.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := cpenroll.DefaultConfig()
	cfg.Tenant = "msp"
	cfg.CertValidity = o.validity
	esrv, err := cpenroll.NewServer(cfg, st, p.ca, p.scopeKey.Public().(ed25519.PublicKey), log, p.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := p.ca.ServerCert([]string{"127.0.0.1"}, p.clock.Now(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ln, addr := listenPair(t, o.addr)
	p.addr = addr
	hs := &http.Server{Handler: esrv.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(tls.NewListener(ln, esrv.TLSConfig(cert))) }()

	scfg := syncserver.DefaultConfig()
	scfg.Listen = addr
	scfg.HeartbeatInterval = time.Second
	scfg.IdleTimeout = 5 * time.Second
	if o.sync != nil {
		o.sync(&scfg)
	}
	signer := newCosigner(t, p.scopeKey)
	srv, err := syncserver.New(scfg, st, cert, p.ca.Pool(), syncserver.NewAuditor(signer, syncserver.LogAlerter{Log: log}, nil), log, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	p.sync = srv
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	var once stdsync.Once
	p.stop = func() {
		once.Do(func() {
			cancel()
			hs.Close()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("sync server: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("sync server did not stop within 10s")
			}
			st.Close()
		})
	}
	t.Cleanup(p.stop)
	return p
}

// listenPair listens on TCP and UDP with the same loopback port (want, or
// a free one).
func listenPair(t testing.TB, want string) (net.Listener, string) {
	t.Helper()
	for range 50 {
		addr := want
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			if want != "" {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			t.Fatal(err)
		}
		u, err := net.ListenPacket("udp", ln.Addr().String())
		if err != nil {
			ln.Close()
			continue
		}
		u.Close()
		return ln, ln.Addr().String()
	}
	t.Fatalf("no loopback port free for both TCP and UDP (wanted %q)", want)
	return nil, ""
}

func loadOrMakeKey(t testing.TB, path string) ed25519.PrivateKey {
	t.Helper()
	if b, err := os.ReadFile(path); err == nil {
		return ed25519.NewKeyFromSeed(b)
	}
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, k.Seed(), 0o600); err != nil {
		t.Fatal(err)
	}
	return k
}

func (p *plane) token(t testing.TB, client, site string, ttl time.Duration) string {
	t.Helper()
	tok, err := cpenroll.CreateToken(context.Background(), p.store, p.ca, p.addr,
		store.Identity{Tenant: "msp", Client: client, Site: site}, ttl, p.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok.Encode()
}

// scopeBundle signs a scope for client (the disk reference pack) as version.
func (p *plane) scopeBundle(t testing.TB, client string, version uint64) *pb.ScopeBundle {
	t.Helper()
	src, err := os.ReadFile("../policies/packs/disk.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src = bytes.Replace(src, []byte("client: example"), []byte("client: "+client), 1)
	sc, err := policies.Compile(policies.DefaultConfig(), policies.Source{Name: "disk.yaml", Data: src})
	if err != nil {
		t.Fatal(err)
	}
	issued := time.Now()
	if p.issueAt != nil {
		issued = p.issueAt()
	}
	b, err := policies.NewBundle(sc, version, issued, p.scopeKey)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// publishScope stores a scope version and notifies the client's sites.
func (p *plane) publishScope(t testing.TB, client string, version uint64) {
	t.Helper()
	raw, err := proto.Marshal(p.scopeBundle(t, client, version))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.store.PutScope(context.Background(), store.ScopeVersion{Client: client, Version: version, Bundle: raw, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	p.sync.Notify(client, "", rsync.TopicScope, version)
}

// addGoal stores a goal for a site and notifies it.
func (p *plane) addGoal(t testing.TB, client, site, id string) uint64 {
	t.Helper()
	raw, err := proto.Marshal(&pb.Goal{GoalId: id, ClientId: client, SiteId: site, Agent: "disk-janitor", Workflow: "low_disk_space"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.store.AddGoal(context.Background(), store.Goal{Client: client, Site: site, ID: id, Payload: raw})
	if err != nil {
		t.Fatal(err)
	}
	p.sync.Notify(client, site, rsync.StreamGoals, c)
	return c
}

// site is an enrolled runner's sync side, in process.
type site struct {
	dir    string
	creds  renroll.Credentials
	outbox *rsync.DirOutbox
	inbox  *rsync.DirInbox
	scope  *rsync.ScopeCache
	client *rsync.Client
	logs   *testsupport.Buffer
	stop   func()
}

type siteOpts struct {
	address string // dial this instead of the enrolled address (a proxy)
	cfg     func(*rsync.Config)
	clock   rsync.Clock
	dir     string // reuse an enrolled state directory
	witness rsync.Witness
}

func enrollSite(t testing.TB, p *plane, client, name string) string {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := (renroll.Enroller{Dir: dir}).Enroll(ctx, p.token(t, client, name, time.Hour)); err != nil {
		t.Fatal(err)
	}
	return dir
}

func startSite(t testing.TB, p *plane, client, name string, o siteOpts) *site {
	t.Helper()
	dir := o.dir
	if dir == "" {
		dir = enrollSite(t, p, client, name)
	}
	creds, err := renroll.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := &site{dir: dir, creds: creds, logs: &testsupport.Buffer{}}
	if s.outbox, err = rsync.OpenDirOutbox(filepath.Join(dir, "outbox"), 0); err != nil {
		t.Fatal(err)
	}
	if s.inbox, err = rsync.OpenDirInbox(filepath.Join(dir, "inbox")); err != nil {
		t.Fatal(err)
	}
	var now func() time.Time
	if o.clock != nil {
		now = o.clock.Now
	}
	if s.scope, err = rsync.OpenScopeCache(filepath.Join(dir, "scope"), creds.ScopeKey, creds.Identity.Client, now); err != nil {
		t.Fatal(err)
	}
	cfg := rsync.DefaultConfig()
	cfg.Address = creds.Address
	if o.address != "" {
		cfg.Address = o.address
	}
	cfg.HeartbeatInterval = time.Second
	cfg.BackoffMin = 50 * time.Millisecond
	cfg.BackoffMax = 500 * time.Millisecond
	cfg.DialTimeout = 3 * time.Second
	cfg.IdleTimeout = 3 * time.Second
	cfg.StreamTimeout = 3 * time.Second
	cfg.ResyncInterval = 2 * time.Second
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	log := slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s.client, err = rsync.New(cfg, creds.Cert, creds.CA, rsync.Deps{Outbox: s.outbox, Inbox: s.inbox, Scope: s.scope, Witness: o.witness, Clock: o.clock, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.client.Run(ctx) }()
	var once stdsync.Once
	s.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("sync client: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("sync client did not stop within 10s")
			}
		})
	}
	t.Cleanup(s.stop)
	return s
}

// raise queues an upstream item and kicks the client.
func (s *site) raise(t testing.TB, m proto.Message) {
	t.Helper()
	it, err := rsync.NewItem(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.outbox.Add(context.Background(), it); err != nil {
		t.Fatal(err)
	}
	s.client.Kick()
}

// eventually polls cond every 20 ms until it holds or d passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newCosigner returns the control plane's checkpoint countersigning key.
func newCosigner(t testing.TB, seed ed25519.PrivateKey) note.Signer {
	t.Helper()
	k := ed25519.NewKeyFromSeed(sha256Of(append([]byte("cosign"), seed.Seed()...)))
	s, _, err := audit.NewSigner("sitewarden-control-plane/msp", k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sha256Of(b []byte) []byte {
	sum := sha256.Sum256(b)
	return sum[:]
}

func mustLoad(t testing.TB, dir string) renroll.Credentials {
	t.Helper()
	c, err := renroll.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// loadCA reads a control plane's CA from its state directory.
func loadCA(state string) (*cpenroll.CA, error) {
	return cpenroll.LoadOrCreateCA(filepath.Join(state, "ca"), time.Now())
}
