package sync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/quic-go/quic-go"
	"google.golang.org/protobuf/proto"

	"github.com/sitewarden/sitewarden/protocol"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

// Stream and topic names.
const (
	StreamGoals     = "goals"
	StreamApprovals = "approvals"
	TopicScope      = "scope"
)

// maxRounds bounds the fetch or flush rounds one sync pass makes.
const maxRounds = 1000

func (c *Client) syncAll(ctx context.Context, conn *quic.Conn) error {
	for _, topic := range []string{TopicScope, StreamGoals, StreamApprovals} {
		if err := c.fetchTopic(ctx, conn, topic); err != nil {
			return err
		}
	}
	if err := c.flush(ctx, conn); err != nil {
		return err
	}
	return c.witness(ctx, conn)
}

func (c *Client) fetchTopic(ctx context.Context, conn *quic.Conn, topic string) error {
	switch topic {
	case TopicScope:
		return c.fetchScope(ctx, conn)
	case StreamGoals, StreamApprovals:
		for range maxRounds {
			n, err := c.fetchStream(ctx, conn, topic)
			if err != nil || n == 0 {
				return err
			}
		}
		return nil
	default:
		c.d.Log.Debug("notify for an unknown topic ignored", "topic", topic)
		return nil
	}
}

// transfer opens a stream, writes first, closes the send side, and returns
// the stream for reading the answer.
func (c *Client) transfer(ctx context.Context, conn *quic.Conn, first ...proto.Message) (*quic.Stream, error) {
	octx, cancel := context.WithTimeout(ctx, c.cfg.StreamTimeout)
	defer cancel()
	st, err := conn.OpenStreamSync(octx)
	if err != nil {
		return nil, fmt.Errorf("open stream: %w", err)
	}
	_ = st.SetDeadline(time.Now().Add(c.cfg.StreamTimeout))
	for _, m := range first {
		if err := protocol.WriteMessage(st, m, c.cfg.MaxFrame); err != nil {
			st.CancelRead(0)
			return nil, err
		}
	}
	if err := st.Close(); err != nil {
		return nil, err
	}
	return st, nil
}

func (c *Client) read(st *quic.Stream) (proto.Message, error) {
	_ = st.SetReadDeadline(time.Now().Add(c.cfg.StreamTimeout))
	return protocol.ReadMessage(st, c.cfg.MaxFrame)
}

func (c *Client) fetchScope(ctx context.Context, conn *quic.Conn) error {
	st, err := c.transfer(ctx, conn, &pb.ScopeRequest{HaveVersion: c.d.Scope.InUse()})
	if err != nil {
		return fmt.Errorf("fetch scope: %w", err)
	}
	defer st.CancelRead(0)
	m, err := c.read(st)
	if err != nil {
		return fmt.Errorf("fetch scope: %w", err)
	}
	switch m := m.(type) {
	case *pb.ScopeBundle:
		if err := c.d.Scope.Offer(ctx, m); err != nil {
			// A refused bundle is not a connection problem: keep the old
			// one and say why.
			c.d.Log.Error("scope bundle refused; keeping the last good one", "version", m.GetVersion(), "err", err.Error())
			return nil
		}
		c.d.Log.Info("scope bundle updated", "version", m.GetVersion(), "expires", m.GetExpiresAt().AsTime())
		return nil
	case *pb.Error:
		if m.GetCode() == pb.ErrorCode_ERROR_CODE_NOT_FOUND {
			return nil
		}
		return fmt.Errorf("fetch scope: control plane: %s (%s)", m.GetMessage(), m.GetCode())
	default:
		return fmt.Errorf("fetch scope: %w: got %T", ErrProtocol, m)
	}
}

// fetchStream fetches one page of goals or decisions and returns how many
// it applied.
func (c *Client) fetchStream(ctx context.Context, conn *quic.Conn, stream string) (int, error) {
	cursor, err := c.d.Inbox.Cursor(ctx, stream)
	if err != nil {
		return 0, fmt.Errorf("fetch %s: %w", stream, err)
	}
	st, err := c.transfer(ctx, conn, &pb.Ack{Stream: stream, Cursor: cursor})
	if err != nil {
		return 0, fmt.Errorf("fetch %s: %w", stream, err)
	}
	defer st.CancelRead(0)
	n := 0
	var pending *pb.ApprovalDecision
	for {
		m, err := c.read(st)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("fetch %s: %w", stream, err)
		}
		switch m := m.(type) {
		case *pb.GoalAssignment:
			if stream != StreamGoals || m.GetCursor() <= cursor {
				return n, fmt.Errorf("fetch %s: %w: goal at cursor %d after %d", stream, ErrProtocol, m.GetCursor(), cursor)
			}
			if err := c.d.Inbox.Apply(ctx, stream, m.GetCursor(), m); err != nil {
				return n, fmt.Errorf("fetch %s: apply: %w", stream, err)
			}
			cursor = m.GetCursor()
			n++
		case *pb.ApprovalDecision:
			if stream != StreamApprovals || pending != nil {
				return n, fmt.Errorf("fetch %s: %w: unexpected decision", stream, ErrProtocol)
			}
			pending = m
		case *pb.Ack:
			if pending == nil || m.GetItemId() != pending.GetApprovalId() || m.GetCursor() <= cursor {
				return n, fmt.Errorf("fetch %s: %w: ack without its decision", stream, ErrProtocol)
			}
			if err := c.d.Inbox.Apply(ctx, stream, m.GetCursor(), pending); err != nil {
				return n, fmt.Errorf("fetch %s: apply: %w", stream, err)
			}
			cursor, pending = m.GetCursor(), nil
			n++
		case *pb.Error:
			return n, fmt.Errorf("fetch %s: control plane: %s (%s)", stream, m.GetMessage(), m.GetCode())
		default:
			return n, fmt.Errorf("fetch %s: %w: got %T", stream, ErrProtocol, m)
		}
	}
}

