-- Funds: the network's pooled money, the grants local organizations ask it
-- for, the decisions on them, and every movement in and out, which the public
-- fund report lists. Shared PostgreSQL/CockroachDB dialect: no triggers, no
-- sequences, BIGINT spelled out, UUID keys. Nothing here is deleted: a
-- grant request ends as rejected, withdrawn or disbursed.
--
-- The money itself is in the ledger. A fund owns two ledger accounts, both
-- owned by its organization: account_id (kind fund, lower bound 0), which
-- holds the money, and external_account_id (kind external), which stands for
-- the world outside the network that outside donations come from. Both are
-- opened in the transaction that inserts the fund, so the foreign keys hold
-- from the start.

-- funds are created by a coordinator of the owning organization (normally
-- the network) or the admin. unit is the account's unit, kept here so a
-- fund's reads need no ledger lookup.
CREATE TABLE funds (
    id                  UUID        PRIMARY KEY,
    org_id              UUID        NOT NULL REFERENCES orgs (id),
    name                TEXT        NOT NULL,
    unit                TEXT        NOT NULL REFERENCES units (code),
    account_id          UUID        NOT NULL UNIQUE REFERENCES accounts (id),
    external_account_id UUID        NOT NULL UNIQUE REFERENCES accounts (id),
    created_by          UUID        NOT NULL REFERENCES members (id),
    created_at          TIMESTAMPTZ NOT NULL,
    CONSTRAINT funds_name_length CHECK (length(name) BETWEEN 1 AND 200),
    CONSTRAINT funds_two_accounts CHECK (account_id <> external_account_id)
);

CREATE INDEX funds_org ON funds (org_id);

-- grant_requests is a grant's whole life:
--
--   requested → approved → disbursed
--   requested → rejected | withdrawn
--
-- The CHECKs below hold every status to its fields, whatever writes the row:
-- a decision (decided_by, decided_at, and the optional tally, all three
-- counts or none: spelled out with IS NOT NULL, since a CHECK that comes out
-- NULL passes) exists exactly when the grant was approved, rejected or
-- disbursed; a note only with a decision; transfer_id (the ledger transfer
-- that paid it) exactly when disbursed. to_account is the requesting
-- organization's account the money goes to; the exchange checks its owner
-- and unit. (id, fund_id, org_id) is unique so that a fund's outflow can
-- name its grant, fund and organization in one foreign key.
CREATE TABLE grant_requests (
    id            UUID        PRIMARY KEY,
    fund_id       UUID        NOT NULL REFERENCES funds (id),
    org_id        UUID        NOT NULL REFERENCES orgs (id),
    requested_by  UUID        NOT NULL REFERENCES members (id),
    amount        NUMERIC     NOT NULL,
    purpose       TEXT        NOT NULL,
    to_account    UUID        NOT NULL REFERENCES accounts (id),
    status        TEXT        NOT NULL DEFAULT 'requested',
    decided_by    UUID        REFERENCES members (id),
    decided_at    TIMESTAMPTZ,
    decision_note TEXT        NOT NULL DEFAULT '',
    votes_for     BIGINT,
    votes_against BIGINT,
    votes_abstain BIGINT,
    transfer_id   UUID        UNIQUE REFERENCES transfers (id),
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    CONSTRAINT grant_requests_fund_org UNIQUE (id, fund_id, org_id),
    CONSTRAINT grant_requests_status CHECK (status IN ('requested', 'approved', 'rejected', 'disbursed', 'withdrawn')),
    CONSTRAINT grant_requests_amount_positive CHECK (amount > 0),
    CONSTRAINT grant_requests_purpose_length CHECK (length(purpose) BETWEEN 1 AND 1000),
    CONSTRAINT grant_requests_note_length CHECK (length(decision_note) <= 2000),
    CONSTRAINT grant_requests_decided CHECK ((decided_by IS NOT NULL) = (status IN ('approved', 'rejected', 'disbursed'))),
    CONSTRAINT grant_requests_decided_at CHECK ((decided_at IS NOT NULL) = (decided_by IS NOT NULL) AND (decided_at IS NULL OR decided_at >= created_at)),
    CONSTRAINT grant_requests_note_needs_decision CHECK (decision_note = '' OR decided_by IS NOT NULL),
    CONSTRAINT grant_requests_votes CHECK (
        (votes_for IS NULL AND votes_against IS NULL AND votes_abstain IS NULL)
        OR (decided_by IS NOT NULL AND votes_for IS NOT NULL AND votes_against IS NOT NULL AND votes_abstain IS NOT NULL
            AND votes_for >= 0 AND votes_against >= 0 AND votes_abstain >= 0)),
    CONSTRAINT grant_requests_disbursed CHECK ((transfer_id IS NOT NULL) = (status = 'disbursed')),
    CONSTRAINT grant_requests_updated CHECK (updated_at >= created_at)
);

CREATE INDEX grant_requests_fund ON grant_requests (fund_id, id);
CREATE INDEX grant_requests_org ON grant_requests (org_id);

-- fund_movements is the fund's public book: one row per ledger transfer into
-- or out of the fund's account, saying whom it is attributed to. An inflow is
-- credited to an organization (org_id), or, for money from outside the
-- network, to the donor's name as given (source, with org_id NULL). A
-- member's contribution is credited to the organization they named and
-- belong to; the member is not recorded here, since the report is public
-- (the ledger transfer, readable by those who may read the member's account,
-- still says whose account paid). An outflow is a disbursed grant, paid to
-- the grant's organization (the composite foreign key ties the three
-- together), at most one per grant.
--
-- transfer_id references the ledger's transfers. The ledger writes its rows
-- with COMMIT (pgtx.Tx.Defer), so the exchange inserts a movement through a
-- deferred write queued after the ledger's, in the same transaction: the
-- foreign key then always holds, and a movement exists exactly when its
-- transfer does. at is the transfer's time.
CREATE TABLE fund_movements (
    id          UUID        PRIMARY KEY,
    fund_id     UUID        NOT NULL REFERENCES funds (id),
    transfer_id UUID        NOT NULL UNIQUE REFERENCES transfers (id),
    direction   TEXT        NOT NULL,
    org_id      UUID        REFERENCES orgs (id),
    source      TEXT        NOT NULL DEFAULT '',
    amount      NUMERIC     NOT NULL,
    memo        TEXT        NOT NULL DEFAULT '',
    at          TIMESTAMPTZ NOT NULL,
    grant_id    UUID        UNIQUE,
    CONSTRAINT fund_movements_grant FOREIGN KEY (grant_id, fund_id, org_id) REFERENCES grant_requests (id, fund_id, org_id),
    CONSTRAINT fund_movements_direction CHECK (direction IN ('in', 'out')),
    CONSTRAINT fund_movements_amount_positive CHECK (amount > 0),
    CONSTRAINT fund_movements_attributed CHECK ((org_id IS NULL) = (source <> '')),
    CONSTRAINT fund_movements_source_length CHECK (length(source) <= 200),
    CONSTRAINT fund_movements_outside_is_inflow CHECK (source = '' OR direction = 'in'),
    CONSTRAINT fund_movements_outflow_is_grant CHECK ((direction = 'out') = (grant_id IS NOT NULL)),
    CONSTRAINT fund_movements_memo_length CHECK (length(memo) <= 1000)
);

CREATE INDEX fund_movements_fund_at ON fund_movements (fund_id, at);
