-- Sitewarden control plane schema, version 8 (PostgreSQL): the outbound
-- notifications' outbox; see migrations/0008_notify.sql. seq orders rows
-- where SQLite uses rowid; audit_alerts gains one for the notifier's mark.
CREATE TABLE notify_marks (
	source TEXT PRIMARY KEY,
	mark   BIGINT NOT NULL
);

ALTER TABLE audit_alerts ADD COLUMN seq BIGINT GENERATED ALWAYS AS IDENTITY;
CREATE INDEX audit_alerts_seq ON audit_alerts (seq);

CREATE TABLE notify_outbox (
	seq         BIGINT GENERATED ALWAYS AS IDENTITY,
	target      TEXT NOT NULL,
	event_id    TEXT NOT NULL,
	client      TEXT NOT NULL,
	body        BYTEA NOT NULL,
	state       TEXT NOT NULL DEFAULT 'pending',
	created_at  BIGINT NOT NULL,
	next_at     BIGINT NOT NULL,
	give_up_at  BIGINT NOT NULL,
	attempts    BIGINT NOT NULL DEFAULT 0,
	lease_owner TEXT NOT NULL DEFAULT '',
	lease_until BIGINT NOT NULL DEFAULT 0,
	last_error  TEXT NOT NULL DEFAULT '',
	done_at     BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (target, event_id)
);
CREATE UNIQUE INDEX notify_outbox_seq ON notify_outbox (seq);
CREATE INDEX notify_outbox_state ON notify_outbox (target, state, seq);
CREATE INDEX notify_outbox_done ON notify_outbox (state, done_at);

CREATE TABLE notify_due (
	event_id    TEXT PRIMARY KEY,
	client      TEXT NOT NULL,
	approval_id TEXT NOT NULL,
	due_at      BIGINT NOT NULL,
	expires_at  BIGINT NOT NULL,
	body        BYTEA NOT NULL
);
CREATE INDEX notify_due_at ON notify_due (due_at);

-- The notifier reads items in seq order (SQLite: the rowid b-tree).
CREATE INDEX items_seq ON items (seq);
