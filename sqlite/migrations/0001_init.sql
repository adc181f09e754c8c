-- The metadata schema for SQLite. Times are Unix microseconds in UTC (0 = none); booleans are
-- 0/1 integers; JSON is TEXT. Tables are STRICT so a value of the wrong type is refused.

CREATE TABLE orgs (
	id TEXT PRIMARY KEY,
	name TEXT NOT NULL,
	kind TEXT NOT NULL CHECK (kind IN ('publisher', 'advertiser', 'demand_side')),
	parent_id TEXT REFERENCES orgs (id),
	demand_side_id TEXT REFERENCES orgs (id),
	clean_room_enabled_at INTEGER NOT NULL DEFAULT 0,
	dpa_signed_at INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	CHECK ((kind = 'demand_side') = (parent_id IS NOT NULL))
) STRICT;

CREATE TABLE vaults (
	org_id TEXT PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
	created_at INTEGER NOT NULL,
	wrapped_key BLOB NOT NULL
) STRICT;

CREATE TABLE users (
	id TEXT PRIMARY KEY,
	email TEXT NOT NULL UNIQUE,
	name TEXT NOT NULL,
	operator INTEGER NOT NULL DEFAULT 0 CHECK (operator IN (0, 1)),
	password_hash TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE memberships (
	user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	role TEXT NOT NULL CHECK (role IN ('admin', 'member', 'viewer', 'limited')),
	-- For the limited role: the advertiser org the invited user acts for.
	represents_id TEXT REFERENCES orgs (id) ON DELETE CASCADE,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (user_id, org_id)
) STRICT;

CREATE INDEX memberships_org ON memberships (org_id, user_id);

CREATE TABLE tokens (
	id TEXT PRIMARY KEY,
	user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	org_id TEXT REFERENCES orgs (id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	prefix TEXT NOT NULL,
	hash BLOB NOT NULL UNIQUE,
	created_at INTEGER NOT NULL,
	last_used_at INTEGER NOT NULL DEFAULT 0,
	expires_at INTEGER NOT NULL DEFAULT 0,
	revoked_at INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX tokens_org ON tokens (org_id, id);
CREATE INDEX tokens_user ON tokens (user_id, org_id);

CREATE TABLE sessions (
	hash BLOB PRIMARY KEY,
	user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	org_id TEXT REFERENCES orgs (id) ON DELETE CASCADE,
	csrf_token TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	last_seen_at INTEGER NOT NULL DEFAULT 0,
	expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX sessions_user ON sessions (user_id, org_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- Audit entries and jobs carry no foreign keys: they are records of what happened and outlive
-- what they name.
CREATE TABLE audit (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	time INTEGER NOT NULL,
	request_id TEXT NOT NULL DEFAULT '',
	actor_user_id TEXT NOT NULL DEFAULT '',
	actor_token_id TEXT NOT NULL DEFAULT '',
	org_id TEXT NOT NULL DEFAULT '',
	partner_org_id TEXT NOT NULL DEFAULT '',
	action TEXT NOT NULL,
	target_type TEXT NOT NULL DEFAULT '',
	target_id TEXT NOT NULL DEFAULT '',
	details TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX audit_org ON audit (org_id, id);
CREATE INDEX audit_partner_org ON audit (partner_org_id, id);

CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
	SELECT RAISE(ABORT, 'audit is append-only');
END;

CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
	SELECT RAISE(ABORT, 'audit is append-only');
END;

CREATE TABLE jobs (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	kind TEXT NOT NULL,
	org_id TEXT NOT NULL DEFAULT '',
	args TEXT NOT NULL DEFAULT '',
	state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
	attempt INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),
	max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1),
	run_at INTEGER NOT NULL,
	lease_owner TEXT NOT NULL DEFAULT '',
	lease_until INTEGER NOT NULL DEFAULT 0,
	progress_done INTEGER NOT NULL DEFAULT 0,
	progress_total INTEGER NOT NULL DEFAULT 0,
	message TEXT NOT NULL DEFAULT '',
	last_error TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	started_at INTEGER NOT NULL DEFAULT 0,
	finished_at INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX jobs_runnable ON jobs (state, run_at);
CREATE INDEX jobs_org ON jobs (org_id, id);
