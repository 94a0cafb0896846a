-- PostgreSQL body of ../0005_stats.sql: the same tables with BIGINT for SQLite's INTEGER.
-- Sitewarden control plane schema, version 5: fact tables behind the
-- supervisors' dashboards, escalation queue filters and audit search
-- (store.Stats). Goals, items and audit records keep their payloads as
-- protobuf or canonical encodings; RefreshStats decodes each once into
-- these rows, so pages read small indexed tables. Times are Unix
-- nanoseconds, days are Unix nanoseconds / 86400e9 (UTC days).
CREATE TABLE goal_facts (
	client      TEXT NOT NULL,
	goal_id     TEXT NOT NULL,
	site        TEXT NOT NULL DEFAULT '',
	agent       TEXT NOT NULL DEFAULT '',
	workflow    TEXT NOT NULL DEFAULT '',
	day         BIGINT NOT NULL DEFAULT 0,
	status      TEXT NOT NULL DEFAULT 'assigned',
	finished_at BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (client, goal_id)
);

-- goal_daily counts goal_facts by (day, client, workflow, status); kept in
-- step with goal_facts by RefreshStats.
CREATE TABLE goal_daily (
	day      BIGINT NOT NULL,
	client   TEXT NOT NULL,
	workflow TEXT NOT NULL,
	status   TEXT NOT NULL,
	n        BIGINT NOT NULL,
	PRIMARY KEY (day, client, workflow, status)
);
CREATE INDEX goal_daily_client ON goal_daily (client, day);

CREATE TABLE escalation_facts (
	client      TEXT NOT NULL,
	id          TEXT NOT NULL,
	site        TEXT NOT NULL,
	goal_id     TEXT NOT NULL DEFAULT '',
	workflow    TEXT NOT NULL DEFAULT '',
	reason      TEXT NOT NULL DEFAULT '',
	received_at BIGINT NOT NULL,
	PRIMARY KEY (client, id)
);
CREATE INDEX escalation_facts_received ON escalation_facts (received_at);
CREATE INDEX escalation_facts_client ON escalation_facts (client, received_at);

CREATE TABLE approval_facts (
	client       TEXT NOT NULL,
	id           TEXT NOT NULL,
	site         TEXT NOT NULL,
	goal_id      TEXT NOT NULL DEFAULT '',
	workflow     TEXT NOT NULL DEFAULT '',
	action       TEXT NOT NULL DEFAULT '',
	requested_at BIGINT NOT NULL,
	expires_at   BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (client, id)
);
CREATE INDEX approval_facts_requested ON approval_facts (requested_at);
CREATE INDEX approval_facts_client ON approval_facts (client, requested_at);

CREATE TABLE audit_facts (
	client  TEXT NOT NULL,
	site    TEXT NOT NULL,
	idx     BIGINT NOT NULL,
	kind    TEXT NOT NULL,
	goal_id TEXT NOT NULL DEFAULT '',
	at      BIGINT NOT NULL,
	PRIMARY KEY (client, site, idx)
);
CREATE INDEX audit_facts_goal ON audit_facts (client, goal_id);
CREATE INDEX audit_facts_at ON audit_facts (client, at);

CREATE TABLE audit_alerts (
	client TEXT NOT NULL,
	site   TEXT NOT NULL,
	at     BIGINT NOT NULL,
	reason TEXT NOT NULL
);
CREATE INDEX audit_alerts_site ON audit_alerts (client, site, at);

-- stats_marks holds how far RefreshStats got in each source: the goals'
-- cursor, and the SQLite rowid of items and audit_records (a PostgreSQL
-- store uses its own sequence column there).
CREATE TABLE stats_marks (
	source TEXT PRIMARY KEY,
	mark   BIGINT NOT NULL
);
