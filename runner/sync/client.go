package sync

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	stdsync "sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sitewarden/sitewarden/protocol"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

// Item is one upstream item waiting in the outbox: the frame that carries
// it (an Escalation, ApprovalRequest or Outcome) and its stable id, the one
// the control plane acknowledges (escalation_id, approval_id, or the
// outcome's goal_id). Make one with NewItem.
type Item struct {
	ID      string
	Type    protocol.FrameType
	Payload []byte
}

// key identifies an item in the outbox: ids are unique per frame type.
func (it Item) key() string { return fmt.Sprintf("%d/%s", it.Type, it.ID) }

// NewItem encodes an upstream message as an outbox item with its stable id.
func NewItem(m proto.Message) (Item, error) {
	var id string
	switch m := m.(type) {
	case *pb.Escalation:
		id = m.GetEscalationId()
	case *pb.ApprovalRequest:
		id = m.GetApprovalId()
	case *pb.Outcome:
		id = m.GetGoalId()
	default:
		return Item{}, fmt.Errorf("outbox: %T is not an upstream item", m)
	}
	if id == "" {
		return Item{}, fmt.Errorf("outbox: %T has no id", m)
	}
	f, err := protocol.EncodeFrame(m)
	if err != nil {
		return Item{}, fmt.Errorf("outbox: %w", err)
	}
	return Item{ID: id, Type: f.Type, Payload: f.Payload}, nil
}

// Outbox holds upstream items until the control plane acknowledged them.
// Implementations are durable and safe for concurrent use.
type Outbox interface {
	// Pending returns at most n items, oldest first.
	Pending(ctx context.Context, n int) ([]Item, error)
	// Done removes an acknowledged item; an unknown item is not an error.
	Done(ctx context.Context, it Item) error
	// Reject sets aside an item the control plane refused for good, with the
	// reason, so a person can look at it; it no longer blocks the queue.
	Reject(ctx context.Context, it Item, reason string) error
}

// Inbox applies downstream items. Implementations are durable.
type Inbox interface {
	// Cursor returns the cursor of the last item applied on stream.
	Cursor(ctx context.Context, stream string) (uint64, error)
	// Apply applies m (a GoalAssignment or ApprovalDecision) and records
	// cursor as the stream's position, atomically; applying an item at or
	// below the recorded cursor has no effect.
	Apply(ctx context.Context, stream string, cursor uint64, m proto.Message) error
}

// Scope receives scope bundles.
type Scope interface {
	// InUse returns the version of the bundle in use (0: none).
	InUse() uint64
	// Offer verifies b and, if it is valid and newer, keeps it as the last
	// good bundle. A refused bundle is an error; the old one stays in use.
	Offer(ctx context.Context, b *pb.ScopeBundle) error
}

// Witness sends the site's audit log up for countersigning.
type Witness interface {
	// NextBatch returns the next batch to send after the control plane's
	// last countersigned size, or nil when there is nothing new.
	NextBatch(ctx context.Context, ackedSize uint64) (*pb.AuditBatch, error)
	// Cosigned records the control plane's countersignature.
	Cosigned(ctx context.Context, c *pb.CheckpointCosignature) error
}

// Clock is the time source; tests inject one to simulate long periods.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Deps are the client's collaborators. Outbox, Inbox and Scope are
// required; Witness, Health, Clock and Log may be nil.
type Deps struct {
	Outbox  Outbox
	Inbox   Inbox
	Scope   Scope
	Witness Witness
	// Health returns the runner's current health for heartbeats.
	Health func() *pb.Health
	Clock  Clock
	Log    *slog.Logger
}

// Client keeps the runner synced with the control plane.
type Client struct {
	cfg Config
	d   Deps
	// addrs are Address then the Alternates (no repeats); tls holds the
	// TLS configuration of each (its server name).
	addrs []string
	tls   []*tls.Config
	kick  chan struct{}
	start time.Time

	connected atomic.Bool
	ups       atomic.Uint64 // sessions established
	hbSeq     atomic.Uint64
	acked     atomic.Uint64 // audit size the control plane countersigned
	mu        stdsync.Mutex
	onState   func(connected bool)
}

