-- The text rule (httpapi/text.go) again in the schema, as a backstop: the
-- API refuses such text with 422 before it gets here, so these constraints
-- hold against any other writer. Text people read holds no C0 or C1
-- control character, no DEL, no bidirectional embedding, override
-- (U+202A-U+202E) or isolate (U+2066-U+2069), and none of the invisible
-- format characters U+200B, U+2028, U+2029, U+2060-U+2064, U+206A-U+206F,
-- U+FEFF, U+FFF9-U+FFFB. One-line text (names, titles, places, tags) holds
-- no tab or line break either; multi-line text (memos, descriptions,
-- reasons, purposes, notes) may hold tab, line feed and carriage return.
-- (NUL and invalid UTF-8 cannot be stored in TEXT at all.)
--
-- Shared PostgreSQL/CockroachDB dialect: the refused characters are written
-- as \u escapes in E'' strings, which both accept, and matched with !~ over
-- a bracket expression of literal characters, which PostgreSQL's regular
-- expressions and CockroachDB's (RE2) read alike. POSIX classes such as
-- [[:cntrl:]] are not used: which characters they hold beyond ASCII depends
-- on the database's locale.
--
-- A database holding such text already must have it cleaned before this
-- migration applies; it refuses to add a constraint that existing rows break.

ALTER TABLE units
    ADD CONSTRAINT units_name_text CHECK (name !~ E'[\u0001-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]');

ALTER TABLE accounts
    ADD CONSTRAINT accounts_name_text CHECK (name !~ E'[\u0001-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]');

ALTER TABLE orgs
    ADD CONSTRAINT orgs_name_text CHECK (name !~ E'[\u0001-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]'),
    ADD CONSTRAINT orgs_city_text CHECK (city !~ E'[\u0001-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]'),
    ADD CONSTRAINT orgs_region_text CHECK (region !~ E'[\u0001-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]');

ALTER TABLE members
    ADD CONSTRAINT members_name_text CHECK (name !~ E'[\u0001-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]'),
    ADD CONSTRAINT members_email_text CHECK (email !~ E'[\u0001-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]');

ALTER TABLE tokens
    ADD CONSTRAINT tokens_name_text CHECK (name !~ E'[\u0001-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]');

ALTER TABLE categories
    ADD CONSTRAINT categories_name_text CHECK (name !~ E'[\u0001-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]');

ALTER TABLE listings
    ADD CONSTRAINT listings_title_text CHECK (title !~ E'[\u0001-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]'),
    ADD CONSTRAINT listings_city_text CHECK (city !~ E'[\u0001-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]'),
    ADD CONSTRAINT listings_neighborhood_text CHECK (neighborhood !~ E'[\u0001-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]'),
    ADD CONSTRAINT listings_description_text CHECK (description !~ E'[\u0001-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]');

ALTER TABLE listing_tags
    ADD CONSTRAINT listing_tags_tag_text CHECK (tag !~ E'[\u0001-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]');

ALTER TABLE funds
    ADD CONSTRAINT funds_name_text CHECK (name !~ E'[\u0001-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]');

ALTER TABLE fund_movements
    ADD CONSTRAINT fund_movements_source_text CHECK (source !~ E'[\u0001-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]'),
    ADD CONSTRAINT fund_movements_memo_text CHECK (memo !~ E'[\u0001-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]');

ALTER TABLE transfers
    ADD CONSTRAINT transfers_memo_text CHECK (memo !~ E'[\u0001-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]');

ALTER TABLE agreements
    ADD CONSTRAINT agreements_message_text CHECK (message !~ E'[\u0001-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]'),
    ADD CONSTRAINT agreements_reason_text CHECK (reason !~ E'[\u0001-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]');

ALTER TABLE trades
    ADD CONSTRAINT trades_memo_text CHECK (memo !~ E'[\u0001-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]');

ALTER TABLE grant_requests
    ADD CONSTRAINT grant_requests_purpose_text CHECK (purpose !~ E'[\u0001-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]'),
    ADD CONSTRAINT grant_requests_decision_note_text CHECK (decision_note !~ E'[\u0001-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]');

ALTER TABLE fund_rule_changes
    ADD CONSTRAINT fund_rule_changes_reason_text CHECK (reason !~ E'[\u0001-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]');
