-- Time banks: the rules a coordinator sets for an organization that counts
-- hours between its members. Shared PostgreSQL/CockroachDB dialect: no
-- triggers, no sequences, UUID keys made by the store.

-- timebank_rules holds one organization's rules, set and changed by its
-- coordinators (or those above it):
--   unit          what the time bank counts (usually HOUR: one hour of anyone's
--                 time is one hour); it must exist, and never changes once set,
--                 since the pool account holds it;
--   credit_limit  how far below zero a new member's account may go (its lower
--                 bound is -credit_limit); 0 means no credit;
--   cap           the most a new member's balance may reach (its upper bound),
--                 or NULL for none;
--   pool_account  the community pool, an account of kind pool owned by the
--                 organization, opened in the same transaction as the first
--                 rules: members donate hours to it, coordinators grant hours
--                 from it to people who cannot give back. It never goes below
--                 zero (the ledger's lower bound 0).
-- The limits are applied when an account is opened (on admission, or by
-- POST /v1/accounts with no bounds); changing them leaves the bounds of
-- accounts already open as they are. Rules are never deleted.
CREATE TABLE timebank_rules (
    org_id       UUID        PRIMARY KEY REFERENCES orgs (id),
    unit         TEXT        NOT NULL REFERENCES units (code),
    credit_limit NUMERIC     NOT NULL,
    cap          NUMERIC,
    pool_account UUID        NOT NULL UNIQUE REFERENCES accounts (id),
    updated_by   UUID        REFERENCES members (id),
    updated_at   TIMESTAMPTZ NOT NULL,
    CONSTRAINT timebank_rules_credit_limit CHECK (credit_limit >= 0),
    CONSTRAINT timebank_rules_cap CHECK (cap IS NULL OR cap > 0)
);
