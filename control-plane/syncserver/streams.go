package syncserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/quic-go/quic-go"
	"google.golang.org/protobuf/proto"

	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/protocol"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

// Fetch stream names: the value of Ack.stream that opens a downstream fetch.
const (
	StreamGoals     = "goals"
	StreamApprovals = "approvals"
)

// maxItemsPerStream bounds the upstream items one stream may carry.
const maxItemsPerStream = 10000

func (s *Server) serveStream(ctx context.Context, ss *session, st *quic.Stream, log *slog.Logger) {
	defer st.Close()
	for n := 0; n < maxItemsPerStream; n++ {
		_ = st.SetDeadline(time.Now().Add(s.cfg.StreamTimeout))
		f, err := protocol.ReadFrame(st, s.cfg.MaxFrame)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			log.Debug("transfer stream ended", "err", err)
			st.CancelRead(0)
			return
		}
		m, err := protocol.DecodeFrame(f)
		if err != nil {
			s.reply(st, refuse(pb.ErrorCode_ERROR_CODE_BAD_FRAME, "", err.Error()))
			return
		}
		var more bool
		switch m := m.(type) {
		case *pb.ScopeRequest:
			s.serveScope(ctx, ss, st, m, log)
		case *pb.Ack:
			s.serveFetch(ctx, ss, st, m, log)
		case *pb.Escalation, *pb.ApprovalRequest, *pb.Outcome:
			more = s.reply(st, s.applyItem(ctx, ss.id, m, f.Payload, log))
		case *pb.AuditBatch:
			if s.auditor == nil {
				more = s.reply(st, &pb.Error{Code: pb.ErrorCode_ERROR_CODE_UNAVAILABLE, Message: "this control plane keeps no audit mirror", Retryable: true})
			} else {
				more = s.reply(st, s.auditor.apply(ctx, s.store, ss.id, m, s.now(), log))
			}
		default:
			s.reply(st, refuse(pb.ErrorCode_ERROR_CODE_BAD_FRAME, "", fmt.Sprintf("a %s frame cannot open a transfer", f.Type)))
		}
		if !more {
			return
		}
	}
}

// reply writes m and reports whether the stream may carry more items.
func (s *Server) reply(st *quic.Stream, m proto.Message) bool {
	return protocol.WriteMessage(st, m, s.cfg.MaxFrame) == nil
}

func refuse(code pb.ErrorCode, item, msg string) *pb.Error {
	return &pb.Error{Code: code, ItemId: item, Message: msg}
}

func (s *Server) serveScope(ctx context.Context, ss *session, st *quic.Stream, m *pb.ScopeRequest, log *slog.Logger) {
	sv, err := s.store.LatestScope(ctx, ss.id.Client)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.reply(st, refuse(pb.ErrorCode_ERROR_CODE_NOT_FOUND, "", "no scope published for this client yet"))
		return
	case err != nil:
		log.Error("read scope", "err", err)
		s.reply(st, &pb.Error{Code: pb.ErrorCode_ERROR_CODE_UNAVAILABLE, Message: "store unavailable", Retryable: true})
		return
	case sv.Version <= m.GetHaveVersion():
		s.reply(st, refuse(pb.ErrorCode_ERROR_CODE_NOT_FOUND, "", fmt.Sprintf("no scope newer than v%d", m.GetHaveVersion())))
		return
	}
	var b pb.ScopeBundle
	if err := proto.Unmarshal(sv.Bundle, &b); err != nil || b.GetClientId() != ss.id.Client {
		log.Error("stored scope bundle is unusable", "version", sv.Version, "bundle_client", b.GetClientId(), "err", err)
		s.reply(st, &pb.Error{Code: pb.ErrorCode_ERROR_CODE_INTERNAL, Message: "stored scope bundle is unusable"})
		return
	}
	s.reply(st, &b)
}

func (s *Server) serveFetch(ctx context.Context, ss *session, st *quic.Stream, m *pb.Ack, log *slog.Logger) {
	switch m.GetStream() {
	case StreamGoals:
		goals, err := s.store.GoalsAfter(ctx, ss.id.Client, ss.id.Site, m.GetCursor(), s.cfg.FetchLimit)
		if err != nil {
			log.Error("read goals", "err", err)
			s.reply(st, &pb.Error{Code: pb.ErrorCode_ERROR_CODE_UNAVAILABLE, Message: "store unavailable", Retryable: true})
			return
		}
		for _, g := range goals {
			var goal pb.Goal
			if err := proto.Unmarshal(g.Payload, &goal); err != nil {
				log.Error("stored goal is unusable", "goal", g.ID, "err", err)
				continue
			}
			if !s.reply(st, &pb.GoalAssignment{Goal: &goal, Cursor: g.Cursor}) {
				return
			}
		}
	case StreamApprovals:
		ds, err := s.store.DecisionsAfter(ctx, ss.id.Client, ss.id.Site, m.GetCursor(), s.cfg.FetchLimit)
		if err != nil {
			log.Error("read decisions", "err", err)
			s.reply(st, &pb.Error{Code: pb.ErrorCode_ERROR_CODE_UNAVAILABLE, Message: "store unavailable", Retryable: true})
			return
		}
		for _, d := range ds {
			var dec pb.ApprovalDecision
			if err := proto.Unmarshal(d.Payload, &dec); err != nil {
				log.Error("stored decision is unusable", "approval", d.ApprovalID, "err", err)
				continue
			}
			// The cursor travels in an Ack after each decision.
			if !s.reply(st, &dec) || !s.reply(st, &pb.Ack{Stream: StreamApprovals, ItemId: d.ApprovalID, Cursor: d.Cursor}) {
				return
			}
		}
	default:
		s.reply(st, refuse(pb.ErrorCode_ERROR_CODE_INVALID, "", fmt.Sprintf("unknown fetch stream %q; use %q or %q", m.GetStream(), StreamGoals, StreamApprovals)))
	}
}

