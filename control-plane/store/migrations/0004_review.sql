-- Sitewarden control plane schema, version 4: governance (store.Review).
-- Daily review samples of agent decisions with their grades, and scope
-- proposals with their diff and policy test results. Times are Unix
-- nanoseconds; a sample day is the Unix nanoseconds of its UTC midnight.
CREATE INDEX items_received ON items (received_at);

CREATE TABLE sample_batches (
	day        INTEGER PRIMARY KEY,
	drawn_at   INTEGER NOT NULL,
	candidates INTEGER NOT NULL,
	samples    INTEGER NOT NULL
);

CREATE TABLE samples (
	id          TEXT PRIMARY KEY,
	day         INTEGER NOT NULL,
	kind        TEXT NOT NULL,
	client      TEXT NOT NULL,
	site        TEXT NOT NULL,
	item_id     TEXT NOT NULL,
	goal_id     TEXT NOT NULL DEFAULT '',
	agent       TEXT NOT NULL DEFAULT '',
	workflow    TEXT NOT NULL DEFAULT '',
	received_at INTEGER NOT NULL,
	grade       TEXT NOT NULL DEFAULT '',
	graded_by   TEXT NOT NULL DEFAULT '',
	graded_at   INTEGER NOT NULL DEFAULT 0,
	note        TEXT NOT NULL DEFAULT '',
	UNIQUE (day, kind, client, item_id)
);
CREATE INDEX samples_client ON samples (client, day);
CREATE INDEX samples_grade ON samples (grade, day);
-- Lists in their order (day, client, workflow, id) and accuracy over a
-- period for every client read only this index.
CREATE INDEX samples_day ON samples (day, client, workflow, id, grade);

CREATE TABLE scope_proposals (
	id            TEXT PRIMARY KEY,
	client        TEXT NOT NULL,
	base_version  INTEGER NOT NULL,
	files         TEXT NOT NULL,
	proposer      TEXT NOT NULL,
	proposed_at   INTEGER NOT NULL,
	note          TEXT NOT NULL DEFAULT '',
	diff          TEXT NOT NULL DEFAULT '',
	widens        INTEGER NOT NULL DEFAULT 0,
	narrows       INTEGER NOT NULL DEFAULT 0,
	tests_run     INTEGER NOT NULL DEFAULT 0,
	tests_failed  INTEGER NOT NULL DEFAULT 0,
	test_report   TEXT NOT NULL DEFAULT '',
	status        TEXT NOT NULL,
	decided_by    TEXT NOT NULL DEFAULT '',
	decided_at    INTEGER NOT NULL DEFAULT 0,
	decision_note TEXT NOT NULL DEFAULT '',
	version       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX scope_proposals_client ON scope_proposals (client, proposed_at);
CREATE INDEX scope_proposals_status ON scope_proposals (status);