// flush sends outbox items in order, a batch per stream, removing each only
// when its Ack arrives.
func (c *Client) flush(ctx context.Context, conn *quic.Conn) error {
	for range maxRounds {
		items, err := c.d.Outbox.Pending(ctx, c.cfg.BatchSize)
		if err != nil {
			return fmt.Errorf("flush outbox: %w", err)
		}
		if len(items) == 0 {
			return nil
		}
		if err := c.sendBatch(ctx, conn, items); err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) sendBatch(ctx context.Context, conn *quic.Conn, items []Item) error {
	octx, cancel := context.WithTimeout(ctx, c.cfg.StreamTimeout)
	defer cancel()
	st, err := conn.OpenStreamSync(octx)
	if err != nil {
		return fmt.Errorf("flush outbox: open stream: %w", err)
	}
	defer st.CancelRead(0)
	_ = st.SetDeadline(time.Now().Add(c.cfg.StreamTimeout))
	for _, it := range items {
		if err := protocol.WriteFrame(st, protocol.Frame{Type: it.Type, Payload: it.Payload}, c.cfg.MaxFrame); err != nil {
			if errors.Is(err, protocol.ErrFrameTooLarge) || errors.Is(err, protocol.ErrUnknownFrameType) {
				// Never sendable: set aside rather than block the queue.
				_ = c.d.Outbox.Reject(ctx, it, err.Error())
				st.CancelWrite(0)
				return nil
			}
			return fmt.Errorf("flush outbox: %w", err)
		}
	}
	if err := st.Close(); err != nil {
		return fmt.Errorf("flush outbox: %w", err)
	}
	for _, it := range items {
		m, err := c.read(st)
		if err != nil {
			return fmt.Errorf("flush outbox: waiting for ack of %s: %w", it.ID, err)
		}
		switch m := m.(type) {
		case *pb.Ack:
			if m.GetItemId() != it.ID {
				return fmt.Errorf("flush outbox: %w: ack for %q, expected %q", ErrProtocol, m.GetItemId(), it.ID)
			}
			if err := c.d.Outbox.Done(ctx, it); err != nil {
				return fmt.Errorf("flush outbox: %w", err)
			}
		case *pb.Error:
			if m.GetRetryable() {
				return fmt.Errorf("flush outbox: %s: control plane: %s (%s)", it.ID, m.GetMessage(), m.GetCode())
			}
			c.d.Log.Error("control plane refused an item; set aside", "item", it.ID, "code", m.GetCode().String(), "reason", m.GetMessage())
			if err := c.d.Outbox.Reject(ctx, it, fmt.Sprintf("%s: %s", m.GetCode(), m.GetMessage())); err != nil {
				return fmt.Errorf("flush outbox: %w", err)
			}
		default:
			return fmt.Errorf("flush outbox: %w: got %T", ErrProtocol, m)
		}
	}
	return nil
}

// witness sends audit batches until the Witness has nothing new.
func (c *Client) witness(ctx context.Context, conn *quic.Conn) error {
	if c.d.Witness == nil {
		return nil
	}
	for range maxRounds {
		b, err := c.d.Witness.NextBatch(ctx, c.acked.Load())
		if err != nil {
			return fmt.Errorf("audit batch: %w", err)
		}
		if b == nil {
			return nil
		}
		st, err := c.transfer(ctx, conn, b)
		if err != nil {
			return fmt.Errorf("audit batch: %w", err)
		}
		m, err := c.read(st)
		st.CancelRead(0)
		if err != nil {
			return fmt.Errorf("audit batch: %w", err)
		}
		switch m := m.(type) {
		case *pb.CheckpointCosignature:
			if err := c.d.Witness.Cosigned(ctx, m); err != nil {
				return fmt.Errorf("audit batch: %w", err)
			}
			c.acked.Store(m.GetTreeSize())
		case *pb.Error:
			c.d.Log.Error("control plane refused an audit batch", "code", m.GetCode().String(), "reason", m.GetMessage())
			return nil
		default:
			return fmt.Errorf("audit batch: %w: got %T", ErrProtocol, m)
		}
	}
	return nil
}
