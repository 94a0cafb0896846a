-- Sitewarden control plane schema, version 1 (PostgreSQL body of
-- ../0001_init.sql: same tables, columns and keys; BIGINT for times in Unix
-- nanoseconds and counters, BYTEA for blobs, identity columns for cursors,
-- and a seq column where SQLite orders by rowid).
CREATE TABLE sites (
	tenant         TEXT NOT NULL,
	client         TEXT NOT NULL,
	site           TEXT NOT NULL,
	cert_serial    TEXT NOT NULL DEFAULT '',
	cert_not_after BIGINT NOT NULL DEFAULT 0,
	enrolled_at    BIGINT NOT NULL DEFAULT 0,
	last_seen      BIGINT NOT NULL DEFAULT 0,
	runner_version TEXT NOT NULL DEFAULT '',
	health         BYTEA,
	PRIMARY KEY (client, site)
);

CREATE TABLE tokens (
	hash       TEXT PRIMARY KEY,
	tenant     TEXT NOT NULL,
	client     TEXT NOT NULL,
	site       TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	used_at    BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE scopes (
	client     TEXT NOT NULL,
	version    BIGINT NOT NULL,
	bundle     BYTEA NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (client, version)
);

CREATE TABLE goals (
	cursor  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	client  TEXT NOT NULL,
	site    TEXT NOT NULL,
	id      TEXT NOT NULL,
	payload BYTEA NOT NULL,
	UNIQUE (client, id)
);
CREATE INDEX goals_site ON goals (client, site, cursor);

CREATE TABLE items (
	seq         BIGINT GENERATED ALWAYS AS IDENTITY,
	kind        TEXT NOT NULL,
	client      TEXT NOT NULL,
	site        TEXT NOT NULL,
	id          TEXT NOT NULL,
	payload     BYTEA NOT NULL,
	received_at BIGINT NOT NULL,
	PRIMARY KEY (kind, client, id)
);
CREATE INDEX items_order ON items (kind, client, seq);

CREATE TABLE decisions (
	cursor      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	client      TEXT NOT NULL,
	site        TEXT NOT NULL,
	approval_id TEXT NOT NULL,
	payload     BYTEA NOT NULL,
	UNIQUE (client, approval_id)
);
CREATE INDEX decisions_site ON decisions (client, site, cursor);

CREATE TABLE checkpoints (
	client       TEXT NOT NULL,
	site         TEXT NOT NULL,
	size         BIGINT NOT NULL,
	root         BYTEA NOT NULL,
	note         BYTEA NOT NULL,
	cosigned     BYTEA NOT NULL,
	witnessed_at BIGINT NOT NULL,
	PRIMARY KEY (client, site, size)
);

CREATE TABLE audit_records (
	seq    BIGINT GENERATED ALWAYS AS IDENTITY,
	client TEXT NOT NULL,
	site   TEXT NOT NULL,
	idx    BIGINT NOT NULL,
	record BYTEA NOT NULL,
	PRIMARY KEY (client, site, idx)
);

-- PostgreSQL only: once-per-period background work across replicas
-- (store.Once). A single SQLite node needs no such coordination.
CREATE TABLE job_runs (
	name    TEXT NOT NULL,
	period  BIGINT NOT NULL,
	holder  TEXT NOT NULL,
	done_at BIGINT NOT NULL,
	PRIMARY KEY (name, period)
);
