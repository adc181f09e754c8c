-- Facts a deployment records once and checks at every start, such as the ID of the root its
-- purpose keys derive from (so a missing or foreign keyring/root.json cannot silently change
-- fingerprints, user keys and privacy seeds).
CREATE TABLE deployment_facts (
	name TEXT PRIMARY KEY,
	value TEXT NOT NULL
) STRICT;
