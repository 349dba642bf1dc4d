-- How people get in: invitations into an organization, one-time sign-in
-- codes a coordinator issues, the sign-in attempts that rate-limit them, and
-- browser sessions. Shared PostgreSQL/CockroachDB dialect: no triggers, no
-- sequences, UUID keys. Secrets are never stored: only the SHA-256 of each
-- (invitation link and code, sign-in code, session id).

-- invitations: a coordinator (or anyone above) invites a person into org_id
-- with a role. link_hash is the hash of the link's 256-bit secret, code_hash
-- that of the short code read over the phone (normalized: upper case, no
-- separators). name, email and phone are what the inviter knew of the person
-- ('' when not given). An invitation works once: accepted_at and
-- accepted_by are set together, by the one transaction that locked the row
-- first; revoked_at ends it unused.
CREATE TABLE invitations (
    id          UUID        PRIMARY KEY,
    org_id      UUID        NOT NULL REFERENCES orgs (id),
    role        TEXT        NOT NULL,
    name        TEXT        NOT NULL DEFAULT '',
    email       TEXT        NOT NULL DEFAULT '',
    phone       TEXT        NOT NULL DEFAULT '',
    link_hash   BYTEA       NOT NULL UNIQUE,
    code_hash   BYTEA       NOT NULL UNIQUE,
    invited_by  UUID        NOT NULL REFERENCES members (id),
    expires_at  TIMESTAMPTZ NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ,
    accepted_at TIMESTAMPTZ,
    accepted_by UUID        REFERENCES members (id),
    CONSTRAINT invitations_role CHECK (role IN ('member', 'coordinator', 'admin')),
    CONSTRAINT invitations_name_length CHECK (length(name) <= 200),
    CONSTRAINT invitations_email_length CHECK (length(email) <= 254),
    CONSTRAINT invitations_phone_length CHECK (length(phone) <= 32),
    -- The text rule of migration 0012, for what the inviter typed.
    CONSTRAINT invitations_name_text CHECK (name !~ E'[\u0001-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]'),
    CONSTRAINT invitations_email_text CHECK (email !~ E'[\u0001-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]'),
    CONSTRAINT invitations_phone_text CHECK (phone !~ E'[\u0001-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]'),
    CONSTRAINT invitations_hash_length CHECK (octet_length(link_hash) = 32 AND octet_length(code_hash) = 32),
    CONSTRAINT invitations_accepted CHECK ((accepted_at IS NULL) = (accepted_by IS NULL)),
    CONSTRAINT invitations_once CHECK (accepted_at IS NULL OR revoked_at IS NULL),
    CONSTRAINT invitations_expiry CHECK (expires_at > created_at)
);

CREATE INDEX invitations_org ON invitations (org_id, id);

-- signin_codes: one-time codes a coordinator issues for a member. A code is
-- used once (used_at), ends when a newer one is issued (superseded_at), and
-- locks after five wrong tries (failures): then even the right code is
-- refused until a new one is issued.
CREATE TABLE signin_codes (
    id            UUID        PRIMARY KEY,
    member_id     UUID        NOT NULL REFERENCES members (id),
    hash          BYTEA       NOT NULL,
    issued_by     UUID        NOT NULL REFERENCES members (id),
    expires_at    TIMESTAMPTZ NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    used_at       TIMESTAMPTZ,
    superseded_at TIMESTAMPTZ,
    failures      BIGINT      NOT NULL DEFAULT 0,
    CONSTRAINT signin_codes_hash_length CHECK (octet_length(hash) = 32),
    CONSTRAINT signin_codes_failures CHECK (failures BETWEEN 0 AND 5),
    CONSTRAINT signin_codes_expiry CHECK (expires_at > created_at)
);

CREATE INDEX signin_codes_member ON signin_codes (member_id, created_at);

-- signin_failures: each wrong sign-in code or invitation code, with the
-- client's address and the member it named (NULL when none or unknown), so
-- that the limits per member and per address hold across restarts and
-- across servers. Rows older than the limits' window count for nothing.
CREATE TABLE signin_failures (
    id        UUID        PRIMARY KEY,
    member_id UUID,
    address   TEXT        NOT NULL,
    kind      TEXT        NOT NULL,
    at        TIMESTAMPTZ NOT NULL,
    CONSTRAINT signin_failures_kind CHECK (kind IN ('signin_code', 'invitation')),
    CONSTRAINT signin_failures_address_length CHECK (length(address) <= 64)
);

CREATE INDEX signin_failures_address ON signin_failures (address, at);
CREATE INDEX signin_failures_member ON signin_failures (member_id, at);

-- sessions: browser sessions. The cookie holds a 256-bit random id; only its
-- hash is here. idle_expires_at slides forward with use (30 days), never past
-- expires_at (the absolute cap). revoked_at ends it at once.
CREATE TABLE sessions (
    id              UUID        PRIMARY KEY,
    member_id       UUID        NOT NULL REFERENCES members (id),
    hash            BYTEA       NOT NULL UNIQUE,
    method          TEXT        NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    last_seen_at    TIMESTAMPTZ NOT NULL,
    idle_expires_at TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    revoked_at      TIMESTAMPTZ,
    CONSTRAINT sessions_hash_length CHECK (octet_length(hash) = 32),
    CONSTRAINT sessions_method CHECK (method IN ('invitation', 'signin_code')),
    CONSTRAINT sessions_idle CHECK (idle_expires_at <= expires_at),
    CONSTRAINT sessions_expiry CHECK (expires_at > created_at)
);

CREATE INDEX sessions_member ON sessions (member_id, created_at);
