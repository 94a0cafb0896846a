-- Sitewarden control plane schema, version 8: the outbound notifications'
-- outbox (control-plane/notify, docs/notify.md). Times are Unix nanoseconds.
--
-- notify_marks holds how far the notifier read each source it turns into
-- events: the rowid of items and of audit_alerts (a PostgreSQL store uses
-- its seq columns there).
CREATE TABLE notify_marks (
	source TEXT PRIMARY KEY,
	mark   INTEGER NOT NULL
);

-- notify_outbox holds one row per (target, event). A row is pending until
-- delivered or given up (failed); delivered and failed rows stay until
-- pruned, so that re-reading a source never delivers an event twice.
-- Deliveries of a target go in rowid order, one at a time: a replica
-- claims the target's oldest pending row with a lease (lease_owner,
-- lease_until); a replica that dies mid-delivery lets the lease expire.
CREATE TABLE notify_outbox (
	target      TEXT NOT NULL,
	event_id    TEXT NOT NULL,
	client      TEXT NOT NULL,
	body        BLOB NOT NULL,
	state       TEXT NOT NULL DEFAULT 'pending',
	created_at  INTEGER NOT NULL,
	next_at     INTEGER NOT NULL,
	give_up_at  INTEGER NOT NULL,
	attempts    INTEGER NOT NULL DEFAULT 0,
	lease_owner TEXT NOT NULL DEFAULT '',
	lease_until INTEGER NOT NULL DEFAULT 0,
	last_error  TEXT NOT NULL DEFAULT '',
	done_at     INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (target, event_id)
);
CREATE INDEX notify_outbox_state ON notify_outbox (target, state);
CREATE INDEX notify_outbox_done ON notify_outbox (state, done_at);

-- notify_due holds events that become due later (approval.expiring): at
-- due_at the notifier checks the approval is still undecided and moves
-- the event to the outbox.
CREATE TABLE notify_due (
	event_id    TEXT PRIMARY KEY,
	client      TEXT NOT NULL,
	approval_id TEXT NOT NULL,
	due_at      INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL,
	body        BLOB NOT NULL
);
CREATE INDEX notify_due_at ON notify_due (due_at);
