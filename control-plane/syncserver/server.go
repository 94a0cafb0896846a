package syncserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
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
	Site(ctx context.Context, client, site string) (store.Site, error)
	TouchSite(ctx context.Context, id store.Identity, seen time.Time, runnerVersion string, health []byte) error
	LatestScope(ctx context.Context, client string) (store.ScopeVersion, error)
	GoalsAfter(ctx context.Context, client, site string, after uint64, limit int) ([]store.Goal, error)
	DecisionsAfter(ctx context.Context, client, site string, after uint64, limit int) ([]store.Decision, error)
	PutItem(ctx context.Context, it store.Item) (bool, error)
	Item(ctx context.Context, kind store.Kind, client, id string) (store.Item, error)
	Goal(ctx context.Context, client, id string) (store.Goal, error)
	LatestCheckpoint(ctx context.Context, client, site string) (store.Checkpoint, error)
	PutCheckpoint(ctx context.Context, c store.Checkpoint) error
	AppendAudit(ctx context.Context, client, site string, first uint64, records [][]byte) error
	AuditRecords(ctx context.Context, client, site string, from uint64, limit int) ([][]byte, error)
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
	seen    *seen

	mu       sync.Mutex
	sessions map[string]map[string]*session // client → site → session
	udp      net.PacketConn
	tr       *quic.Transport
	ln       *quic.Listener
	attempts rateWindow
	wg       sync.WaitGroup
	stats    syncStats // items received and their lag (metrics.go)
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
			Certificates: []tls.Certificate{withoutRoots(cert)},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    caPool,
			NextProtos:   []string{protocol.ALPN},
			// Runners hold one long-lived connection and reconnect rarely:
			// resumption buys nothing, and each ticket is handshake data
			// quic-go keeps for the connection's life.
			SessionTicketsDisabled: true,
		},
		sessions: map[string]map[string]*session{},
		seen:     newSeen(),
	}, nil
}

// withoutRoots returns cert without the self-signed certificates in its
// chain: runners verify the control plane against the CA they pinned at
// enrollment, so sending it again is waste, and quic-go keeps the
// handshake data for the connection's life.
func withoutRoots(cert tls.Certificate) tls.Certificate {
	if len(cert.Certificate) < 2 {
		return cert
	}
	chain := cert.Certificate[:1:1]
	for _, der := range cert.Certificate[1:] {
		c, err := x509.ParseCertificate(der)
		if err == nil && bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil {
			continue
		}
		chain = append(chain, der)
	}
	cert.Certificate = chain
	return cert
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
		// Small windows: an idle site sends a heartbeat now and then; the
		// windows grow (up to the Max values) only for a transfer that
		// needs them, so an idle connection holds no large buffers.
		InitialStreamReceiveWindow:     16 << 10,
		MaxStreamReceiveWindow:         uint64(s.cfg.MaxFrame) + 64<<10,
		InitialConnectionReceiveWindow: 32 << 10,
		MaxConnectionReceiveWindow:     2*uint64(s.cfg.MaxFrame) + 128<<10,
		// Loopback and LAN paths need no MTU probing, and on the internet
		// the 1,280-byte minimum suits a control channel: no prober state.
		DisablePathMTUDiscovery: true,
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
	// bg ends the server's own goroutines when Serve returns for any reason.
	bg, cancelBG := context.WithCancel(ctx)
	defer cancelBG()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.seen.run(bg, s.store, s.log)
	}()
	if s.cfg.ScopeWatchInterval > 0 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.watchScopes(bg)
		}()
	}
	for {
		conn, err := s.ln.Accept(ctx)
		if err != nil {
			s.closeAll()
			cancelBG()
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
	log.Info("site connected", "remote", conn.RemoteAddr().String(), "protocol", welcome.GetProtocolVersion())
	// A fresh goroutine serves the session: its stack starts small, while
	// this one's grew during the TLS and Hello work and now ends.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.unregister(ss)
		s.serveSession(ctx, ss, log)
	}()
}

