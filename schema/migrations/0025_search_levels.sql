-- Word search by level. A search no longer scores every listing that holds
-- a word (a tenth of a city for a common one) before taking a page: it
-- reads a word's listings one level at a time, best first (the whole word
-- in titles, then in tags, ...), and only the best few of a level go on to
-- the listings table (see exchange.findWords). A level is one weight and
-- one word (in listing order) or the range of longer words a search word
-- begins: a range of (weight, word, listing_id, lat, lon), weight first so
-- that the range holds that weight's rows only. The listing's place is
-- kept beside its words, so that a search near a point orders a level by
-- distance from the index alone, without looking up a thousand listings.
-- The other words of a search are probes of (listing_id, word, weight).
-- Both indexes are read alone (index-only), and replace the two they
-- cover: (word, listing_id, weight) and (listing_id). The primary key
-- (word, listing_id) still serves a word's whole range.
--
-- lat and lon are the listing's (a listing's place never changes after it
-- is posted); the store writes them with the words. They stay NULL-able
-- for rows written by a server older than this migration during an
-- upgrade: a search takes such a row as a candidate whatever its distance,
-- and measures from the listing itself.
--
-- Shared PostgreSQL/CockroachDB dialect: ADD COLUMN without default, plain
-- btree indexes, DROP INDEX by a name unique in the database, UPDATE … FROM.
-- Four steps (see schema.StepMarker): CockroachDB lets no transaction fill
-- a column it added; and the old indexes are dropped in a step of their
-- own, after the new ones are built: a step that built an index (a SHARE
-- lock on listing_words) and then dropped one (ACCESS EXCLUSIVE on the
-- same table) deadlocked with the same step of a migrator started beside
-- it, each holding the lock the other's drop waits for
-- (TestConcurrentMigratorsUpgrade).
ALTER TABLE listing_words ADD COLUMN IF NOT EXISTS lat DOUBLE PRECISION;
ALTER TABLE listing_words ADD COLUMN IF NOT EXISTS lon DOUBLE PRECISION;
-- mutual:step
CREATE INDEX IF NOT EXISTS listing_words_level ON listing_words (weight, word, listing_id, lat, lon);
CREATE INDEX IF NOT EXISTS listing_words_probe ON listing_words (listing_id, word, weight);
-- mutual:step
DROP INDEX IF EXISTS listing_words_weight;
DROP INDEX IF EXISTS listing_words_listing;
-- mutual:step
UPDATE listing_words SET lat = l.lat, lon = l.lon FROM listings l WHERE l.id = listing_words.listing_id AND listing_words.lat IS NULL;
