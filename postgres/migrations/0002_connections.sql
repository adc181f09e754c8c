-- Connections between publishers and partners, standard-cohort opt-outs, data sources, grants
-- and provisional access. Same conventions as 0001: times are Unix microseconds in UTC (0 = none),
-- as on SQLite, so both backends share every query; JSON is TEXT.

CREATE TABLE connections (
	id TEXT PRIMARY KEY,
	publisher_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	partner_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	workflow TEXT NOT NULL CHECK (workflow IN ('operator_driven', 'publisher_driven')),
	standard_cohorts BOOLEAN NOT NULL DEFAULT FALSE,
	matched_cohorts BOOLEAN NOT NULL DEFAULT FALSE,
	modeled_audiences BOOLEAN NOT NULL DEFAULT FALSE,
	insights BOOLEAN NOT NULL DEFAULT FALSE,
	advanced_insights BOOLEAN NOT NULL DEFAULT FALSE,
	custom_cohorts BOOLEAN NOT NULL DEFAULT FALSE,
	-- A JSON array of custom cohort IDs, '[]' for none.
	shared_custom_cohorts TEXT NOT NULL DEFAULT '[]',
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	UNIQUE (publisher_id, partner_id),
	CHECK (publisher_id <> partner_id)
);

CREATE INDEX connections_publisher ON connections (publisher_id, id);
CREATE INDEX connections_partner ON connections (partner_id, id);

-- The standard cohorts a publisher opted out of, for all its connections.
CREATE TABLE standard_opt_outs (
	publisher_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	-- Byte order, like SQLite's BINARY collation and Go's sort, whatever the database's locale.
	cohort_id TEXT COLLATE "C" NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (publisher_id, cohort_id)
);

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
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE INDEX data_sources_org ON data_sources (org_id, id);
CREATE INDEX data_sources_advertiser ON data_sources (advertiser_id, org_id, id);

CREATE TABLE grants (
	id TEXT PRIMARY KEY,
	data_source_id TEXT NOT NULL REFERENCES data_sources (id) ON DELETE CASCADE,
	owner_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	grantee_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	allow_matched BOOLEAN NOT NULL DEFAULT FALSE,
	allow_modeled BOOLEAN NOT NULL DEFAULT FALSE,
	allow_insights BOOLEAN NOT NULL DEFAULT FALSE,
	expires_at BIGINT NOT NULL DEFAULT 0,
	revoked_at BIGINT NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL,
	created_by TEXT NOT NULL DEFAULT ''
);

CREATE INDEX grants_data_source ON grants (data_source_id, grantee_id, created_at);
CREATE INDEX grants_grantee ON grants (grantee_id, created_at);
CREATE INDEX grants_owner ON grants (owner_id);

-- Operator-granted access for an org that has not finished setup, to one publisher's vault.
CREATE TABLE provisional_access (
	id TEXT PRIMARY KEY,
	org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	publisher_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	expires_at BIGINT NOT NULL,
	reason TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	created_by TEXT NOT NULL DEFAULT ''
);

CREATE INDEX provisional_access_org ON provisional_access (org_id, created_at);
CREATE INDEX provisional_access_publisher ON provisional_access (publisher_id);
