-- Cohorts, their targets (one per connection) and each publisher's cohort code counter. Same
-- conventions as 0001: times are Unix microseconds in UTC (0 = none), JSON is TEXT ('' = none).

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
	progress REAL NOT NULL DEFAULT 0,
	-- The chosen similarity of a modeled cohort; -1 = not chosen.
	similarity REAL NOT NULL DEFAULT -1,
	include_seeds INTEGER NOT NULL DEFAULT 0 CHECK (include_seeds IN (0, 1)),
	inputs TEXT NOT NULL DEFAULT '',
	generation INTEGER NOT NULL DEFAULT 1,
	built_at INTEGER NOT NULL DEFAULT 0,
	created_by TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
) STRICT;

CREATE INDEX cohorts_org ON cohorts (org_id, id);

-- A cohort at one publisher. connection_id has no foreign key: deleting a connection leaves the
-- target, which the next build marks inactive and empties. Codes are unique per publisher.
CREATE TABLE cohort_targets (
	cohort_id TEXT NOT NULL REFERENCES cohorts (id) ON DELETE CASCADE,
	connection_id TEXT NOT NULL,
	publisher_id TEXT NOT NULL,
	code INTEGER NOT NULL,
	size INTEGER NOT NULL DEFAULT 0,
	seeds INTEGER NOT NULL DEFAULT 0,
	active INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1)),
	reason TEXT NOT NULL DEFAULT '',
	model TEXT NOT NULL DEFAULT '',
	diagnostics TEXT NOT NULL DEFAULT '',
	blob_key TEXT NOT NULL DEFAULT '',
	wrapped_key BLOB NOT NULL DEFAULT x'',
	built_at INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (cohort_id, connection_id),
	UNIQUE (publisher_id, code)
) STRICT;

CREATE INDEX cohort_targets_publisher ON cohort_targets (publisher_id, cohort_id);

-- The next cohort code of each publisher. Codes only count up, so none is ever reused.
CREATE TABLE cohort_codes (
	publisher_id TEXT PRIMARY KEY,
	next_code INTEGER NOT NULL
) STRICT;