// serveSession runs one connected site from a single goroutine (quic-go
// runs two more per connection): it accepts transfer streams, and between
// them, at least once per heartbeat interval, drains whatever heartbeats
// the control stream holds without waiting for more. So an idle site costs
// no reader goroutine and no buffer: a heartbeat is handled up to one
// interval after it arrived, which is all a heartbeat needs. A control
// stream silent for three intervals closes the connection.
func (s *Server) serveSession(ctx context.Context, ss *session, log *slog.Logger) {
	interval := s.cfg.HeartbeatInterval
	heard := time.Now()
	var pending []byte // a heartbeat frame cut between two drains; nil when idle
	nextDrain := time.Now().Add(interval)
	for {
		actx, cancel := context.WithDeadline(ctx, nextDrain)
		st, err := ss.conn.AcceptStream(actx)
		cancel()
		if err == nil {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serveStream(ctx, ss, st, log)
			}()
			if time.Now().Before(nextDrain) {
				continue // a busy site: drain on schedule, not per stream
			}
		} else if ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			log.Info("site disconnected", "reason", err.Error())
			return
		}
		nextDrain = time.Now().Add(interval)
		wait := drainWait
		if time.Since(heard) > 3*interval {
			wait = time.Second // confirm the silence before acting on it
		}
		got, rest, err := s.drainControl(ss, pending, wait, log)
		pending = rest
		if got {
			heard = time.Now()
		}
		if err != nil {
			log.Info("site disconnected", "reason", "control stream: "+err.Error())
			_ = ss.conn.CloseWithError(closeNormal, "control stream ended")
			return
		}
		if time.Since(heard) > 3*interval {
			log.Info("site disconnected", "reason", "no heartbeat for three intervals")
			_ = ss.conn.CloseWithError(closeNormal, "no heartbeat")
			return
		}
	}
}

// drainWait is how long drainControl waits for control stream bytes that
// are not there: what a heartbeat-less drain costs the session loop.
const drainWait = 20 * time.Millisecond

// drainControl reads what the control stream holds now, waiting at most
// wait for more, and handles every complete frame. It returns whether
// anything arrived, the bytes of a frame not yet complete (nil when none),
// and an error when the stream ended or broke its framing. What it keeps
// is bounded by the frame limit.
func (s *Server) drainControl(ss *session, pending []byte, wait time.Duration, log *slog.Logger) (bool, []byte, error) {
	var buf [512]byte
	got := false
	// quic-go checks a read deadline before looking at buffered data, so
	// the deadline must lie a little ahead for buffered bytes to be read.
	_ = ss.ctrl.SetReadDeadline(time.Now().Add(wait))
	for {
		n, err := ss.ctrl.Read(buf[:])
		if n > 0 {
			got = true
			if len(pending)+n > protocol.HeaderSize+s.cfg.MaxFrame {
				return got, nil, fmt.Errorf("%w: frame over %d bytes", protocol.ErrFrameTooLarge, s.cfg.MaxFrame)
			}
			pending = append(pending, buf[:n]...)
		}
		if err != nil {
			var nerr net.Error
			if errors.As(err, &nerr) && nerr.Timeout() {
				break
			}
			return got, nil, err
		}
	}
	for len(pending) >= protocol.HeaderSize {
		size := protocol.HeaderSize + int(binary.BigEndian.Uint32(pending[1:protocol.HeaderSize]))
		if size-protocol.HeaderSize > s.cfg.MaxFrame {
			return got, nil, fmt.Errorf("%w: declared %d bytes", protocol.ErrFrameTooLarge, size-protocol.HeaderSize)
		}
		if len(pending) < size {
			break
		}
		m, err := protocol.ReadMessage(bytes.NewReader(pending[:size]), s.cfg.MaxFrame)
		if err != nil {
			return got, nil, err
		}
		pending = pending[size:]
		s.handleControl(ss, m, log)
	}
	if len(pending) == 0 {
		return got, nil, nil
	}
	return got, bytes.Clone(pending), nil
}

// handleControl handles one frame from a site's control stream.
func (s *Server) handleControl(ss *session, m proto.Message, log *slog.Logger) {
	hb, ok := m.(*pb.Heartbeat)
	if !ok {
		log.Warn("unexpected frame on control stream", "type", fmt.Sprintf("%T", m))
		return
	}
	health, _ := proto.Marshal(hb.GetHealth())
	s.seen.record(ss.id, seenRecord{at: s.now(), runnerVersion: hb.GetRunnerVersion(), health: health})
	log.Debug("heartbeat", "seq", hb.GetSeq(), "uptime_s", hb.GetHealth().GetUptimeSeconds())
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
	s.seen.record(id, seenRecord{at: s.now(), runnerVersion: hello.GetRunnerVersion()})
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
