-- Home regions. Every organization has a home region (orgs.region, its own
-- or, when it names none, its parent's), and every row that belongs to an
-- organization carries its owner's region in a column of its own, written by
-- the store from the owner's row and never by a client. On a multi-region
-- CockroachDB cluster, `mutual migrate --multi-region` makes these tables
-- REGIONAL BY ROW on that column (through a computed crdb_region column), so
-- that a city's rows live in its region; units, categories and orgs become
-- GLOBAL. On PostgreSQL the columns are plain text, kept and indexed, and
-- nothing else happens.
--
-- '' is the region of rows that have none (external accounts, organizations
-- made before anyone named a region): the cluster's primary region.
--
-- Shared PostgreSQL/CockroachDB dialect: ADD COLUMN with a constant default,
-- UPDATE … FROM, no triggers. Three steps (see schema.StepMarker), because
-- CockroachDB lets no transaction fill a column it added: the columns, then
-- their indexes, then the backfill with the version row. The first two may
-- run again, hence IF NOT EXISTS.

-- The text rule of migration 0012 and the length of orgs.region, on the
-- column itself so that ADD COLUMN IF NOT EXISTS adds them once. The journal
-- (entries, transfers, reservations) is written on every transfer and takes
-- its region from the account row the transfer locked, which holds these
-- checks already; it is checked for length only.
ALTER TABLE accounts ADD COLUMN IF NOT EXISTS region TEXT NOT NULL DEFAULT ''
    CONSTRAINT accounts_region_length CHECK (length(region) <= 64)
    CONSTRAINT accounts_region_text CHECK (region !~ E'[\u0001-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]');
ALTER TABLE entries ADD COLUMN IF NOT EXISTS region TEXT NOT NULL DEFAULT ''
    CONSTRAINT entries_region_length CHECK (length(region) <= 64);
ALTER TABLE transfers ADD COLUMN IF NOT EXISTS region TEXT NOT NULL DEFAULT ''
    CONSTRAINT transfers_region_length CHECK (length(region) <= 64);
ALTER TABLE reservations ADD COLUMN IF NOT EXISTS region TEXT NOT NULL DEFAULT ''
    CONSTRAINT reservations_region_length CHECK (length(region) <= 64);
ALTER TABLE listings ADD COLUMN IF NOT EXISTS region TEXT NOT NULL DEFAULT ''
    CONSTRAINT listings_region_length CHECK (length(region) <= 64)
    CONSTRAINT listings_region_text CHECK (region !~ E'[\u0001-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]');
ALTER TABLE agreements ADD COLUMN IF NOT EXISTS region TEXT NOT NULL DEFAULT ''
    CONSTRAINT agreements_region_length CHECK (length(region) <= 64)
    CONSTRAINT agreements_region_text CHECK (region !~ E'[\u0001-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]');
ALTER TABLE trades ADD COLUMN IF NOT EXISTS region TEXT NOT NULL DEFAULT ''
    CONSTRAINT trades_region_length CHECK (length(region) <= 64)
    CONSTRAINT trades_region_text CHECK (region !~ E'[\u0001-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]');
ALTER TABLE memberships ADD COLUMN IF NOT EXISTS region TEXT NOT NULL DEFAULT ''
    CONSTRAINT memberships_region_length CHECK (length(region) <= 64)
    CONSTRAINT memberships_region_text CHECK (region !~ E'[\u0001-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]');
ALTER TABLE grant_requests ADD COLUMN IF NOT EXISTS region TEXT NOT NULL DEFAULT ''
    CONSTRAINT grant_requests_region_length CHECK (length(region) <= 64)
    CONSTRAINT grant_requests_region_text CHECK (region !~ E'[\u0001-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]');

-- mutual:step

-- Reads of one city's rows go through indexes that start with the region:
-- an organization's accounts (the roll-up finds each organization's by its
-- region and owner), a region's open listings by kind and category (the search), its
-- agreements, trades, memberships and grant requests by their owner. On a
-- REGIONAL BY ROW table CockroachDB puts crdb_region in front of every index
-- by itself; these are PostgreSQL's, and the same shape there. The journal
-- (entries, transfers, reservations) gets none: its reads go by account or
-- by id, and every transfer would pay for another index (6-18% of
-- throughput when one was measured, see 0001).
--
-- The indexes are built in the order in which the next step fills the
-- tables (orgs, accounts, listings, memberships, grant requests, trades,
-- agreements). A migrator started beside another may build them again
-- (a SHARE lock on each table, even when the index exists) while the other
-- fills the tables (ROW EXCLUSIVE): in another order each waited for a
-- table the other held, a deadlock (TestConcurrentMigratorsUpgrade).
CREATE INDEX IF NOT EXISTS orgs_region ON orgs (region, parent_id);
CREATE INDEX IF NOT EXISTS accounts_region_owner ON accounts (region, owner, unit);
CREATE INDEX IF NOT EXISTS listings_region_search ON listings (region, status, kind, category);
CREATE INDEX IF NOT EXISTS memberships_region ON memberships (region, org_id);
CREATE INDEX IF NOT EXISTS grant_requests_region ON grant_requests (region, org_id);
CREATE INDEX IF NOT EXISTS trades_region ON trades (region, proposer_org, id);
CREATE INDEX IF NOT EXISTS agreements_region ON agreements (region, status, id);

