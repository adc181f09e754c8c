-- Activation: publishers' ad-server settings, cohorts' switches and deals per connection, and
-- advertisers' frequency caps. Same conventions as 0001: times are Unix microseconds in UTC,
-- JSON is TEXT.

-- A publisher's ad-server settings (cleanroom.AdServerSettings as JSON).
CREATE TABLE ad_server_settings (
	publisher_id TEXT PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
	body TEXT NOT NULL,
	updated_at INTEGER NOT NULL
) STRICT;

-- A cohort at one connection: the publisher's two switches and the deal (JSON; '' = none).
-- connection_id has no foreign key, as for cohort_targets: a deleted connection stops serving
-- through the target's rules.
CREATE TABLE cohort_activations (
	cohort_id TEXT NOT NULL REFERENCES cohorts (id) ON DELETE CASCADE,
	connection_id TEXT NOT NULL,
	publisher_id TEXT NOT NULL,
	direct INTEGER NOT NULL DEFAULT 0 CHECK (direct IN (0, 1)),
	programmatic INTEGER NOT NULL DEFAULT 0 CHECK (programmatic IN (0, 1)),
	deal TEXT NOT NULL DEFAULT '',
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (cohort_id, connection_id)
) STRICT;

CREATE INDEX cohort_activations_publisher ON cohort_activations (publisher_id, cohort_id);

-- An advertiser's frequency cap on a cohort.
CREATE TABLE frequency_caps (
	cohort_id TEXT PRIMARY KEY REFERENCES cohorts (id) ON DELETE CASCADE,
	max_impressions INTEGER NOT NULL CHECK (max_impressions >= 1),
	period TEXT NOT NULL CHECK (period IN ('day', 'week', 'month')),
	updated_at INTEGER NOT NULL
) STRICT;
