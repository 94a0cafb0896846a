-- Sitewarden control plane schema, version 3: people and access (local
-- accounts, server-side sessions, API tokens) and the supervisors' state of
-- an escalation (claimed, resolved). Secrets are never stored: sessions and
-- tokens by the SHA-256 of their secret, passwords as argon2id hashes.
CREATE TABLE users (
	name          TEXT PRIMARY KEY,
	role          TEXT NOT NULL,
	client        TEXT NOT NULL DEFAULT '',
	password_hash TEXT NOT NULL DEFAULT '',
	setup_hash    TEXT NOT NULL DEFAULT '',
	setup_expires INTEGER NOT NULL DEFAULT 0,
	disabled      INTEGER NOT NULL DEFAULT 0,
	created_at    INTEGER NOT NULL
);

CREATE TABLE sessions (
	hash       TEXT PRIMARY KEY,
	user       TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
	csrf       TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE api_tokens (
	id         TEXT PRIMARY KEY,
	hash       TEXT NOT NULL UNIQUE,
	user       TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
	name       TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE escalation_states (
	client      TEXT NOT NULL,
	id          TEXT NOT NULL,
	claimed_by  TEXT NOT NULL DEFAULT '',
	claimed_at  INTEGER NOT NULL DEFAULT 0,
	resolved_by TEXT NOT NULL DEFAULT '',
	resolved_at INTEGER NOT NULL DEFAULT 0,
	note        TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (client, id)
);
