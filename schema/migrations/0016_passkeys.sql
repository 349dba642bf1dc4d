-- Passkeys (WebAuthn). A member registers a passkey after joining and signs
-- in with it later: the device keeps the private key, and only the public
-- credential is here. Shared PostgreSQL/CockroachDB dialect.

-- passkeys: a member's registered credentials. credential_id is the id the
-- authenticator gave (what a sign-in names); record is the credential as
-- the WebAuthn layer keeps it (public key, flags, authenticator data,
-- attestation: JSON, all public); sign_count is the authenticator's counter
-- at its last use (a lower one at sign-in means a cloned key). Removing a
-- passkey deletes its row.
CREATE TABLE passkeys (
    id            UUID        PRIMARY KEY,
    member_id     UUID        NOT NULL REFERENCES members (id),
    credential_id BYTEA       NOT NULL UNIQUE,
    record        BYTEA       NOT NULL,
    sign_count    BIGINT      NOT NULL DEFAULT 0,
    created_at    TIMESTAMPTZ NOT NULL,
    last_used_at  TIMESTAMPTZ,
    CONSTRAINT passkeys_credential_id_length CHECK (octet_length(credential_id) BETWEEN 16 AND 1023),
    CONSTRAINT passkeys_record_length CHECK (octet_length(record) BETWEEN 1 AND 65536),
    CONSTRAINT passkeys_sign_count CHECK (sign_count BETWEEN 0 AND 4294967295)
);

CREATE INDEX passkeys_member ON passkeys (member_id, created_at);

-- passkey_ceremonies: the server's half of a WebAuthn ceremony under way
-- (the challenge and what the browser must answer), kept from its start to
-- its answer: a few minutes at most, and used once (the answer deletes it).
-- member_id is the member registering, NULL for a sign-in (the passkey
-- names its member).
CREATE TABLE passkey_ceremonies (
    id         UUID        PRIMARY KEY,
    purpose    TEXT        NOT NULL,
    member_id  UUID        REFERENCES members (id),
    data       BYTEA       NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT passkey_ceremonies_purpose CHECK (purpose IN ('register', 'signin')),
    CONSTRAINT passkey_ceremonies_member CHECK ((purpose = 'register') = (member_id IS NOT NULL)),
    CONSTRAINT passkey_ceremonies_data_length CHECK (octet_length(data) BETWEEN 1 AND 16384),
    CONSTRAINT passkey_ceremonies_expiry CHECK (expires_at > created_at)
);

CREATE INDEX passkey_ceremonies_expires ON passkey_ceremonies (expires_at);

-- A session may now begin with a passkey.
ALTER TABLE sessions DROP CONSTRAINT sessions_method;
ALTER TABLE sessions ADD CONSTRAINT sessions_method_v2 CHECK (method IN ('invitation', 'signin_code', 'passkey'));
