-- Obligations between organizations, and clearing runs that cancel chains
-- of them. An organization (the creditor) records that another (the
-- debtor) owes it an amount in a unit, with a due date and a reference (an
-- invoice number); a coordinator of the debtor confirms or disputes it.
-- A confirmed obligation is open until its outstanding amount reaches
-- zero, by payments (ledger transfers that name it) and by clearing runs
-- (multilateral set-off, which moves no value). Shared
-- PostgreSQL/CockroachDB dialect: no triggers, no sequences, BIGINT
-- spelled out, UUID keys. Nothing here is ever deleted.

-- obligations: status moves pending -> confirmed | disputed, and confirmed
-- -> settled when outstanding reaches zero (and only then). The store locks
-- an obligation's row before it changes it; a clearing run locks all of its
-- group's obligations in id order, so runs and payments are ordered.
CREATE TABLE obligations (
    id               UUID        PRIMARY KEY,
    creditor_org     UUID        NOT NULL REFERENCES orgs (id),
    debtor_org       UUID        NOT NULL REFERENCES orgs (id),
    unit             TEXT        NOT NULL REFERENCES units (code),
    -- The creditor's account that payments go to, in unit.
    creditor_account UUID        NOT NULL REFERENCES accounts (id),
    amount           NUMERIC     NOT NULL,
    outstanding      NUMERIC     NOT NULL,
    due_date         DATE        NOT NULL,
    reference        TEXT        NOT NULL,
    memo             TEXT        NOT NULL DEFAULT '',
    status           TEXT        NOT NULL DEFAULT 'pending',
    dispute_reason   TEXT        NOT NULL DEFAULT '',
    recorded_by      UUID        NOT NULL REFERENCES members (id),
    decided_by       UUID        REFERENCES members (id),
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    CONSTRAINT obligations_status CHECK (status IN ('pending', 'confirmed', 'disputed', 'settled')),
    CONSTRAINT obligations_two_orgs CHECK (creditor_org <> debtor_org),
    CONSTRAINT obligations_amount_positive CHECK (amount > 0),
    CONSTRAINT obligations_outstanding_bounds CHECK (outstanding >= 0 AND outstanding <= amount),
    CONSTRAINT obligations_settled_iff_zero CHECK ((status = 'settled') = (outstanding = 0)),
    CONSTRAINT obligations_untouched_until_confirmed CHECK (status IN ('confirmed', 'settled') OR outstanding = amount),
    CONSTRAINT obligations_decided CHECK ((status = 'pending') = (decided_by IS NULL)),
    CONSTRAINT obligations_reference_length CHECK (length(reference) BETWEEN 1 AND 200),
    CONSTRAINT obligations_memo_length CHECK (length(memo) <= 1000),
    CONSTRAINT obligations_reason_length CHECK (length(dispute_reason) <= 1000),
    CONSTRAINT obligations_updated_after_creation CHECK (updated_at >= created_at)
);
CREATE INDEX obligations_creditor ON obligations (creditor_org, id);
CREATE INDEX obligations_debtor ON obligations (debtor_org, id);
CREATE INDEX obligations_open ON obligations (unit, id) WHERE status = 'confirmed';

-- clearing_runs records each applied clearing: over the confirmed open
-- obligations in unit among group_org and the organizations under it,
-- what they came to and how much was cancelled.
CREATE TABLE clearing_runs (
    id           UUID        PRIMARY KEY,
    group_org    UUID        NOT NULL REFERENCES orgs (id),
    unit         TEXT        NOT NULL REFERENCES units (code),
    started_by   UUID        NOT NULL REFERENCES members (id),
    obligations  BIGINT      NOT NULL,
    participants BIGINT      NOT NULL,
    total_debt   NUMERIC     NOT NULL,
    cleared      NUMERIC     NOT NULL,
    -- With credit lines: the one ledger transfer that moved value between
    -- the participants' accounts, and how much it moved in all.
    use_credit   BOOLEAN     NOT NULL DEFAULT FALSE,
    transfer_id  UUID        REFERENCES transfers (id),
    through_ledger NUMERIC   NOT NULL DEFAULT 0,
    created_at   TIMESTAMPTZ NOT NULL,
    CONSTRAINT clearing_runs_counts CHECK (obligations >= 0 AND participants >= 0),
    CONSTRAINT clearing_runs_cleared_bounds CHECK (cleared >= 0 AND cleared <= total_debt),
    CONSTRAINT clearing_runs_transfer CHECK ((transfer_id IS NOT NULL) = (through_ledger > 0) AND (use_credit OR through_ledger = 0))
);
CREATE UNIQUE INDEX clearing_runs_transfer ON clearing_runs (transfer_id) WHERE transfer_id IS NOT NULL;

