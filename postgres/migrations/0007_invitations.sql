-- Invitations: an offer of a role in an org to whoever holds an email address. It gives nothing
-- until that person signs in and accepts it. At most one pending invitation per org and address.
CREATE TABLE invitations (
	id TEXT PRIMARY KEY,
	org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	email TEXT NOT NULL,
	role TEXT NOT NULL CHECK (role IN ('admin', 'member', 'viewer', 'limited')),
	-- For the limited role: the advertiser org the invited person would act for.
	represents_id TEXT REFERENCES orgs (id) ON DELETE CASCADE,
	state TEXT NOT NULL CHECK (state IN ('pending', 'accepted', 'declined', 'withdrawn', 'expired')),
	invited_by TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	decided_at BIGINT NOT NULL DEFAULT 0,
	CHECK ((role = 'limited') = (represents_id IS NOT NULL))
);

CREATE UNIQUE INDEX invitations_pending ON invitations (org_id, email) WHERE state = 'pending';
CREATE INDEX invitations_org ON invitations (org_id, id);
CREATE INDEX invitations_email ON invitations (email, state);

-- Advertisers invited before invitations existed were made limited members at once: record them
-- as accepted invitations, so the inviter lists them and can revoke them as before.
INSERT INTO invitations (id, org_id, email, role, represents_id, state, created_at, expires_at, decided_at)
SELECT gen_random_uuid()::text, m.org_id, u.email, 'limited', m.represents_id, 'accepted', m.created_at, m.created_at, m.created_at
FROM memberships m JOIN users u ON u.id = m.user_id
WHERE m.role = 'limited' AND m.represents_id IS NOT NULL;