// New returns a client that connects with cert to the control plane whose
// CA is ca.
func New(cfg Config, cert tls.Certificate, ca *x509.Certificate, d Deps) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Outbox == nil || d.Inbox == nil || d.Scope == nil {
		return nil, errors.New("sync: outbox, inbox and scope are required")
	}
	if d.Clock == nil {
		d.Clock = realClock{}
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Health == nil {
		d.Health = func() *pb.Health { return &pb.Health{} }
	}
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = protocol.DefaultMaxFrameSize
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	c := &Client{cfg: cfg, d: d, kick: make(chan struct{}, 1), start: d.Clock.Now()}
	for _, a := range append([]string{cfg.Address}, cfg.Alternates...) {
		if slices.Contains(c.addrs, a) {
			continue
		}
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			return nil, fmt.Errorf("sync: control plane address %q: %w", a, err)
		}
		c.addrs = append(c.addrs, a)
		c.tls = append(c.tls, &tls.Config{
			MinVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{cert},
			RootCAs:      pool,
			ServerName:   host,
			NextProtos:   []string{protocol.ALPN},
		})
	}
	return c, nil
}

// Kick asks the client to flush the outbox and send new audit records now
// (after an item was added or records were appended).
func (c *Client) Kick() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Connected reports whether a session with the control plane is up.
func (c *Client) Connected() bool { return c.connected.Load() }

// OnState sets a function called when the connection comes up or goes down.
func (c *Client) OnState(fn func(connected bool)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onState = fn
}

func (c *Client) setConnected(v bool) {
	if c.connected.Swap(v) == v {
		return
	}
	c.mu.Lock()
	fn := c.onState
	c.mu.Unlock()
	if fn != nil {
		fn(v)
	}
}

// Backoff returns the delay before reconnect attempt n (0-based): min·2^n
// capped at max, then a uniformly random point in its upper half, so a
// fleet that lost the control plane together does not return together.
func Backoff(n int, lo, hi time.Duration, r *rand.Rand) time.Duration {
	d := lo
	for i := 0; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	half := d / 2
	return half + time.Duration(r.Int64N(int64(half)+1))
}

// Run keeps a session up until ctx ends; it returns nil then. When a
// session ends or cannot start, it tries the next control-plane address
// (Alternates) after a short random pause (below BackoffMin, so a replica's
// sites do not all move at once); after every address failed in a row it
// waits Backoff. A session that lasted longer than BackoffMax resets the
// attempt count. Cursors and the outbox make the move lossless: a replica
// serves from the shared store what the site has not acknowledged.
func (c *Client) Run(ctx context.Context) error {
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x5157))
	attempt, cur, failed := 0, 0, 0
	for ctx.Err() == nil {
		began, ups := c.d.Clock.Now(), c.ups.Load()
		err := c.session(ctx, cur)
		c.setConnected(false)
		if c.ups.Load() != ups {
			failed = 0 // it was up: this is the first failure in a row
		}
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrUnsupportedVersion) {
			return err
		}
		if c.d.Clock.Now().Sub(began) > c.cfg.BackoffMax {
			attempt = 0
		}
		failed++
		if len(c.addrs) > 1 {
			from := c.addrs[cur]
			cur = (cur + 1) % len(c.addrs)
			if failed < len(c.addrs) {
				pause := time.Duration(r.Int64N(int64(c.cfg.BackoffMin)))
				c.d.Log.Warn("control plane replica unreachable; trying the next", "address", from, "next", c.addrs[cur], "err", err.Error())
				select {
				case <-ctx.Done():
					return nil
				case <-c.d.Clock.After(pause):
				}
				continue
			}
		}
		failed = 0
		delay := Backoff(attempt, c.cfg.BackoffMin, c.cfg.BackoffMax, r)
		attempt++
		c.d.Log.Warn("control plane unreachable; working offline", "retry_in", delay.String(), "attempt", attempt, "err", err.Error())
		select {
		case <-ctx.Done():
			return nil
		case <-c.d.Clock.After(delay):
		}
	}
	return nil
}

