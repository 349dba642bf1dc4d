-- Matching people can trust, and real search (issue 11): related
-- categories, how far a need's person can go and when an offer is given,
-- and a words table that text search reads. Shared PostgreSQL/CockroachDB
-- dialect: no triggers, no sequences, no extensions, BIGINT spelled out.

-- A companion for an elder (a walk, a chat, a visit) is what many elder-care
-- needs ask for; the seed relates it to elder care below.
INSERT INTO categories (code, name, created_at) VALUES
    ('companionship', 'Companionship and visits', now());

-- category_relations says that offers of offer_category can also serve needs
-- of need_category, at fit (in (0, 1): an exact category is 1). A relation
-- has a direction: a tutor can mind a child while teaching, a babysitter
-- does not tutor. Admins edit it; the seed below holds both directions
-- where both make sense. In multi-city mode it is a GLOBAL table, like
-- categories.
CREATE TABLE category_relations (
    need_category  TEXT             NOT NULL REFERENCES categories (code),
    offer_category TEXT             NOT NULL REFERENCES categories (code),
    fit            DOUBLE PRECISION NOT NULL,
    updated_at     TIMESTAMPTZ      NOT NULL,
    PRIMARY KEY (need_category, offer_category),
    CONSTRAINT category_relations_fit CHECK (fit > 0 AND fit < 1),
    CONSTRAINT category_relations_not_self CHECK (need_category <> offer_category)
);

INSERT INTO category_relations (need_category, offer_category, fit, updated_at) VALUES
    ('elder_care',    'companionship', 0.7, now()),
    ('companionship', 'elder_care',    0.8, now()),
    ('elder_care',    'health',        0.5, now()),
    ('health',        'elder_care',    0.4, now()),
    ('childcare',     'elder_care',    0.5, now()),
    ('elder_care',    'childcare',     0.4, now()),
    ('childcare',     'education',     0.6, now()),
    ('education',     'childcare',     0.3, now()),
    ('education',     'language',      0.5, now()),
    ('language',      'education',     0.5, now()),
    ('moving',        'transport',     0.6, now()),
    ('transport',     'moving',        0.5, now()),
    ('housing',       'repairs',       0.5, now()),
    ('repairs',       'housing',       0.4, now()),
    ('repairs',       'tech',          0.3, now()),
    ('tech',          'repairs',       0.3, now()),
    ('housing',       'cleaning',      0.4, now()),
    ('cleaning',      'housing',       0.3, now()),
    ('food',          'gardening',     0.4, now()),
    ('gardening',     'food',          0.3, now()),
    ('legal_aid',     'language',      0.3, now());

-- org_matching holds an organization's matching defaults: how far its
-- members' needs reach when they do not say (max_km), and the time zone
-- its offers' weekly hours are read in. An organization without a row
-- takes its nearest ancestor's, and the network without one 25 km and UTC.
CREATE TABLE org_matching (
    org_id     UUID             PRIMARY KEY REFERENCES orgs (id),
    max_km     DOUBLE PRECISION NOT NULL,
    time_zone  TEXT             NOT NULL,
    updated_at TIMESTAMPTZ      NOT NULL,
    updated_by UUID             NOT NULL REFERENCES members (id),
    CONSTRAINT org_matching_max_km CHECK (max_km > 0 AND max_km <= 1000),
    CONSTRAINT org_matching_time_zone_format CHECK (time_zone ~ '^[A-Za-z][A-Za-z0-9_+/-]{0,63}$')
);

-- A need's max_km is how far its person can go (written at creation from
-- the organization's default when the need does not say; NULL on needs
-- posted before this migration, read as 25 km). A remote offer is given
-- from afar (a call, a video lesson): any distance serves. A flexible need
-- is matched even with offers whose hours do not overlap its window.
-- weekly is an offer's hours each week, "d:start-end" joined by commas: d
-- is the day (0 Sunday .. 6 Saturday), start and end minutes after
-- midnight (end up to 1440), read in time_zone (an IANA name, copied from
-- the organization when the listing is posted, so that a later change of
-- the organization's zone does not move hours already promised). '' means
-- every day at any hour.
-- words_version says which version of the search words (listing_words) the
-- listing is indexed with; the server indexes older listings when it starts.
ALTER TABLE listings ADD COLUMN max_km DOUBLE PRECISION;
ALTER TABLE listings ADD COLUMN remote BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE listings ADD COLUMN flexible BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE listings ADD COLUMN weekly TEXT NOT NULL DEFAULT '';
ALTER TABLE listings ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
ALTER TABLE listings ADD COLUMN words_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE listings ADD CONSTRAINT listings_max_km CHECK (max_km IS NULL OR (kind = 'need' AND max_km > 0 AND max_km <= 1000));
ALTER TABLE listings ADD CONSTRAINT listings_remote CHECK (kind = 'offer' OR NOT remote);
ALTER TABLE listings ADD CONSTRAINT listings_flexible CHECK (kind = 'need' OR NOT flexible);
ALTER TABLE listings ADD CONSTRAINT listings_weekly_format
    CHECK (weekly = '' OR (kind = 'offer' AND weekly ~ '^[0-6]:[0-9]{1,4}-[0-9]{1,4}(,[0-6]:[0-9]{1,4}-[0-9]{1,4}){0,27}$'));
ALTER TABLE listings ADD CONSTRAINT listings_time_zone_format CHECK (time_zone ~ '^[A-Za-z][A-Za-z0-9_+/-]{0,63}$');

CREATE INDEX listings_words_version ON listings (words_version);

-- listing_words is what text search reads: each word of a listing's title,
-- description, tags and category name, folded by the store in Go (lower
-- case, accents and other marks removed: "Niños" is "ninos"), with the
-- weight of the most telling field it appears in (title 4, tags 3,
-- category 2, description 1). A query word matches a word it is a prefix
-- of, by a range scan of the primary key (word >= w AND word < w || 0xFF),
-- which both databases serve from a plain btree: an inverted or trigram
-- index is written differently on each, and unaccent is an extension.
-- word is BYTEA so that the range is in byte order whatever the database's
-- collation (a UTF-8 string never holds the byte 0xFF).
CREATE TABLE listing_words (
    word       BYTEA  NOT NULL,
    listing_id UUID   NOT NULL REFERENCES listings (id),
    weight     BIGINT NOT NULL,
    PRIMARY KEY (word, listing_id),
    CONSTRAINT listing_words_word_length CHECK (octet_length(word) BETWEEN 1 AND 64),
    CONSTRAINT listing_words_weight CHECK (weight BETWEEN 1 AND 4)
);

CREATE INDEX listing_words_listing ON listing_words (listing_id);

-- The same key with the weight: on PostgreSQL a search reads a word's
-- matches and their weights from this index alone (an index-only scan),
-- not from the table's pages; on CockroachDB the primary key holds them
-- already, and this index only costs its writes.
CREATE INDEX listing_words_weight ON listing_words (word, listing_id, weight);
