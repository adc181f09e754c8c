-- Cohorts, their targets (one per connection) and each publisher's cohort code counter. Same
-- conventions as 0001: times are Unix microseconds in UTC (0 = none), as on SQLite; JSON is TEXT.

CREATE TABLE cohorts (
	id TEXT PRIMARY KEY,
	org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	kind TEXT NOT NULL CHECK (kind IN ('matched', 'modeled')),
	query TEXT NOT NULL,
	-- JSON array of country codes.
	country TEXT NOT NULL DEFAULT '[]',
	status TEXT NOT NULL CHECK (status IN ('building', 'training', 'awaiting_selection', 'active', 'failed', 'paused')),
	status_reason TEXT NOT NULL DEFAULT '',
	progress DOUBLE PRECISION NOT NULL DEFAULT 0,
	-- The chosen similarity of a modeled cohort; -1 = not chosen.
	similarity DOUBLE PRECISION NOT NULL DEFAULT -1,
	include_seeds BOOLEAN NOT NULL DEFAULT FALSE,
	inputs TEXT NOT NULL DEFAULT '',
	generation BIGINT NOT NULL DEFAULT 1,
	built_at BIGINT NOT NULL DEFAULT 0,
	created_by TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE INDEX cohorts_org ON cohorts (org_id, id);

-- A cohort at one publisher. connection_id has no foreign key: deleting a connection leaves the
-- target, which the next build marks inactive and empties. Codes are unique per publisher.
CREATE TABLE cohort_targets (
	cohort_id TEXT NOT NULL REFERENCES cohorts (id) ON DELETE CASCADE,
	connection_id TEXT NOT NULL,
	publisher_id TEXT NOT NULL,
	code BIGINT NOT NULL,
	size BIGINT NOT NULL DEFAULT 0,
	seeds BIGINT NOT NULL DEFAULT 0,
	active BOOLEAN NOT NULL DEFAULT FALSE,
	reason TEXT NOT NULL DEFAULT '',
	model TEXT NOT NULL DEFAULT '',
	diagnostics TEXT NOT NULL DEFAULT '',
	blob_key TEXT NOT NULL DEFAULT '',
	wrapped_key BYTEA NOT NULL DEFAULT '\x',
	built_at BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (cohort_id, connection_id),
	UNIQUE (publisher_id, code)
);

CREATE INDEX cohort_targets_publisher ON cohort_targets (publisher_id, cohort_id);

-- The next cohort code of each publisher. Codes only count up, so none is ever reused.
CREATE TABLE cohort_codes (
	publisher_id TEXT PRIMARY KEY,
	next_code BIGINT NOT NULL
);