-- clearing_credit_lines: an organization's consent that clearing runs in
-- unit (those that ask for credit) may move value into and out of one of
-- its accounts, within that account's bounds (its credit limit below, its
-- cap above), to cancel chains of debt set-off alone cannot.
CREATE TABLE clearing_credit_lines (
    org_id     UUID        NOT NULL REFERENCES orgs (id),
    unit       TEXT        NOT NULL REFERENCES units (code),
    account_id UUID        NOT NULL REFERENCES accounts (id),
    agreed_by  UUID        NOT NULL REFERENCES members (id),
    agreed_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, unit)
);
CREATE INDEX clearing_runs_group ON clearing_runs (group_org, id);

-- obligation_settlements is every reduction of an obligation: a payment
-- (transfer_id names the ledger transfer that paid it) or its part of a
-- clearing run (clearing_run_id). outstanding = amount - sum of these;
-- `mutual verify` checks it.
CREATE TABLE obligation_settlements (
    id              UUID        PRIMARY KEY,
    obligation_id   UUID        NOT NULL REFERENCES obligations (id),
    kind            TEXT        NOT NULL,
    amount          NUMERIC     NOT NULL,
    transfer_id     UUID        REFERENCES transfers (id),
    clearing_run_id UUID        REFERENCES clearing_runs (id),
    created_at      TIMESTAMPTZ NOT NULL,
    CONSTRAINT obligation_settlements_kind CHECK (kind IN ('payment', 'clearing')),
    CONSTRAINT obligation_settlements_amount_positive CHECK (amount > 0),
    CONSTRAINT obligation_settlements_reference CHECK (
        CASE kind
            WHEN 'payment' THEN transfer_id IS NOT NULL AND clearing_run_id IS NULL
            ELSE clearing_run_id IS NOT NULL AND transfer_id IS NULL
        END)
);
CREATE INDEX obligation_settlements_obligation ON obligation_settlements (obligation_id, created_at);
CREATE INDEX obligation_settlements_run ON obligation_settlements (clearing_run_id) WHERE clearing_run_id IS NOT NULL;
-- A transfer pays at most one obligation.
CREATE UNIQUE INDEX obligation_settlements_transfer ON obligation_settlements (transfer_id) WHERE transfer_id IS NOT NULL;

-- Notifications of obligations (recorded, confirmed, disputed, paid) and
-- of clearing runs, next to the others; each names its record.
ALTER TABLE notifications ADD COLUMN obligation_id UUID REFERENCES obligations (id);
ALTER TABLE notifications ADD COLUMN clearing_run_id UUID REFERENCES clearing_runs (id);
ALTER TABLE notifications DROP CONSTRAINT notifications_kind;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind CHECK (kind IN (
    'agreement_proposed', 'agreement_accepted', 'agreement_confirmed', 'agreement_completed',
    'agreement_cancelled', 'agreement_disputed', 'agreement_resolved', 'agreement_expired',
    'trade_proposed', 'trade_accepted', 'trade_declined', 'trade_cancelled',
    'grant_requested', 'grant_approved', 'grant_rejected', 'grant_awaiting_second_approval', 'grant_disbursed',
    'obligation_recorded', 'obligation_confirmed', 'obligation_disputed', 'obligation_paid',
    'clearing_applied'));
ALTER TABLE notifications DROP CONSTRAINT notifications_reference;
ALTER TABLE notifications ADD CONSTRAINT notifications_reference CHECK (
    CASE
        WHEN kind LIKE 'agreement_%' THEN agreement_id IS NOT NULL AND trade_id IS NULL AND grant_id IS NULL
            AND obligation_id IS NULL AND clearing_run_id IS NULL
        WHEN kind LIKE 'trade_%' THEN trade_id IS NOT NULL AND agreement_id IS NULL AND grant_id IS NULL
            AND obligation_id IS NULL AND clearing_run_id IS NULL
        WHEN kind LIKE 'grant_%' THEN grant_id IS NOT NULL AND agreement_id IS NULL AND trade_id IS NULL
            AND obligation_id IS NULL AND clearing_run_id IS NULL
        WHEN kind LIKE 'obligation_%' THEN obligation_id IS NOT NULL AND agreement_id IS NULL AND trade_id IS NULL
            AND grant_id IS NULL AND clearing_run_id IS NULL
        WHEN kind LIKE 'clearing_%' THEN clearing_run_id IS NOT NULL AND agreement_id IS NULL AND trade_id IS NULL
            AND grant_id IS NULL AND obligation_id IS NULL
        ELSE FALSE
    END);

-- The text rule of 0012_text.sql on the obligations' text.
ALTER TABLE obligations
    ADD CONSTRAINT obligations_reference_text CHECK (reference !~ E'[\u0001-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]'),
    ADD CONSTRAINT obligations_memo_text CHECK (memo !~ E'[\u0001-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]'),
    ADD CONSTRAINT obligations_dispute_reason_text CHECK (dispute_reason !~ E'[\u0001-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]');
