package syncserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sitewarden/sitewarden/control-plane/enroll"
	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/protocol"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

// Store is what the sync server needs of the control plane's store.
type Store interface {
	TouchSite(ctx context.Context, id store.Identity, seen time.Time, runnerVersion string, health []byte) error
	LatestScope(ctx context.Context, client string) (store.ScopeVersion, error)
	GoalsAfter(ctx context.Context, client, site string, after uint64, limit int) ([]store.Goal, error)
	DecisionsAfter(ctx context.Context, client, site string, after uint64, limit int) ([]store.Decision, error)
	PutItem(ctx context.Context, it store.Item) (bool, error)
	LatestCheckpoint(ctx context.Context, client, site string) (store.Checkpoint, error)
	PutCheckpoint(ctx context.Context, c store.Checkpoint) error
	AppendAudit(ctx context.Context, client, site string, first uint64, records [][]byte) error
}

var _ Store = (store.Store)(nil)

// Application error codes used when closing a connection.
const (
	closeNormal      quic.ApplicationErrorCode = 0
	closeHandshake   quic.ApplicationErrorCode = 1
	closeUnsupported quic.ApplicationErrorCode = 2
	closeShutdown    quic.ApplicationErrorCode = 3
	closeReplaced    quic.ApplicationErrorCode = 4
)

// Server serves sync connections.
type Server struct {
	cfg     Config
	store   Store
	log     *slog.Logger
	now     func() time.Time
	version string
	tlsConf *tls.Config
	auditor *Auditor

	mu       sync.Mutex
	sessions map[string]map[string]*session // client → site → session
	udp      net.PacketConn
	tr       *quic.Transport
	ln       *quic.Listener
	attempts rateWindow
	wg       sync.WaitGroup
}

// New returns a server that presents cert and accepts runners whose
// certificates chain to caPool. auditor may be nil (audit batches are then
// refused as unavailable). now may be nil (time.Now).
func New(cfg Config, st Store, cert tls.Certificate, caPool *x509.CertPool, auditor *Auditor, log *slog.Logger, version string, now func() time.Time) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = protocol.DefaultMaxFrameSize
	}
	return &Server{
		cfg: cfg, store: st, log: log, now: now, version: version, auditor: auditor,
		tlsConf: &tls.Config{
			MinVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{cert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    caPool,
			NextProtos:   []string{protocol.ALPN},
		},
		sessions: map[string]map[string]*session{},
	}, nil
}

// Listen binds the UDP socket. Call it before Serve to learn Addr.
func (s *Server) Listen() error {
	udp, err := net.ListenPacket("udp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("sync listen on %s: %w; is another control plane running there?", s.cfg.Listen, err)
	}
	s.udp = udp
	s.tr = &quic.Transport{Conn: udp, VerifySourceAddress: s.verifySource}
	ln, err := s.tr.Listen(s.tlsConf, &quic.Config{
		HandshakeIdleTimeout:  s.cfg.HandshakeTimeout,
		MaxIdleTimeout:        s.cfg.IdleTimeout,
		MaxIncomingStreams:    s.cfg.MaxStreams,
		MaxIncomingUniStreams: -1,
		// Small windows: sites send little, and this bounds memory per
		// idle connection.
		InitialStreamReceiveWindow:     64 << 10,
		MaxStreamReceiveWindow:         uint64(s.cfg.MaxFrame) + 64<<10,
		InitialConnectionReceiveWindow: 128 << 10,
		MaxConnectionReceiveWindow:     2*uint64(s.cfg.MaxFrame) + 128<<10,
	})
	if err != nil {
		udp.Close()
		return fmt.Errorf("sync listen on %s: %w", s.cfg.Listen, err)
	}
	s.ln = ln
	return nil
}

// Addr returns the bound address (after Listen).
func (s *Server) Addr() net.Addr { return s.udp.LocalAddr() }

// verifySource asks peers to prove their address (QUIC Retry) when
// connection attempts exceed the configured rate.
func (s *Server) verifySource(net.Addr) bool {
	return s.attempts.hit(s.now()) > s.cfg.RetryAbove
}

// Serve accepts connections until ctx ends, then closes every connection
// and waits for their handlers. It calls Listen when needed.
func (s *Server) Serve(ctx context.Context) error {
	if s.ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	defer s.tr.Close()
	defer s.udp.Close()
	stop := context.AfterFunc(ctx, func() { s.ln.Close() })
	defer stop()
	if s.cfg.ScopeWatchInterval > 0 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.watchScopes(ctx)
		}()
	}
	for {
		conn, err := s.ln.Accept(ctx)
		if err != nil {
			s.closeAll()
			s.wg.Wait()
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("sync accept: %w", err)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(ctx, conn)
		}()
	}
}

