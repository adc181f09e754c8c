-- Leases of the periodic work that runs once across a deployment (cohort refresh, the edge's
-- publishing check, session sweeping): one row per task, held by one process until expires_at
-- (Unix microseconds UTC), renewed by its holder, taken over by another process once expired.
CREATE TABLE leases (
	name TEXT PRIMARY KEY,
	holder TEXT NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT;
