package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/sitewarden/sitewarden/control-plane/store"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

// EventVersion is the version of the Event JSON format (docs/notify.md).
const EventVersion = 1

// Text bounds: names (client, site, goal, workflow) and the summary come
// from sites and tickets, so they are untrusted; they are cleaned and cut.
const (
	maxName    = 128
	maxSummary = 300
	maxReason  = 200
)

// Event is one notification, as FormatJSON bodies carry it. ID is stable
// (the same event read twice has the same ID): receivers use it as the
// idempotency key.
type Event struct {
	Version  int       `json:"version"`
	ID       string    `json:"id"`
	Type     string    `json:"type"`
	Time     time.Time `json:"time"`
	Tenant   string    `json:"tenant"`
	Client   string    `json:"client"`
	Site     string    `json:"site"`
	GoalID   string    `json:"goal_id,omitempty"`
	Workflow string    `json:"workflow,omitempty"`
	// Summary is one line for people, at most 300 characters.
	Summary string `json:"summary"`
	// Link is the web UI page of the escalation, approval or site.
	Link string `json:"link"`
	// ExpiresAt is an approval's expiry (approval events).
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// clean makes untrusted text one line of at most n runes: control
// characters and line breaks become spaces, runs of spaces collapse.
func clean(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	var b strings.Builder
	space, runes := false, 0
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Cf, r) {
			space = b.Len() > 0
			continue
		}
		if runes >= n {
			return strings.TrimSpace(b.String()) + "…"
		}
		if space {
			b.WriteByte(' ')
			runes++
			space = false
		}
		b.WriteRune(r)
		runes++
	}
	return b.String()
}

func (c Config) link(parts ...string) string {
	base := strings.TrimRight(c.BaseURL, "/")
	for _, p := range parts {
		base += "/" + url.PathEscape(p)
	}
	return base
}

// itemEvents turns an escalation or approval request into its event, and
// for an approval with an expiry the approval.expiring event due at
// expiry - ApprovalLead.
func (c Config) itemEvents(it store.Item) (Event, *store.NotifyDue) {
	e := Event{Version: EventVersion, Time: it.ReceivedAt.UTC(), Tenant: c.Tenant, Client: clean(it.Client, maxName), Site: clean(it.Site, maxName)}
	switch it.Kind {
	case store.KindEscalation:
		var m pb.Escalation
		_ = proto.Unmarshal(it.Payload, &m) // a malformed payload still notifies, with empty fields
		g := m.GetGoal()
		e.Type, e.ID = EventEscalationOpened, EventEscalationOpened+":"+it.Client+":"+it.ID
		e.GoalID, e.Workflow = clean(g.GetGoalId(), maxName), clean(g.GetWorkflow(), maxName)
		e.Summary = fmt.Sprintf("Escalation at %s/%s: %s goal %s: %s", e.Client, e.Site, orDash(e.Workflow), orDash(e.GoalID), orDash(clean(m.GetReason(), maxReason)))
		e.Link = c.link("escalations", it.Client, it.ID)
		return e, nil
	default:
		var m pb.ApprovalRequest
		_ = proto.Unmarshal(it.Payload, &m)
		e.Type, e.ID = EventApprovalRequested, EventApprovalRequested+":"+it.Client+":"+it.ID
		e.GoalID, e.Workflow = clean(m.GetGoalId(), maxName), clean(m.GetWorkflow(), maxName)
		action := clean(m.GetAction().GetAction(), maxName)
		e.Link = c.link("approvals", it.Client, it.ID)
		e.Summary = fmt.Sprintf("Approval requested at %s/%s: %s for %s goal %s", e.Client, e.Site, orDash(action), orDash(e.Workflow), orDash(e.GoalID))
		if m.GetExpiresAt() == nil {
			return e, nil
		}
		exp := m.GetExpiresAt().AsTime().UTC()
		e.ExpiresAt = &exp
		e.Summary += ", expires " + exp.Format("2006-01-02 15:04 UTC")
		x := e
		x.Type, x.ID = EventApprovalExpiring, EventApprovalExpiring+":"+it.Client+":"+it.ID
		x.Time = exp.Add(-c.ApprovalLead)
		x.Summary = fmt.Sprintf("Approval expiring %s at %s/%s: %s for %s goal %s; decide it or the goal escalates",
			exp.Format("2006-01-02 15:04 UTC"), e.Client, e.Site, orDash(action), orDash(e.Workflow), orDash(e.GoalID))
		body, _ := json.Marshal(x)
		return e, &store.NotifyDue{EventID: x.ID, Client: it.Client, ApprovalID: it.ID, DueAt: x.Time, ExpiresAt: exp, Body: body}
	}
}