func (s *Server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sites := range s.sessions {
		for _, ss := range sites {
			_ = ss.conn.CloseWithError(closeShutdown, "control plane shutting down")
		}
	}
}

// Connected returns how many sites hold a connection.
func (s *Server) Connected() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, sites := range s.sessions {
		n += len(sites)
	}
	return n
}

// Notify pushes a Notify to the connected sites of client (one site when
// site is not empty) and returns how many it reached.
func (s *Server) Notify(client, site, topic string, version uint64) int {
	s.mu.Lock()
	var targets []*session
	for name, ss := range s.sessions[client] {
		if site == "" || name == site {
			targets = append(targets, ss)
		}
	}
	s.mu.Unlock()
	n := 0
	for _, ss := range targets {
		if err := ss.send(&pb.Notify{Topic: topic, Version: version}, s.cfg.MaxFrame); err != nil {
			s.log.Debug("notify failed", "client", ss.id.Client, "site", ss.id.Site, "err", err)
			continue
		}
		n++
	}
	return n
}

// watchScopes notifies a client's connected sites when the store holds a
// scope version newer than the last one notified for that client (a
// version published by another process).
func (s *Server) watchScopes(ctx context.Context) {
	notified := map[string]uint64{}
	t := time.NewTicker(s.cfg.ScopeWatchInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		clients := make([]string, 0, len(s.sessions))
		for c := range s.sessions {
			clients = append(clients, c)
		}
		s.mu.Unlock()
		for _, c := range clients {
			sv, err := s.store.LatestScope(ctx, c)
			if err != nil || sv.Version <= notified[c] {
				continue
			}
			notified[c] = sv.Version
			s.Notify(c, "", "scope", sv.Version)
		}
		for c := range notified {
			if !slices.Contains(clients, c) {
				delete(notified, c) // bounded by connected clients
			}
		}
	}
}

// session is one connected site.
type session struct {
	id   store.Identity
	conn *quic.Conn
	wmu  sync.Mutex
	ctrl *quic.Stream
}

func (ss *session) send(m proto.Message, limit int) error {
	ss.wmu.Lock()
	defer ss.wmu.Unlock()
	_ = ss.ctrl.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return protocol.WriteMessage(ss.ctrl, m, limit)
}

func peerIdentity(conn *quic.Conn) (store.Identity, error) {
	chains := conn.ConnectionState().TLS.VerifiedChains
	if len(chains) == 0 || len(chains[0]) == 0 {
		return store.Identity{}, ErrNoIdentity
	}
	id, err := enroll.IdentityFromCert(chains[0][0])
	if err != nil {
		return store.Identity{}, fmt.Errorf("%w: %v", ErrNoIdentity, err)
	}
	return id, nil
}

func (s *Server) serveConn(ctx context.Context, conn *quic.Conn) {
	id, err := peerIdentity(conn)
	if err != nil {
		s.log.Warn("sync connection refused", "remote", conn.RemoteAddr().String(), "err", err)
		_ = conn.CloseWithError(closeHandshake, "certificate names no site")
		return
	}
	log := s.log.With("client", id.Client, "site", id.Site)
	ss, welcome, err := s.handshake(ctx, conn, id, log)
	if err != nil {
		log.Warn("sync handshake failed", "remote", conn.RemoteAddr().String(), "err", err)
		return
	}
	s.register(ss, log)
	defer s.unregister(ss)
	log.Info("site connected", "remote", conn.RemoteAddr().String(), "protocol", welcome.GetProtocolVersion())

	go s.readControl(ctx, ss, log)
	for {
		st, err := conn.AcceptStream(ctx)
		if err != nil {
			log.Info("site disconnected", "reason", err.Error())
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveStream(ctx, ss, st, log)
		}()
	}
}