// applyItem files an upstream item under the certificate's client and
// site, after refusing any that names another.
func (s *Server) applyItem(ctx context.Context, id store.Identity, m proto.Message, payload []byte, log *slog.Logger) proto.Message {
	var it store.Item
	var claimClient, claimSite string
	switch m := m.(type) {
	case *pb.Escalation:
		it = store.Item{Kind: store.KindEscalation, ID: m.GetEscalationId()}
		claimClient, claimSite = m.GetGoal().GetClientId(), m.GetGoal().GetSiteId()
	case *pb.ApprovalRequest:
		it = store.Item{Kind: store.KindApprovalRequest, ID: m.GetApprovalId()}
	case *pb.Outcome:
		it = store.Item{Kind: store.KindOutcome, ID: m.GetGoalId()}
	}
	if it.ID == "" || len(it.ID) > 200 {
		return refuse(pb.ErrorCode_ERROR_CODE_INVALID, it.ID, fmt.Sprintf("%s needs an id of 1-200 bytes", it.Kind))
	}
	if claimClient != "" && claimClient != id.Client || claimSite != "" && claimSite != id.Site {
		log.Warn("refused write for another client or site", "kind", string(it.Kind), "item", it.ID,
			"claimed_client", claimClient, "claimed_site", claimSite)
		return refuse(pb.ErrorCode_ERROR_CODE_FORBIDDEN, it.ID, fmt.Sprintf(
			"this site's certificate names %s/%s; it may not write for %s/%s", id.Client, id.Site, claimClient, claimSite))
	}
	if it.Kind == store.KindOutcome {
		// An outcome belongs to its goal's site: a site of the same client
		// must not close another site's goal (a goal the control plane
		// did not assign, submitted on the site, has no row).
		g, err := s.store.Goal(ctx, id.Client, it.ID)
		switch {
		case err == nil && g.Site != id.Site:
			log.Warn("refused outcome for another site's goal", "goal", it.ID, "goal_site", g.Site)
			return refuse(pb.ErrorCode_ERROR_CODE_FORBIDDEN, it.ID, fmt.Sprintf(
				"goal %s was assigned to site %s, not this site %s", it.ID, g.Site, id.Site))
		case err != nil && !errors.Is(err, store.ErrNotFound):
			log.Error("read goal", "goal", it.ID, "err", err)
			return &pb.Error{Code: pb.ErrorCode_ERROR_CODE_UNAVAILABLE, ItemId: it.ID, Message: "store unavailable", Retryable: true}
		}
	}
	it.Client, it.Site, it.Payload, it.ReceivedAt = id.Client, id.Site, payload, s.now()
	applied, err := s.store.PutItem(ctx, it)
	if err != nil {
		log.Error("store item", "kind", string(it.Kind), "item", it.ID, "err", err)
		return &pb.Error{Code: pb.ErrorCode_ERROR_CODE_UNAVAILABLE, ItemId: it.ID, Message: "store unavailable", Retryable: true}
	}
	if applied {
		s.stats.observe(it.Kind, m, it.ReceivedAt)
	} else if prev, err := s.store.Item(ctx, it.Kind, it.Client, it.ID); err == nil && prev.Site != id.Site {
		// Item ids are unique per client: a repeat from this site is a
		// retry (acknowledged again), but another site's id is not this
		// site's to reuse, and its item was not stored.
		log.Warn("refused item whose id another site of the client holds", "kind", string(it.Kind), "item", it.ID, "holder", prev.Site)
		return refuse(pb.ErrorCode_ERROR_CODE_FORBIDDEN, it.ID, fmt.Sprintf(
			"%s id %s of client %s is held by another site; this item was not stored", it.Kind, it.ID, it.Client))
	}
	log.Debug("item received", "kind", string(it.Kind), "item", it.ID, "applied", applied)
	return &pb.Ack{Stream: string(it.Kind), ItemId: it.ID}
}
