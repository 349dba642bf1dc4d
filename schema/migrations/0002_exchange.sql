-- Identity for the exchange: the tree of organizations, the members (people)
-- who belong to them with a role, and the API tokens members authenticate
-- with. Shared PostgreSQL/CockroachDB dialect: no triggers, no sequences,
-- UUID keys. Rows here are never deleted; a token is revoked, not removed.

-- orgs is a tree rooted at the one organization of kind 'network': the root is
-- exactly the row without a parent, and the partial unique index below lets at
-- most one row be a network. Nothing re-parents an organization, so the tree
-- cannot grow a cycle.
CREATE TABLE orgs (
    id         UUID        PRIMARY KEY,
    parent_id  UUID        REFERENCES orgs (id),
    name       TEXT        NOT NULL,
    kind       TEXT        NOT NULL,
    city       TEXT        NOT NULL DEFAULT '',
    region     TEXT        NOT NULL DEFAULT '',
    membership TEXT        NOT NULL DEFAULT 'member',
    created_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT orgs_kind CHECK (kind IN ('network', 'local', 'council', 'timebank', 'coop', 'municipality')),
    CONSTRAINT orgs_membership CHECK (membership IN ('member', 'partner')),
    CONSTRAINT orgs_name_length CHECK (length(name) BETWEEN 1 AND 200),
    CONSTRAINT orgs_city_length CHECK (length(city) <= 200),
    CONSTRAINT orgs_region_length CHECK (length(region) <= 64),
    CONSTRAINT orgs_root_is_network CHECK ((kind = 'network') = (parent_id IS NULL)),
    CONSTRAINT orgs_not_own_parent CHECK (parent_id IS NULL OR parent_id <> id)
);

-- A plain column with a predicate (not an expression index), which both
-- PostgreSQL and CockroachDB (partial indexes since 20.2) accept.
CREATE UNIQUE INDEX orgs_one_network ON orgs (kind) WHERE kind = 'network';
CREATE INDEX orgs_parent ON orgs (parent_id);

-- email is optional ('' when unknown) and not unique: members authenticate with
-- tokens, and a household may share one address.
CREATE TABLE members (
    id         UUID        PRIMARY KEY,
    name       TEXT        NOT NULL,
    email      TEXT        NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT members_name_length CHECK (length(name) BETWEEN 1 AND 200),
    CONSTRAINT members_email_length CHECK (length(email) <= 254)
);

-- A member has at most one role in an organization. 'admin' is network-wide and
-- only ever given on the network organization (the exchange checks that).
CREATE TABLE memberships (
    org_id     UUID        NOT NULL REFERENCES orgs (id),
    member_id  UUID        NOT NULL REFERENCES members (id),
    role       TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, member_id),
    CONSTRAINT memberships_role CHECK (role IN ('member', 'coordinator', 'admin'))
);

CREATE INDEX memberships_member ON memberships (member_id);

-- tokens holds only the SHA-256 of each secret; the secret itself is shown once
-- when the token is made and stored nowhere. Authentication is one lookup on
-- the unique index on hash.
CREATE TABLE tokens (
    id         UUID        PRIMARY KEY,
    member_id  UUID        NOT NULL REFERENCES members (id),
    name       TEXT        NOT NULL,
    hash       BYTEA       NOT NULL UNIQUE,
    expires_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT tokens_hash_length CHECK (octet_length(hash) = 32),
    CONSTRAINT tokens_name_length CHECK (length(name) BETWEEN 1 AND 200)
);

CREATE INDEX tokens_member ON tokens (member_id);
