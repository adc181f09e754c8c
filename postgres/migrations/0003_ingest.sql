-- Uploads and their parts, taxonomies, and versions of processed data. Same conventions as 0001:
-- times are Unix microseconds in UTC (0 = none), as on SQLite, so both backends share every query;
-- JSON is TEXT ('' = none).

-- A file arriving in parts. target_id names a data source, a publisher org or a bridge, so it has
-- no foreign key; job_id and version_id neither, as jobs and versions are records that come and
-- go on their own (0 and '' = none).
CREATE TABLE uploads (
	id TEXT PRIMARY KEY,
	org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	target TEXT NOT NULL CHECK (target IN ('data_source', 'publisher', 'bridge')),
	target_id TEXT NOT NULL,
	name TEXT NOT NULL,
	size BIGINT NOT NULL CHECK (size >= 0),
	received BIGINT NOT NULL DEFAULT 0 CHECK (received >= 0),
	parts INTEGER NOT NULL DEFAULT 0 CHECK (parts >= 0),
	state TEXT NOT NULL CHECK (state IN ('open', 'complete', 'processing', 'processed', 'failed', 'aborted')),
	sha256 TEXT NOT NULL DEFAULT '',
	-- The marshalled running SHA-256 of the bytes received.
	hash_state BYTEA NOT NULL DEFAULT '\x',
	wrapped_key BYTEA NOT NULL DEFAULT '\x',
	job_id BIGINT NOT NULL DEFAULT 0,
	-- The processing report, JSON; '' for none.
	report TEXT NOT NULL DEFAULT '',
	error TEXT NOT NULL DEFAULT '',
	version_id TEXT NOT NULL DEFAULT '',
	created_by TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE INDEX uploads_target ON uploads (target, target_id, created_at);
CREATE INDEX uploads_org ON uploads (org_id);

-- The stored parts of an upload; "offset" is quoted as PostgreSQL reserves the word.
CREATE TABLE upload_parts (
	upload_id TEXT NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
	seq INTEGER NOT NULL CHECK (seq >= 1),
	"offset" BIGINT NOT NULL CHECK ("offset" >= 0),
	size BIGINT NOT NULL CHECK (size > 0),
	blob_key TEXT NOT NULL,
	PRIMARY KEY (upload_id, seq)
);

-- The segment taxonomy (JSON) of a data source or publisher, one per owner.
CREATE TABLE taxonomies (
	owner_id TEXT PRIMARY KEY,
	body TEXT NOT NULL,
	updated_at BIGINT NOT NULL
);

-- Immutable processed data sets, numbered 1, 2, ... per owner (a data source, a publisher org or
-- a bridge, hence no foreign key on owner_id).
CREATE TABLE versions (
	id TEXT PRIMARY KEY,
	org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	owner_type TEXT NOT NULL CHECK (owner_type IN ('data_source', 'publisher', 'bridge')),
	owner_id TEXT NOT NULL,
	seq INTEGER NOT NULL CHECK (seq >= 1),
	blob_key TEXT NOT NULL,
	wrapped_key BYTEA NOT NULL DEFAULT '\x',
	bytes BIGINT NOT NULL DEFAULT 0,
	rows BIGINT NOT NULL DEFAULT 0,
	-- Statistics, JSON; '' for none.
	stats TEXT NOT NULL DEFAULT '',
	upload_id TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	UNIQUE (owner_id, seq)
);

CREATE INDEX versions_org ON versions (org_id);

-- Each owner's current version. Deleting that version deletes the row: the owner then has none.
-- A new version is made current before it is inserted (the row serialises the owner's new
-- versions), so the reference is checked at commit.
CREATE TABLE current_versions (
	owner_id TEXT PRIMARY KEY,
	version_id TEXT NOT NULL UNIQUE REFERENCES versions (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);