func (s *Server) handshake(ctx context.Context, conn *quic.Conn, id store.Identity, log *slog.Logger) (*session, *pb.Welcome, error) {
	hctx, cancel := context.WithTimeout(ctx, s.cfg.HandshakeTimeout)
	defer cancel()
	ctrl, err := conn.AcceptStream(hctx)
	if err != nil {
		_ = conn.CloseWithError(closeHandshake, "no control stream")
		return nil, nil, fmt.Errorf("%w: no control stream: %v", ErrHandshake, err)
	}
	_ = ctrl.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	m, err := protocol.ReadMessage(ctrl, s.cfg.MaxFrame)
	hello, ok := m.(*pb.Hello)
	if err != nil || !ok {
		_ = conn.CloseWithError(closeHandshake, "expected hello")
		return nil, nil, fmt.Errorf("%w: expected hello: %v", ErrHandshake, err)
	}
	if c := hello.GetClaims(); c != nil && (c.GetClientId() != "" && c.GetClientId() != id.Client || c.GetSiteId() != "" && c.GetSiteId() != id.Site) {
		log.Warn("hello claims differ from certificate; using the certificate", "claimed_client", c.GetClientId(), "claimed_site", c.GetSiteId())
	}
	v, ok := protocol.Negotiate(hello.GetProtocolVersions())
	if !ok {
		_ = protocol.WriteMessage(ctrl, &pb.Error{Code: pb.ErrorCode_ERROR_CODE_UNSUPPORTED_VERSION,
			Message: fmt.Sprintf("control plane speaks protocol %d-%d, runner %v; upgrade the older side", protocol.MinVersion, protocol.Version, hello.GetProtocolVersions())}, s.cfg.MaxFrame)
		_ = ctrl.Close()
		time.Sleep(50 * time.Millisecond) // let the Error leave before the close
		_ = conn.CloseWithError(closeUnsupported, "unsupported protocol version")
		return nil, nil, fmt.Errorf("%w: no common protocol version with %v", ErrHandshake, hello.GetProtocolVersions())
	}
	w := &pb.Welcome{ProtocolVersion: v, ServerVersion: s.version, ServerTime: timestamppb.New(s.now()),
		HeartbeatIntervalSeconds: uint32(max(1, s.cfg.HeartbeatInterval/time.Second))}
	if err := protocol.WriteMessage(ctrl, w, s.cfg.MaxFrame); err != nil {
		_ = conn.CloseWithError(closeHandshake, "welcome failed")
		return nil, nil, fmt.Errorf("%w: write welcome: %v", ErrHandshake, err)
	}
	_ = ctrl.SetDeadline(time.Time{})
	if err := s.store.TouchSite(ctx, id, s.now(), hello.GetRunnerVersion(), nil); err != nil && !errors.Is(err, store.ErrNotFound) {
		log.Error("record site seen", "err", err)
	}
	return &session{id: id, conn: conn, ctrl: ctrl}, w, nil
}

// register adds ss, closing an older connection of the same site (one
// connection per site).
func (s *Server) register(ss *session, log *slog.Logger) {
	s.mu.Lock()
	sites := s.sessions[ss.id.Client]
	if sites == nil {
		sites = map[string]*session{}
		s.sessions[ss.id.Client] = sites
	}
	old := sites[ss.id.Site]
	sites[ss.id.Site] = ss
	s.mu.Unlock()
	if old != nil {
		log.Info("site reconnected; closing its previous connection")
		_ = old.conn.CloseWithError(closeReplaced, "replaced by a newer connection")
	}
}

func (s *Server) unregister(ss *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions[ss.id.Client][ss.id.Site] == ss {
		delete(s.sessions[ss.id.Client], ss.id.Site)
		if len(s.sessions[ss.id.Client]) == 0 {
			delete(s.sessions, ss.id.Client)
		}
	}
	_ = ss.conn.CloseWithError(closeNormal, "")
}

// readControl reads heartbeats until the stream ends or stays silent for
// three heartbeat intervals.
func (s *Server) readControl(ctx context.Context, ss *session, log *slog.Logger) {
	for {
		_ = ss.ctrl.SetReadDeadline(time.Now().Add(3 * s.cfg.HeartbeatInterval))
		m, err := protocol.ReadMessage(ss.ctrl, s.cfg.MaxFrame)
		if err != nil {
			_ = ss.conn.CloseWithError(closeNormal, "control stream ended")
			return
		}
		hb, ok := m.(*pb.Heartbeat)
		if !ok {
			log.Warn("unexpected frame on control stream", "type", fmt.Sprintf("%T", m))
			continue
		}
		health, _ := proto.Marshal(hb.GetHealth())
		if err := s.store.TouchSite(ctx, ss.id, s.now(), hb.GetRunnerVersion(), health); err != nil && !errors.Is(err, store.ErrNotFound) {
			log.Error("record heartbeat", "err", err)
		}
		log.Debug("heartbeat", "seq", hb.GetSeq(), "uptime_s", hb.GetHealth().GetUptimeSeconds())
	}
}

// rateWindow counts events in the current second.
type rateWindow struct {
	sec atomic.Int64
	n   atomic.Int64
}

func (r *rateWindow) hit(now time.Time) int {
	s := now.Unix()
	if r.sec.Swap(s) != s {
		r.n.Store(0)
	}
	return int(r.n.Add(1))
}
