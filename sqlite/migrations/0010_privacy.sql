-- Privacy settings per connection and party (0 or '' = not set: the deployment's defaults), and
-- the ledger of privacy budgets: what each party spent per period window and which questions it
-- was charged for (a repeated question is free).
CREATE TABLE privacy_settings (
	connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
	party_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	k INTEGER NOT NULL DEFAULT 0 CHECK (k >= 0),
	epsilon INTEGER NOT NULL DEFAULT 0 CHECK (epsilon >= 0),
	budget INTEGER NOT NULL DEFAULT 0 CHECK (budget >= 0),
	period TEXT NOT NULL DEFAULT '' CHECK (period IN ('', 'day', 'week', 'month')),
	updated_by TEXT NOT NULL DEFAULT '',
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (connection_id, party_id)
) STRICT;

CREATE TABLE privacy_windows (
	connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
	party_id TEXT NOT NULL,
	period TEXT NOT NULL,
	window_start INTEGER NOT NULL,
	spent INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (connection_id, party_id, period, window_start)
) STRICT;

CREATE TABLE privacy_questions (
	connection_id TEXT NOT NULL,
	party_id TEXT NOT NULL,
	period TEXT NOT NULL,
	window_start INTEGER NOT NULL,
	question TEXT NOT NULL,
	cost INTEGER NOT NULL,
	PRIMARY KEY (connection_id, party_id, period, window_start, question),
	FOREIGN KEY (connection_id, party_id, period, window_start)
		REFERENCES privacy_windows (connection_id, party_id, period, window_start) ON DELETE CASCADE
) STRICT;