// alertEvent turns a witness alert into its event.
func (c Config) alertEvent(a store.SeqAlert) Event {
	e := Event{Version: EventVersion, Type: EventWitnessAlert, ID: EventWitnessAlert + ":" + a.Client + ":" + a.Site + ":" + strconv.FormatInt(a.Seq, 10),
		Time: a.At.UTC(), Tenant: c.Tenant, Client: clean(a.Client, maxName), Site: clean(a.Site, maxName), Link: c.link("sites", a.Client, a.Site)}
	e.Summary = fmt.Sprintf("Audit witness alert for %s/%s: %s", e.Client, e.Site, orDash(clean(a.Reason, maxReason)))
	return e
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// chatText renders an event as one chat message, neutralizing what chat
// services interpret in untrusted text: for Slack-style formats (html)
// &, < and > are escaped, which also disarms <!channel>, <!here>,
// <!everyone>, <@user> and <url|text> links; for every chat format '@'
// gets a zero-width space after it (no @channel, @here, @all mentions in
// Mattermost and Rocket.Chat) and square brackets become their full-width
// forms (no markdown [text](url) links).
func chatText(e Event, html bool) string {
	s := clean(e.Summary, maxSummary)
	r := strings.NewReplacer("@", "@\u200b", "[", "［", "]", "］")
	s = r.Replace(s)
	if html {
		s = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
	}
	link := e.Link
	if html {
		link = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(link)
	}
	if link == "" {
		return s
	}
	return s + " " + link
}

// Render returns the request body of an event for a format, and its
// content type.
func Render(format string, e Event) ([]byte, error) {
	switch format {
	case FormatSlack:
		b, err := json.Marshal(struct {
			Text string `json:"text"`
		}{chatText(e, true)})
		return b, err
	case FormatTeams:
		type block struct {
			Type string `json:"type"`
			Text string `json:"text"`
			Wrap bool   `json:"wrap"`
		}
		type action struct {
			Type  string `json:"type"`
			Title string `json:"title"`
			URL   string `json:"url"`
		}
		card := map[string]any{"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4",
			"body": []block{{Type: "TextBlock", Text: chatText(Event{Summary: e.Summary}, false), Wrap: true}}}
		if e.Link != "" {
			card["actions"] = []action{{Type: "Action.OpenUrl", Title: "Open in Sitewarden", URL: e.Link}}
		}
		return json.Marshal(map[string]any{"type": "message",
			"attachments": []map[string]any{{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}}})
	case FormatJSON:
		return json.Marshal(e)
	}
	return nil, fmt.Errorf("%w: format %q", ErrConfig, format)
}

// Signature headers of FormatJSON requests.
const (
	HeaderSignature = "Sitewarden-Signature"
	HeaderTimestamp = "Sitewarden-Timestamp"
	HeaderEventID   = "Sitewarden-Event-Id"
	HeaderEventType = "Sitewarden-Event-Type"
)

// Sign returns the Sitewarden-Signature value for a body sent at
// timestamp ts (Unix seconds): "v1=" and the hex HMAC-SHA256, keyed by
// secret, of the timestamp, a '.', and the body.
func Sign(secret string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a received body against its Sitewarden-Signature and
// Sitewarden-Timestamp header values: the signature must match and the
// timestamp be within tolerance of now (replays of an old request fail).
func Verify(secret, signature, timestamp string, body []byte, now time.Time, tolerance time.Duration) error {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q is not Unix seconds", ErrBadSignature, timestamp)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: timestamp is %s away from now (tolerance %s)", ErrBadSignature, d.Round(time.Second), tolerance)
	}
	if !hmac.Equal([]byte(Sign(secret, ts, body)), []byte(signature)) {
		return fmt.Errorf("%w: HMAC does not match; check the target's secret", ErrBadSignature)
	}
	return nil
}
