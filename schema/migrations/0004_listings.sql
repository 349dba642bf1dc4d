-- Listings: the offers and needs neighbors post, in a category of the shared
-- taxonomy. Shared PostgreSQL/CockroachDB dialect: no triggers, no sequences,
-- BIGINT spelled out, UUID keys. Listings are never deleted; they end as
-- fulfilled, withdrawn or expired.

-- categories is the shared taxonomy, seeded here and extended by admins. It
-- may nest (parent), though the seed is flat. In multi-city mode it is a
-- GLOBAL table, like units.
CREATE TABLE categories (
    code       TEXT        PRIMARY KEY,
    name       TEXT        NOT NULL,
    parent     TEXT        REFERENCES categories (code),
    created_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT categories_code_format CHECK (code ~ '^[a-z][a-z0-9_]{0,31}$'),
    CONSTRAINT categories_name_length CHECK (length(name) BETWEEN 1 AND 200),
    CONSTRAINT categories_not_own_parent CHECK (parent IS NULL OR parent <> code)
);

INSERT INTO categories (code, name, created_at) VALUES
    ('childcare',  'Childcare',            now()),
    ('food',       'Food',                 now()),
    ('transport',  'Transport and rides',  now()),
    ('repairs',    'Repairs',              now()),
    ('housing',    'Housing',              now()),
    ('health',     'Health',               now()),
    ('language',   'Language and translation', now()),
    ('tech',       'Tech help',            now()),
    ('elder_care', 'Elder care',           now()),
    ('gardening',  'Gardening',            now()),
    ('education',  'Education and tutoring', now()),
    ('arts',       'Arts and crafts',      now()),
    ('legal_aid',  'Legal aid',            now()),
    ('moving',     'Moving',               now()),
    ('cleaning',   'Cleaning',             now()),
    ('pets',       'Pet care',             now());

-- listings holds offers and needs. The owner must be a member of the
-- organization the listing is posted in: the composite foreign key to
-- memberships backs the store's check (memberships are never removed).
--
-- quantity is an exact amount of unit (NUMERIC, never rounded). lat/lon are plain
-- DOUBLE PRECISION: distance search pre-filters on a latitude/longitude box
-- (the (lat, lon) index) and then applies the haversine formula in SQL; no
-- PostGIS, which CockroachDB's geography types would not match exactly.
--
-- search_text is the lower-cased title, description and tags, written by the
-- store, searched with LIKE '%word%' per word. It is the portable choice:
-- tsvector/tsquery behave differently (or not at all) on CockroachDB 23.2, and
-- pg_trgm needs an extension. It is a full scan of what the other filters
-- leave; a trigram index (both databases have one) can be added later.
--
-- status 'expired' is written by ExpireListings; until then an open listing
-- past expires_at is reported as expired by every read, which compares
-- expires_at with the clock.
CREATE TABLE listings (
    id           UUID             PRIMARY KEY,
    org_id       UUID             NOT NULL REFERENCES orgs (id),
    owner_member UUID             NOT NULL REFERENCES members (id),
    kind         TEXT             NOT NULL,
    title        TEXT             NOT NULL,
    description  TEXT             NOT NULL DEFAULT '',
    category     TEXT             NOT NULL REFERENCES categories (code),
    quantity     NUMERIC          NOT NULL,
    unit         TEXT             NOT NULL REFERENCES units (code),
    lat          DOUBLE PRECISION NOT NULL,
    lon          DOUBLE PRECISION NOT NULL,
    city         TEXT             NOT NULL DEFAULT '',
    neighborhood TEXT             NOT NULL DEFAULT '',
    window_start TIMESTAMPTZ,
    window_end   TIMESTAMPTZ,
    urgency      BIGINT           NOT NULL DEFAULT 0,
    visibility   TEXT             NOT NULL,
    status       TEXT             NOT NULL DEFAULT 'open',
    search_text  TEXT             NOT NULL,
    expires_at   TIMESTAMPTZ,
    created_at   TIMESTAMPTZ      NOT NULL,
    updated_at   TIMESTAMPTZ      NOT NULL,
    CONSTRAINT listings_owner_is_member FOREIGN KEY (org_id, owner_member) REFERENCES memberships (org_id, member_id),
    CONSTRAINT listings_kind CHECK (kind IN ('offer', 'need')),
    CONSTRAINT listings_visibility CHECK (visibility IN ('public', 'org')),
    CONSTRAINT listings_status CHECK (status IN ('open', 'matched', 'fulfilled', 'withdrawn', 'expired')),
    CONSTRAINT listings_title_length CHECK (length(title) BETWEEN 1 AND 200),
    CONSTRAINT listings_description_length CHECK (length(description) <= 5000),
    CONSTRAINT listings_city_length CHECK (length(city) <= 200),
    CONSTRAINT listings_neighborhood_length CHECK (length(neighborhood) <= 200),
    CONSTRAINT listings_quantity_positive CHECK (quantity > 0),
    CONSTRAINT listings_lat_range CHECK (lat BETWEEN -90 AND 90),
    CONSTRAINT listings_lon_range CHECK (lon BETWEEN -180 AND 180),
    CONSTRAINT listings_window CHECK ((window_start IS NULL) = (window_end IS NULL) AND (window_end IS NULL OR window_end > window_start)),
    CONSTRAINT listings_urgency CHECK (urgency BETWEEN 0 AND 3 AND (kind = 'need' OR urgency = 0))
);

CREATE INDEX listings_search ON listings (status, kind, category);
CREATE INDEX listings_org ON listings (org_id);
CREATE INDEX listings_owner ON listings (owner_member);
CREATE INDEX listings_place ON listings (lat, lon);
CREATE INDEX listings_expiring ON listings (expires_at) WHERE status = 'open';

-- listing_tags is the normalized side table of a listing's tags (lower-cased,
-- trimmed, unique per listing). An exact tag filter is an EXISTS on the
-- primary key or a lookup on listing_tags_tag, the same plan on both
-- databases; a JSONB array would need an inverted/GIN index whose syntax and
-- operators differ between them. Tags are written once, with the listing.
CREATE TABLE listing_tags (
    listing_id UUID NOT NULL REFERENCES listings (id),
    tag        TEXT NOT NULL,
    PRIMARY KEY (listing_id, tag),
    CONSTRAINT listing_tags_length CHECK (length(tag) BETWEEN 1 AND 40)
);

CREATE INDEX listing_tags_tag ON listing_tags (tag);
