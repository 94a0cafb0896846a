// Package notify pushes what supervisors must look at to the team's chat
// and PSA: a Notifier reads the store's upstream items and witness alerts
// by their insertion order (persisting how far it read), turns each into
// an Event (escalation.opened, approval.requested, approval.expiring,
// witness.alert), and delivers it to every configured webhook target that
// wants it, through a durable outbox in the store: at least once, in order
// and one at a time per target, with bounded exponential retries. Several
// replicas on one PostgreSQL store share the work by leasing outbox rows.
//
// The configuration (Config, LoadConfig) is a YAML file holding webhook
// URLs and HMAC secrets; it must not be readable by group or others.
// docs/notify.md is the user's reference.
package notify
