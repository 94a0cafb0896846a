-- Sitewarden control plane schema, version 3 (PostgreSQL body of
-- ../0003_people.sql): accounts, sessions, API tokens, escalation states.
-- "user" is a reserved word in PostgreSQL: the column keeps SQLite's name
-- and is quoted.
CREATE TABLE users (
	name          TEXT PRIMARY KEY,
	role          TEXT NOT NULL,
	client        TEXT NOT NULL DEFAULT '',
	password_hash TEXT NOT NULL DEFAULT '',
	setup_hash    TEXT NOT NULL DEFAULT '',
	setup_expires BIGINT NOT NULL DEFAULT 0,
	disabled      BOOLEAN NOT NULL DEFAULT FALSE,
	created_at    BIGINT NOT NULL
);

CREATE TABLE sessions (
	hash       TEXT PRIMARY KEY,
	"user"     TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
	csrf       TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE api_tokens (
	id         TEXT PRIMARY KEY,
	hash       TEXT NOT NULL UNIQUE,
	"user"     TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
	name       TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE escalation_states (
	client      TEXT NOT NULL,
	id          TEXT NOT NULL,
	claimed_by  TEXT NOT NULL DEFAULT '',
	claimed_at  BIGINT NOT NULL DEFAULT 0,
	resolved_by TEXT NOT NULL DEFAULT '',
	resolved_at BIGINT NOT NULL DEFAULT 0,
	note        TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (client, id)
);