-- mutual:step

-- An organization that names no region takes its parent's, all the way down:
-- the walk starts at the organizations that name one and descends through
-- those that do not.
UPDATE orgs SET region = h.region
FROM (
    WITH RECURSIVE down (id, region, depth) AS (
        SELECT id, region, 0 FROM orgs WHERE region <> ''
      UNION ALL
        SELECT c.id, down.region, down.depth + 1
        FROM orgs c JOIN down ON c.parent_id = down.id
        WHERE c.region = '' AND down.depth < 64
    )
    SELECT id, region FROM down WHERE depth > 0
) h
WHERE orgs.id = h.id;

-- The rows already there take their owner's region: an organization's
-- accounts its own; a member's accounts that of the organization they
-- joined first (a member's account is opened for an organization and named
-- after it; the earliest membership is the one a backfill can name);
-- entries and reservations their account's; a transfer that of the account
-- its first posting takes value from; listings, memberships and grant
-- requests their organization's; an agreement its need's; a trade its
-- proposer's.
UPDATE accounts SET region = o.region
FROM orgs o
WHERE accounts.owner = 'org:' || o.id::TEXT AND o.region <> '';

UPDATE accounts SET region = (
    SELECT o.region FROM memberships m JOIN orgs o ON o.id = m.org_id
    WHERE accounts.owner = 'member:' || m.member_id::TEXT
    ORDER BY m.created_at, m.org_id LIMIT 1)
WHERE accounts.owner LIKE 'member:%'
  AND EXISTS (SELECT 1 FROM memberships m WHERE accounts.owner = 'member:' || m.member_id::TEXT);

UPDATE entries SET region = a.region
FROM accounts a WHERE a.id = entries.account_id AND a.region <> '';

UPDATE reservations SET region = a.region
FROM accounts a WHERE a.id = reservations.account_id AND a.region <> '';

UPDATE transfers SET region = a.region
FROM accounts a WHERE a.id = (transfers.postings -> 0 ->> 'from')::UUID AND a.region <> '';

UPDATE listings SET region = o.region
FROM orgs o WHERE o.id = listings.org_id AND o.region <> '';

UPDATE memberships SET region = o.region
FROM orgs o WHERE o.id = memberships.org_id AND o.region <> '';

UPDATE grant_requests SET region = o.region
FROM orgs o WHERE o.id = grant_requests.org_id AND o.region <> '';

UPDATE trades SET region = o.region
FROM orgs o WHERE o.id = trades.proposer_org AND o.region <> '';

UPDATE agreements SET region = l.region
FROM listings l WHERE l.id = agreements.need_id AND l.region <> '';