func (c *Client) session(ctx context.Context, n int) error {
	addr := c.addrs[n]
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	conn, err := quic.DialAddr(dctx, addr, c.tls[n], &quic.Config{
		HandshakeIdleTimeout: c.cfg.DialTimeout,
		MaxIdleTimeout:       c.cfg.IdleTimeout,
		KeepAlivePeriod:      c.cfg.IdleTimeout / 3,
	})
	if err != nil {
		return fmt.Errorf("connect to %s: %w", addr, err)
	}
	defer conn.CloseWithError(0, "")
	ctrl, err := conn.OpenStreamSync(dctx)
	if err != nil {
		return fmt.Errorf("open control stream: %w", err)
	}
	welcome, err := c.hello(ctrl)
	if err != nil {
		return err
	}
	hb := time.Duration(welcome.GetHeartbeatIntervalSeconds()) * time.Second
	if hb <= 0 {
		hb = c.cfg.HeartbeatInterval
	}
	sctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	notify := make(chan string, 8)
	go c.readControl(sctx, stop, ctrl, notify)
	c.setConnected(true)
	c.ups.Add(1)
	c.d.Log.Info("connected to control plane", "address", addr, "protocol", welcome.GetProtocolVersion(),
		"server_version", welcome.GetServerVersion(), "heartbeat_s", int(hb/time.Second))

	if err := c.heartbeat(ctrl); err != nil {
		return err
	}
	if err := c.syncAll(sctx, conn); err != nil {
		return err
	}
	resync := c.d.Clock.After(c.cfg.ResyncInterval)
	hbTimer := c.d.Clock.After(hb)
	for {
		var err error
		select {
		case <-sctx.Done():
			return context.Cause(sctx)
		case <-hbTimer:
			hbTimer = c.d.Clock.After(hb)
			err = c.heartbeat(ctrl)
		case topic := <-notify:
			err = c.fetchTopic(sctx, conn, topic)
		case <-c.kick:
			if err = c.flush(sctx, conn); err == nil {
				err = c.witness(sctx, conn)
			}
		case <-resync:
			resync = c.d.Clock.After(c.cfg.ResyncInterval)
			err = c.syncAll(sctx, conn)
		}
		if err != nil {
			return err
		}
	}
}

func (c *Client) hello(ctrl *quic.Stream) (*pb.Welcome, error) {
	_ = ctrl.SetDeadline(time.Now().Add(c.cfg.DialTimeout))
	defer ctrl.SetDeadline(time.Time{})
	if err := protocol.WriteMessage(ctrl, &pb.Hello{ProtocolVersions: protocol.SupportedVersions(), RunnerVersion: c.cfg.RunnerVersion,
		SentAt: timestamppb.New(c.d.Clock.Now())}, c.cfg.MaxFrame); err != nil {
		return nil, fmt.Errorf("send hello: %w", err)
	}
	m, err := protocol.ReadMessage(ctrl, c.cfg.MaxFrame)
	if err != nil {
		return nil, fmt.Errorf("read welcome: %w", err)
	}
	switch m := m.(type) {
	case *pb.Welcome:
		if _, ok := protocol.Negotiate([]uint32{m.GetProtocolVersion()}); !ok {
			return nil, fmt.Errorf("%w: control plane chose version %d", ErrUnsupportedVersion, m.GetProtocolVersion())
		}
		return m, nil
	case *pb.Error:
		if m.GetCode() == pb.ErrorCode_ERROR_CODE_UNSUPPORTED_VERSION {
			return nil, fmt.Errorf("%w: %s", ErrUnsupportedVersion, m.GetMessage())
		}
		return nil, fmt.Errorf("control plane refused hello: %s (%s)", m.GetMessage(), m.GetCode())
	default:
		return nil, fmt.Errorf("%w: expected welcome, got %T", ErrProtocol, m)
	}
}

func (c *Client) heartbeat(ctrl *quic.Stream) error {
	h := c.d.Health()
	if h == nil {
		h = &pb.Health{}
	}
	h.UptimeSeconds = uint64(c.d.Clock.Now().Sub(c.start) / time.Second)
	if h.ScopeVersion == 0 {
		h.ScopeVersion = c.d.Scope.InUse()
	}
	_ = ctrl.SetWriteDeadline(time.Now().Add(c.cfg.StreamTimeout))
	err := protocol.WriteMessage(ctrl, &pb.Heartbeat{Seq: c.hbSeq.Add(1), SentAt: timestamppb.New(c.d.Clock.Now()),
		RunnerVersion: c.cfg.RunnerVersion, Health: h}, c.cfg.MaxFrame)
	if err != nil {
		return fmt.Errorf("send heartbeat: %w", err)
	}
	c.d.Log.Debug("heartbeat sent", "seq", c.hbSeq.Load())
	return nil
}

func (c *Client) readControl(ctx context.Context, stop context.CancelCauseFunc, ctrl *quic.Stream, notify chan<- string) {
	for ctx.Err() == nil {
		m, err := protocol.ReadMessage(ctrl, c.cfg.MaxFrame)
		if err != nil {
			stop(fmt.Errorf("control stream: %w", err))
			return
		}
		n, ok := m.(*pb.Notify)
		if !ok {
			stop(fmt.Errorf("%w: %T on the control stream", ErrProtocol, m))
			return
		}
		select {
		case notify <- n.GetTopic():
		default: // a fetch of every topic is already due
		}
	}
}
