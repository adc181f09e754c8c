-- Connections between publishers and partners, standard-cohort opt-outs, data sources, grants
-- and provisional access. Same conventions as 0001: times are Unix microseconds in UTC (0 = none),
-- booleans are 0/1 integers, JSON is TEXT, tables are STRICT.

CREATE TABLE connections (
	id TEXT PRIMARY KEY,
	publisher_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	partner_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	workflow TEXT NOT NULL CHECK (workflow IN ('operator_driven', 'publisher_driven')),
	standard_cohorts INTEGER NOT NULL DEFAULT 0 CHECK (standard_cohorts IN (0, 1)),
	matched_cohorts INTEGER NOT NULL DEFAULT 0 CHECK (matched_cohorts IN (0, 1)),
	modeled_audiences INTEGER NOT NULL DEFAULT 0 CHECK (modeled_audiences IN (0, 1)),
	insights INTEGER NOT NULL DEFAULT 0 CHECK (insights IN (0, 1)),
	advanced_insights INTEGER NOT NULL DEFAULT 0 CHECK (advanced_insights IN (0, 1)),
	custom_cohorts INTEGER NOT NULL DEFAULT 0 CHECK (custom_cohorts IN (0, 1)),
	-- A JSON array of custom cohort IDs, '[]' for none.
	shared_custom_cohorts TEXT NOT NULL DEFAULT '[]',
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	UNIQUE (publisher_id, partner_id),
	CHECK (publisher_id <> partner_id)
) STRICT;

CREATE INDEX connections_publisher ON connections (publisher_id, id);
CREATE INDEX connections_partner ON connections (partner_id, id);

-- The standard cohorts a publisher opted out of, for all its connections.
CREATE TABLE standard_opt_outs (
	publisher_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	cohort_id TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (publisher_id, cohort_id)
) STRICT;

CREATE TABLE data_sources (
	id TEXT PRIMARY KEY,
	org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	-- The advertiser whose data it is; NULL for a publisher's own staff's data in its demand-side
	-- workspace.
	advertiser_id TEXT REFERENCES orgs (id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	status TEXT NOT NULL CHECK (status IN ('empty', 'uploading', 'processing', 'ready', 'failed')),
	created_by TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
) STRICT;

CREATE INDEX data_sources_org ON data_sources (org_id, id);
CREATE INDEX data_sources_advertiser ON data_sources (advertiser_id, org_id, id);

CREATE TABLE grants (
	id TEXT PRIMARY KEY,
	data_source_id TEXT NOT NULL REFERENCES data_sources (id) ON DELETE CASCADE,
	owner_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	grantee_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	allow_matched INTEGER NOT NULL DEFAULT 0 CHECK (allow_matched IN (0, 1)),
	allow_modeled INTEGER NOT NULL DEFAULT 0 CHECK (allow_modeled IN (0, 1)),
	allow_insights INTEGER NOT NULL DEFAULT 0 CHECK (allow_insights IN (0, 1)),
	expires_at INTEGER NOT NULL DEFAULT 0,
	revoked_at INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	created_by TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX grants_data_source ON grants (data_source_id, grantee_id, created_at);
CREATE INDEX grants_grantee ON grants (grantee_id, created_at);
CREATE INDEX grants_owner ON grants (owner_id);

-- Operator-granted access for an org that has not finished setup, to one publisher's vault.
CREATE TABLE provisional_access (
	id TEXT PRIMARY KEY,
	org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	publisher_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	expires_at INTEGER NOT NULL,
	reason TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	created_by TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX provisional_access_org ON provisional_access (org_id, created_at);
CREATE INDEX provisional_access_publisher ON provisional_access (publisher_id);
