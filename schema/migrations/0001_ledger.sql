-- The double-entry ledger: units, accounts, transfers, entries and the open
-- reservations of pending transfers. Shared PostgreSQL/CockroachDB dialect: no
-- triggers, no sequences, BIGINT spelled out, UUID keys.

CREATE TABLE units (
    code       TEXT        PRIMARY KEY,
    scale      BIGINT      NOT NULL,
    name       TEXT        NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT units_code_format CHECK (code ~ '^[A-Z][A-Z0-9_]{0,31}$'),
    CONSTRAINT units_scale_range CHECK (scale >= 0 AND scale <= 18)
);

-- balance is the posted balance. pending_debits and pending_credits are the sums
-- of the open reservations of pending transfers against this account. The bound
-- checks below are the last line of defence behind the ledger's own checks: no
-- code path, however it reaches the table, can leave an account outside them.
CREATE TABLE accounts (
    id              UUID        PRIMARY KEY,
    unit            TEXT        NOT NULL REFERENCES units (code),
    owner           TEXT        NOT NULL DEFAULT '',
    kind            TEXT        NOT NULL,
    name            TEXT        NOT NULL DEFAULT '',
    status          TEXT        NOT NULL DEFAULT 'open',
    lower_bound     NUMERIC,
    upper_bound     NUMERIC,
    balance         NUMERIC     NOT NULL DEFAULT 0,
    pending_debits  NUMERIC     NOT NULL DEFAULT 0,
    pending_credits NUMERIC     NOT NULL DEFAULT 0,
    entry_seq       BIGINT      NOT NULL DEFAULT 0,
    last_entry_at   TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL,
    CONSTRAINT accounts_kind CHECK (kind IN ('member', 'organization', 'pool', 'fund', 'external')),
    CONSTRAINT accounts_status CHECK (status IN ('open', 'frozen', 'closed')),
    CONSTRAINT accounts_bounds_ordered CHECK (lower_bound IS NULL OR upper_bound IS NULL OR lower_bound <= upper_bound),
    CONSTRAINT accounts_only_external_unbounded CHECK ((kind = 'external') = (lower_bound IS NULL)),
    CONSTRAINT accounts_lower_bound CHECK (lower_bound IS NULL OR balance - pending_debits >= lower_bound),
    CONSTRAINT accounts_upper_bound CHECK (upper_bound IS NULL OR balance + pending_credits <= upper_bound),
    CONSTRAINT accounts_pending_nonnegative CHECK (pending_debits >= 0 AND pending_credits >= 0),
    CONSTRAINT accounts_seq_nonnegative CHECK (entry_seq >= 0),
    CONSTRAINT accounts_closed_empty CHECK (status <> 'closed' OR (balance = 0 AND pending_debits = 0 AND pending_credits = 0))
);

CREATE INDEX accounts_owner ON accounts (owner, unit);

-- A transfer is one journal entry. postings holds its legs as written by the
-- caller ([{"from","to","amount","unit"}], amounts as decimal strings); the
-- per-account movements are in entries. state moves only from 'pending' to
-- 'posted', 'voided' or 'expired'; a posted transfer never changes.
CREATE TABLE transfers (
    id              UUID        PRIMARY KEY,
    idempotency_key TEXT,
    request_hash    BYTEA,
    state           TEXT        NOT NULL,
    postings        JSONB       NOT NULL,
    memo            TEXT        NOT NULL DEFAULT '',
    metadata        JSONB,
    pending_id      UUID        REFERENCES transfers (id),
    reverses        UUID        REFERENCES transfers (id),
    expires_at      TIMESTAMPTZ,
    resolved_by     UUID,
    resolved_at     TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL,
    CONSTRAINT transfers_state CHECK (state IN ('pending', 'posted', 'voided', 'expired')),
    CONSTRAINT transfers_key_has_hash CHECK (idempotency_key IS NULL OR request_hash IS NOT NULL),
    CONSTRAINT transfers_key_length CHECK (idempotency_key IS NULL OR (length(idempotency_key) BETWEEN 1 AND 255)),
    CONSTRAINT transfers_memo_length CHECK (length(memo) <= 1000),
    CONSTRAINT transfers_pending_open CHECK (state <> 'pending' OR (resolved_at IS NULL AND resolved_by IS NULL)),
    CONSTRAINT transfers_released_resolved CHECK (state NOT IN ('voided', 'expired') OR resolved_at IS NOT NULL),
    CONSTRAINT transfers_not_self_reversal CHECK (reverses IS NULL OR reverses <> id)
);

CREATE UNIQUE INDEX transfers_idempotency_key ON transfers (idempotency_key) WHERE idempotency_key IS NOT NULL;
-- A transfer is reversed at most once, and a hold is posted at most once.
CREATE UNIQUE INDEX transfers_reverses ON transfers (reverses) WHERE reverses IS NOT NULL;
CREATE UNIQUE INDEX transfers_pending_id ON transfers (pending_id) WHERE pending_id IS NOT NULL;
CREATE INDEX transfers_expiring ON transfers (expires_at) WHERE state = 'pending';

-- entries is the journal: one row per side of each posting of a posted transfer,
-- numbered per account (seq) and never updated or deleted. posted_at does not
-- decrease along seq, so the balance at an instant is found by walking the
-- primary key back from the newest entry. A second index on posted_at would
-- make that one lookup, but it cost 6-18% of transfer throughput (every entry
-- pays for it), while a balance in the past is a rare, reporting query.
CREATE TABLE entries (
    account_id    UUID        NOT NULL REFERENCES accounts (id),
    seq           BIGINT      NOT NULL,
    transfer_id   UUID        NOT NULL REFERENCES transfers (id),
    posting       BIGINT      NOT NULL,
    amount        NUMERIC     NOT NULL,
    balance_after NUMERIC     NOT NULL,
    posted_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (account_id, seq),
    CONSTRAINT entries_amount_nonzero CHECK (amount <> 0),
    CONSTRAINT entries_seq_positive CHECK (seq > 0),
    CONSTRAINT entries_posting_index CHECK (posting >= 0)
);


-- reservations are the open holds of pending transfers, one row per account a
-- hold touches; a row is deleted when its hold is posted, voided or expired.
-- For every account, pending_debits = sum(debit) and pending_credits = sum(credit).
CREATE TABLE reservations (
    account_id  UUID        NOT NULL REFERENCES accounts (id),
    transfer_id UUID        NOT NULL REFERENCES transfers (id),
    debit       NUMERIC     NOT NULL,
    credit      NUMERIC     NOT NULL,
    expires_at  TIMESTAMPTZ,
    PRIMARY KEY (account_id, transfer_id),
    CONSTRAINT reservations_nonnegative CHECK (debit >= 0 AND credit >= 0 AND debit + credit > 0)
);
