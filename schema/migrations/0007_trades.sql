-- Trades: an exchange of goods, services and money between two organizations
-- (two co-ops, a co-op and a municipality), proposed by a coordinator of one
-- and accepted by a coordinator of the other. Nobody moves value that is not
-- theirs: the proposer's legs out of its own accounts are its offer, the
-- counterparty's legs out of its accounts wait for the counterparty's
-- consent. Acceptance posts every leg as ONE atomic ledger transfer, in the
-- same transaction that marks the trade accepted. Shared
-- PostgreSQL/CockroachDB dialect: no triggers, no sequences, BIGINT spelled
-- out, UUID keys. Trades are never deleted; they end accepted, declined,
-- cancelled or expired.

-- trades holds one row per trade. status moves only from 'proposed': to
-- 'accepted' (transfer_id then names the transfer that moved the legs, and
-- decided_by the member who accepted), 'declined' (by the counterparty) or
-- 'cancelled' (by the proposer), each with decided_by. 'expired' is how every
-- read reports a proposed trade past expires_at; such a trade can no longer
-- be accepted. The store locks the row (SELECT ... FOR UPDATE) before it
-- decides, so an accept racing a cancel or another accept has one outcome.
CREATE TABLE trades (
    id               UUID        PRIMARY KEY,
    proposer_org     UUID        NOT NULL REFERENCES orgs (id),
    counterparty_org UUID        NOT NULL REFERENCES orgs (id),
    proposed_by      UUID        NOT NULL REFERENCES members (id),
    status           TEXT        NOT NULL DEFAULT 'proposed',
    memo             TEXT        NOT NULL DEFAULT '',
    transfer_id      UUID        REFERENCES transfers (id),
    decided_by       UUID        REFERENCES members (id),
    expires_at       TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    CONSTRAINT trades_status CHECK (status IN ('proposed', 'accepted', 'declined', 'cancelled', 'expired')),
    CONSTRAINT trades_two_orgs CHECK (proposer_org <> counterparty_org),
    CONSTRAINT trades_memo_length CHECK (length(memo) <= 1000),
    CONSTRAINT trades_transfer_iff_accepted CHECK ((status = 'accepted') = (transfer_id IS NOT NULL)),
    CONSTRAINT trades_decided CHECK ((status IN ('proposed', 'expired')) = (decided_by IS NULL)),
    CONSTRAINT trades_expiry_after_creation CHECK (expires_at IS NULL OR expires_at > created_at),
    CONSTRAINT trades_updated_after_creation CHECK (updated_at >= created_at)
);

-- A transfer settles at most one trade.
CREATE UNIQUE INDEX trades_transfer ON trades (transfer_id) WHERE transfer_id IS NOT NULL;
CREATE INDEX trades_proposer ON trades (proposer_org, id);
CREATE INDEX trades_counterparty ON trades (counterparty_org, id);

-- trade_legs are a trade's movements, in the order given: amount of unit from
-- one account to another, one of the proposer organization's and one of the
-- counterparty's (either way round; the store checks owners and units against
-- the ledger's accounts, which it cannot reference by owner here). They are
-- written once, with the trade, and become the postings of its transfer.
CREATE TABLE trade_legs (
    trade_id     UUID    NOT NULL REFERENCES trades (id),
    leg          BIGINT  NOT NULL,
    from_account UUID    NOT NULL REFERENCES accounts (id),
    to_account   UUID    NOT NULL REFERENCES accounts (id),
    amount       NUMERIC NOT NULL,
    unit         TEXT    NOT NULL REFERENCES units (code),
    PRIMARY KEY (trade_id, leg),
    CONSTRAINT trade_legs_index CHECK (leg >= 0 AND leg < 100),
    CONSTRAINT trade_legs_amount_positive CHECK (amount > 0),
    CONSTRAINT trade_legs_two_accounts CHECK (from_account <> to_account)
);
