-- Sitewarden control plane schema, version 1.
CREATE TABLE sites (
	tenant         TEXT NOT NULL,
	client         TEXT NOT NULL,
	site           TEXT NOT NULL,
	cert_serial    TEXT NOT NULL DEFAULT '',
	cert_not_after INTEGER NOT NULL DEFAULT 0,
	enrolled_at    INTEGER NOT NULL DEFAULT 0,
	last_seen      INTEGER NOT NULL DEFAULT 0,
	runner_version TEXT NOT NULL DEFAULT '',
	health         BLOB,
	PRIMARY KEY (client, site)
);

CREATE TABLE tokens (
	hash       TEXT PRIMARY KEY,
	tenant     TEXT NOT NULL,
	client     TEXT NOT NULL,
	site       TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	used_at    INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE scopes (
	client     TEXT NOT NULL,
	version    INTEGER NOT NULL,
	bundle     BLOB NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (client, version)
);

CREATE TABLE goals (
	cursor  INTEGER PRIMARY KEY AUTOINCREMENT,
	client  TEXT NOT NULL,
	site    TEXT NOT NULL,
	id      TEXT NOT NULL,
	payload BLOB NOT NULL,
	UNIQUE (client, id)
);
CREATE INDEX goals_site ON goals (client, site, cursor);

CREATE TABLE items (
	kind        TEXT NOT NULL,
	client      TEXT NOT NULL,
	site        TEXT NOT NULL,
	id          TEXT NOT NULL,
	payload     BLOB NOT NULL,
	received_at INTEGER NOT NULL,
	PRIMARY KEY (kind, client, id)
);

CREATE TABLE decisions (
	cursor      INTEGER PRIMARY KEY AUTOINCREMENT,
	client      TEXT NOT NULL,
	site        TEXT NOT NULL,
	approval_id TEXT NOT NULL,
	payload     BLOB NOT NULL,
	UNIQUE (client, approval_id)
);
CREATE INDEX decisions_site ON decisions (client, site, cursor);

CREATE TABLE checkpoints (
	client       TEXT NOT NULL,
	site         TEXT NOT NULL,
	size         INTEGER NOT NULL,
	root         BLOB NOT NULL,
	note         BLOB NOT NULL,
	cosigned     BLOB NOT NULL,
	witnessed_at INTEGER NOT NULL,
	PRIMARY KEY (client, site, size)
);

CREATE TABLE audit_records (
	client TEXT NOT NULL,
	site   TEXT NOT NULL,
	idx    INTEGER NOT NULL,
	record BLOB NOT NULL,
	PRIMARY KEY (client, site, idx)
);
