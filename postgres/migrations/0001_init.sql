-- The metadata schema for PostgreSQL. Times are Unix microseconds in UTC (0 = none), as on
-- SQLite, so both backends share every query; JSON is TEXT.

CREATE TABLE orgs (
	id TEXT PRIMARY KEY,
	name TEXT NOT NULL,
	kind TEXT NOT NULL CHECK (kind IN ('publisher', 'advertiser', 'demand_side')),
	parent_id TEXT REFERENCES orgs (id),
	demand_side_id TEXT REFERENCES orgs (id),
	clean_room_enabled_at BIGINT NOT NULL DEFAULT 0,
	dpa_signed_at BIGINT NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	CHECK ((kind = 'demand_side') = (parent_id IS NOT NULL))
);

CREATE TABLE vaults (
	org_id TEXT PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
	created_at BIGINT NOT NULL,
	wrapped_key BYTEA NOT NULL
);

CREATE TABLE users (
	id TEXT PRIMARY KEY,
	email TEXT NOT NULL UNIQUE,
	name TEXT NOT NULL,
	operator BOOLEAN NOT NULL DEFAULT FALSE,
	password_hash TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE TABLE memberships (
	user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	role TEXT NOT NULL CHECK (role IN ('admin', 'member', 'viewer', 'limited')),
	-- For the limited role: the advertiser org the invited user acts for.
	represents_id TEXT REFERENCES orgs (id) ON DELETE CASCADE,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (user_id, org_id)
);

CREATE INDEX memberships_org ON memberships (org_id, user_id);

CREATE TABLE tokens (
	id TEXT PRIMARY KEY,
	user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	org_id TEXT REFERENCES orgs (id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	prefix TEXT NOT NULL,
	hash BYTEA NOT NULL UNIQUE,
	created_at BIGINT NOT NULL,
	last_used_at BIGINT NOT NULL DEFAULT 0,
	expires_at BIGINT NOT NULL DEFAULT 0,
	revoked_at BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX tokens_org ON tokens (org_id, id);
CREATE INDEX tokens_user ON tokens (user_id, org_id);

CREATE TABLE sessions (
	hash BYTEA PRIMARY KEY,
	user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	org_id TEXT REFERENCES orgs (id) ON DELETE CASCADE,
	csrf_token TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	last_seen_at BIGINT NOT NULL DEFAULT 0,
	expires_at BIGINT NOT NULL
);

CREATE INDEX sessions_user ON sessions (user_id, org_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- Audit entries and jobs carry no foreign keys: they are records of what happened and outlive
-- what they name.
CREATE TABLE audit (
	id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	time BIGINT NOT NULL,
	request_id TEXT NOT NULL DEFAULT '',
	actor_user_id TEXT NOT NULL DEFAULT '',
	actor_token_id TEXT NOT NULL DEFAULT '',
	org_id TEXT NOT NULL DEFAULT '',
	partner_org_id TEXT NOT NULL DEFAULT '',
	action TEXT NOT NULL,
	target_type TEXT NOT NULL DEFAULT '',
	target_id TEXT NOT NULL DEFAULT '',
	details TEXT NOT NULL DEFAULT ''
);

CREATE INDEX audit_org ON audit (org_id, id);
CREATE INDEX audit_partner_org ON audit (partner_org_id, id);

CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit is append-only';
END;
$$;

CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
	FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
	FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

CREATE TABLE jobs (
	id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind TEXT NOT NULL,
	org_id TEXT NOT NULL DEFAULT '',
	args TEXT NOT NULL DEFAULT '',
	state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
	attempt INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),
	max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1),
	run_at BIGINT NOT NULL,
	lease_owner TEXT NOT NULL DEFAULT '',
	lease_until BIGINT NOT NULL DEFAULT 0,
	progress_done BIGINT NOT NULL DEFAULT 0,
	progress_total BIGINT NOT NULL DEFAULT 0,
	message TEXT NOT NULL DEFAULT '',
	last_error TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	started_at BIGINT NOT NULL DEFAULT 0,
	finished_at BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX jobs_runnable ON jobs (state, run_at);
CREATE INDEX jobs_org ON jobs (org_id, id);
