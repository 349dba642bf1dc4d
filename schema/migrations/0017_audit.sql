-- Who did what, and erasure. Shared PostgreSQL/CockroachDB dialect: no
-- triggers, no sequences, UUID keys made by the store.

-- audit_events: one row per write, inserted in the same transaction as the
-- write itself, so that a write and its record commit or roll back
-- together. actor_id is the member who acted (NULL only for the system's
-- own work, such as expiring agreements); on_behalf_of the member a
-- coordinator acted for, when one did; credential what the actor
-- authenticated with (a token, a browser session or a passkey, and its
-- id; or 'invitation'/'signin_code' for the write that signed a person
-- in). org_id is the organization the write was done in or for, by which
-- coordinators see their subtree's events; member_id the member the write
-- concerns (the account owner, the member admitted, the token's member),
-- when there is one. kind names the write ('transfer.created',
-- 'agreement.accepted'), subject_id the row it wrote. details holds a few
-- ids and amounts, never personal data (no names, emails or phones, no
-- free text), so that erasing a member never needs to touch this table.
-- The ids carry no foreign keys: the log is a history written alongside
-- every write, and organizations and members are never deleted anyway; a
-- failed reference must never be what refuses a write.
CREATE TABLE audit_events (
    id            UUID        PRIMARY KEY,
    at            TIMESTAMPTZ NOT NULL,
    org_id        UUID,
    actor_id      UUID,
    on_behalf_of  UUID,
    credential    TEXT        NOT NULL,
    credential_id UUID,
    kind          TEXT        NOT NULL,
    subject_id    UUID,
    member_id     UUID,
    details       JSONB,
    CONSTRAINT audit_events_credential CHECK (credential IN ('token', 'session', 'passkey', 'invitation', 'signin_code', 'system')),
    CONSTRAINT audit_events_system CHECK ((credential = 'system') = (actor_id IS NULL)),
    CONSTRAINT audit_events_kind CHECK (kind ~ '^[a-z_]{1,32}\.[a-z_]{1,32}$'),
    CONSTRAINT audit_events_on_behalf CHECK (on_behalf_of IS NULL OR (actor_id IS NOT NULL AND on_behalf_of <> actor_id))
);

CREATE INDEX audit_events_org ON audit_events (org_id, id);
CREATE INDEX audit_events_member ON audit_events (member_id, id);
CREATE INDEX audit_events_actor ON audit_events (actor_id, id);
CREATE INDEX audit_events_on_behalf ON audit_events (on_behalf_of, id);

-- erasures: the members whose personal data was erased. number is the
-- short number of their new name ("former member 12"), unique; the erasing
-- transaction runs at SERIALIZABLE and takes one more than the largest.
-- A member listed here has no email, tokens, sessions, sign-in codes or
-- memberships, and their accounts are closed (the ledger refuses any
-- movement touching a closed account, and accounts_closed_empty keeps a
-- closed account's balance and holds at zero).
CREATE TABLE erasures (
    member_id UUID        PRIMARY KEY REFERENCES members (id),
    number    BIGINT      NOT NULL UNIQUE,
    erased_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT erasures_number CHECK (number > 0)
);
