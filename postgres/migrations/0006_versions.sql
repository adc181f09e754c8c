-- Bridges get a table of their own (they were taxonomy rows: a registration stored under the
-- bridge's ID and a "bridges-of:<publisher>" list), jobs a serialisation key, and uploads the
-- confirmation that a publisher profile file may drop most of the audience.

-- An identity bridge provider registered for a publisher. tags is a JSON array of the custom
-- identifier tags its files may use.
CREATE TABLE bridges (
	id TEXT PRIMARY KEY,
	publisher_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	tags TEXT NOT NULL DEFAULT '[]',
	created_at BIGINT NOT NULL
);

CREATE INDEX bridges_publisher ON bridges (publisher_id, created_at, id);

-- Registrations were stored as JSON beginning {"kind":"bridge", ...}; the time of the taxonomy row
-- is the registration's.
INSERT INTO bridges (id, publisher_id, name, tags, created_at)
SELECT t.owner_id, t.body::jsonb ->> 'publisher_id', t.body::jsonb ->> 'name',
	COALESCE(NULLIF((t.body::jsonb -> 'tags')::text, 'null'), '[]'), t.updated_at
FROM taxonomies t
JOIN orgs o ON o.id = t.body::jsonb ->> 'publisher_id'
WHERE t.body LIKE '{"kind":"bridge"%';

DELETE FROM taxonomies WHERE body LIKE '{"kind":"bridge"%' OR owner_id LIKE 'bridges-of:%';

-- Jobs with the same non-empty serial_key run one at a time, in ID order.
ALTER TABLE jobs ADD COLUMN serial_key TEXT NOT NULL DEFAULT '';

CREATE INDEX jobs_serial ON jobs (serial_key, id) WHERE serial_key <> '';

ALTER TABLE uploads ADD COLUMN confirm_drop BOOLEAN NOT NULL DEFAULT FALSE;
