-- PostgreSQL body of ../0004_review.sql: the same tables with BIGINT for SQLite's INTEGER.
-- Sitewarden control plane schema, version 4: governance (store.Review).
-- Daily review samples of agent decisions with their grades, and scope
-- proposals with their diff and policy test results. Times are Unix
-- nanoseconds; a sample day is the Unix nanoseconds of its UTC midnight.
CREATE INDEX items_received ON items (received_at);

CREATE TABLE sample_batches (
	day        BIGINT PRIMARY KEY,
	drawn_at   BIGINT NOT NULL,
	candidates BIGINT NOT NULL,
	samples    BIGINT NOT NULL
);

CREATE TABLE samples (
	id          TEXT PRIMARY KEY,
	day         BIGINT NOT NULL,
	kind        TEXT NOT NULL,
	client      TEXT NOT NULL,
	site        TEXT NOT NULL,
	item_id     TEXT NOT NULL,
	goal_id     TEXT NOT NULL DEFAULT '',
	agent       TEXT NOT NULL DEFAULT '',
	workflow    TEXT NOT NULL DEFAULT '',
	received_at BIGINT NOT NULL,
	grade       TEXT NOT NULL DEFAULT '',
	graded_by   TEXT NOT NULL DEFAULT '',
	graded_at   BIGINT NOT NULL DEFAULT 0,
	note        TEXT NOT NULL DEFAULT '',
	UNIQUE (day, kind, client, item_id)
);
CREATE INDEX samples_client ON samples (client, day);
CREATE INDEX samples_grade ON samples (grade, day);

CREATE TABLE scope_proposals (
	id            TEXT PRIMARY KEY,
	client        TEXT NOT NULL,
	base_version  BIGINT NOT NULL,
	files         TEXT NOT NULL,
	proposer      TEXT NOT NULL,
	proposed_at   BIGINT NOT NULL,
	note          TEXT NOT NULL DEFAULT '',
	diff          TEXT NOT NULL DEFAULT '',
	widens        BIGINT NOT NULL DEFAULT 0,
	narrows       BIGINT NOT NULL DEFAULT 0,
	tests_run     BIGINT NOT NULL DEFAULT 0,
	tests_failed  BIGINT NOT NULL DEFAULT 0,
	test_report   TEXT NOT NULL DEFAULT '',
	status        TEXT NOT NULL,
	decided_by    TEXT NOT NULL DEFAULT '',
	decided_at    BIGINT NOT NULL DEFAULT 0,
	decision_note TEXT NOT NULL DEFAULT '',
	version       BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX scope_proposals_client ON scope_proposals (client, proposed_at);
CREATE INDEX scope_proposals_status ON scope_proposals (status);
