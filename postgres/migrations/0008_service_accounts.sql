-- Service accounts: users owned by one org that act only through tokens made for them by the
-- org's admins, never as a person (no password, no other memberships).
ALTER TABLE users ADD COLUMN service_account BOOLEAN NOT NULL DEFAULT FALSE;

-- What kind of actor made an audit entry: person, service_account or operator ('' for the system).
ALTER TABLE audit ADD COLUMN actor_kind TEXT NOT NULL DEFAULT '';
