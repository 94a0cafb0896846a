-- Sitewarden control plane schema, version 7 (PostgreSQL body of
-- ../0007_fleet_tokens.sql): fleet tokens. A token may
-- enroll several new sites of its client (fleet = 1, site = ''), at most
-- max_uses; uses counts the enrollments so far; revoked_at stops it at once.
-- token_enrollments records which token enrolled which site (both kinds).
ALTER TABLE tokens ADD COLUMN fleet BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tokens ADD COLUMN max_uses BIGINT NOT NULL DEFAULT 1;
ALTER TABLE tokens ADD COLUMN uses BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tokens ADD COLUMN revoked_at BIGINT NOT NULL DEFAULT 0;
UPDATE tokens SET uses = 1 WHERE used_at <> 0;
CREATE INDEX tokens_client_created ON tokens (client, created_at);

CREATE TABLE token_enrollments (
	hash        TEXT NOT NULL,
	client      TEXT NOT NULL,
	site        TEXT NOT NULL,
	enrolled_at BIGINT NOT NULL,
	PRIMARY KEY (client, site, hash)
);
CREATE INDEX token_enrollments_hash ON token_enrollments (hash);
