-- Imports from a bucket: where a data source (or a publisher's audience) pulls its files from,
-- and the objects taken in. Same conventions as 0001: times are Unix microseconds in UTC.

-- One import source per target. data_source_id repeats target_id for data sources (NULL for a
-- publisher's audience) so that unlinking the data source deletes its import source, credentials
-- included; a publisher's goes with the org.
CREATE TABLE import_sources (
	id TEXT PRIMARY KEY,
	org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	target TEXT NOT NULL CHECK (target IN ('data_source', 'publisher')),
	target_id TEXT NOT NULL,
	data_source_id TEXT REFERENCES data_sources (id) ON DELETE CASCADE,
	endpoint TEXT NOT NULL,
	bucket TEXT NOT NULL,
	prefix TEXT NOT NULL DEFAULT '',
	region TEXT NOT NULL DEFAULT '',
	access_key_id TEXT NOT NULL DEFAULT '',
	-- The secret access key wrapped under the master key (label import-secret:<id>).
	wrapped_secret BLOB NOT NULL DEFAULT x'',
	schedule TEXT NOT NULL CHECK (schedule IN ('off', 'hourly', 'daily')),
	enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
	max_error_rate REAL NOT NULL DEFAULT 0,
	next_run_at INTEGER NOT NULL DEFAULT 0,
	last_checked_at INTEGER NOT NULL DEFAULT 0,
	last_error TEXT NOT NULL DEFAULT '',
	updated_by TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	UNIQUE (target, target_id)
) STRICT;

CREATE INDEX import_sources_due ON import_sources (next_run_at) WHERE enabled = 1 AND schedule <> 'off';

-- The objects an import source took in: one row per object (bucket, key, ETag, size), so that
-- each is imported once however many runs (or racing workers) see it.
CREATE TABLE imported_objects (
	source_id TEXT NOT NULL REFERENCES import_sources (id) ON DELETE CASCADE,
	bucket TEXT NOT NULL,
	object_key TEXT NOT NULL,
	etag TEXT NOT NULL,
	size INTEGER NOT NULL,
	upload_id TEXT REFERENCES uploads (id) ON DELETE SET NULL,
	error TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	PRIMARY KEY (source_id, bucket, object_key, etag, size)
) STRICT;

CREATE INDEX imported_objects_created ON imported_objects (source_id, created_at);
