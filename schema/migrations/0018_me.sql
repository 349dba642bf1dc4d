-- A member's own view, leaving an organization, and sign-in codes by email.
-- Shared PostgreSQL/CockroachDB dialect: no triggers, no sequences, UUID keys.

-- member_accounts: the organization a member's account was opened for (on
-- admission by its time-bank rules, or by a coordinator naming it), so that
-- GET /v1/me shows each account under its organization and leaving an
-- organization knows which accounts to settle and close. An account opened
-- by the admin without naming an organization has no row: it belongs to the
-- member alone.
CREATE TABLE member_accounts (
    account_id UUID PRIMARY KEY REFERENCES accounts (id),
    member_id  UUID NOT NULL REFERENCES members (id),
    org_id     UUID NOT NULL REFERENCES orgs (id)
);

CREATE INDEX member_accounts_member ON member_accounts (member_id, org_id);

-- Accounts opened before this migration: a member's account was named after
-- the organization it was opened for (timebankAccountName, OpenMemberAccount),
-- so the organizations the member belongs to with that name tell. Where two
-- of them share the name, the first by id is taken.
INSERT INTO member_accounts (account_id, member_id, org_id)
SELECT DISTINCT ON (a.id) a.id, m.member_id, m.org_id
FROM accounts a
JOIN memberships m ON a.owner = 'member:' || m.member_id::TEXT
JOIN orgs o ON o.id = m.org_id AND a.name = o.name
WHERE a.kind = 'member'
ORDER BY a.id, m.org_id;

-- Leaving deletes the membership (every rule of who may reads memberships,
-- so a member who left is at once out of reach of the organization's
-- coordinators and its listings); the listings they posted stay, so a
-- listing's owner no longer needs to be a member of its organization today:
-- the exchange checks membership when a listing is posted.
ALTER TABLE listings DROP CONSTRAINT listings_owner_is_member;

-- membership_departures: who left which organization, when, in which role,
-- and who ended it (the member themselves, or a coordinator who removed
-- them). Rows are never changed.
CREATE TABLE membership_departures (
    id         UUID        PRIMARY KEY,
    org_id     UUID        NOT NULL REFERENCES orgs (id),
    member_id  UUID        NOT NULL REFERENCES members (id),
    role       TEXT        NOT NULL,
    joined_at  TIMESTAMPTZ NOT NULL,
    left_at    TIMESTAMPTZ NOT NULL,
    ended_by   UUID        NOT NULL REFERENCES members (id),
    CONSTRAINT membership_departures_role CHECK (role IN ('member', 'coordinator', 'admin')),
    CONSTRAINT membership_departures_order CHECK (left_at >= joined_at)
);

CREATE INDEX membership_departures_member ON membership_departures (member_id, left_at);

-- signin_email_requests: each request for a sign-in code by email, known
-- address or not, counted per address (by the SHA-256 of the address as
-- typed, lower-cased: the address itself is not kept) and per client
-- address, so that the limits hold across restarts and servers and say
-- nothing about who is a member. Rows older than the window count for
-- nothing and are purged with the sign-in failures.
CREATE TABLE signin_email_requests (
    id         UUID        PRIMARY KEY,
    email_hash BYTEA       NOT NULL,
    address    TEXT        NOT NULL,
    at         TIMESTAMPTZ NOT NULL,
    CONSTRAINT signin_email_requests_hash_length CHECK (octet_length(email_hash) = 32),
    CONSTRAINT signin_email_requests_address_length CHECK (length(address) <= 64)
);

CREATE INDEX signin_email_requests_email ON signin_email_requests (email_hash, at);
CREATE INDEX signin_email_requests_address ON signin_email_requests (address, at);
