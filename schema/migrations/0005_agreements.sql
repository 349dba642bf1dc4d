-- Agreements: an offer joined to a need, from proposal to the hours moved.
-- Shared PostgreSQL/CockroachDB dialect: UUID keys made by the store, NUMERIC
-- quantities, no triggers or sequences. Agreements are never deleted.
--
-- The giver owns the offer and the receiver the need; the hours move from
-- the receiver's account to the giver's. On acceptance the store writes, in
-- the same transaction, a ledger hold (hold_id) that reserves quantity in the
-- receiver's account; completion posts it (transfer_id, the posting transfer)
-- and cancellation or expiry voids it. A disputed agreement keeps its hold
-- until a coordinator resolves it. The CHECKs below tie each status to the
-- ledger rows it must (or must not) have, so that no path around the store
-- can record an accepted agreement without its hold or a completed one
-- without its transfer.
--
-- hold_id and transfer_id reference transfers: the store writes the
-- agreement's row after the ledger's, in the same COMMIT.
CREATE TABLE agreements (
    id                 UUID        PRIMARY KEY,
    offer_id           UUID        NOT NULL REFERENCES listings (id),
    need_id            UUID        NOT NULL REFERENCES listings (id),
    giver              UUID        NOT NULL REFERENCES members (id),
    receiver           UUID        NOT NULL REFERENCES members (id),
    proposed_by        UUID        NOT NULL REFERENCES members (id),
    quantity           NUMERIC     NOT NULL,
    unit               TEXT        NOT NULL REFERENCES units (code),
    giver_account      UUID        REFERENCES accounts (id),
    receiver_account   UUID        REFERENCES accounts (id),
    status             TEXT        NOT NULL,
    hold_id            UUID        UNIQUE REFERENCES transfers (id),
    transfer_id        UUID        UNIQUE REFERENCES transfers (id),
    giver_confirmed    NUMERIC,
    receiver_confirmed NUMERIC,
    message            TEXT        NOT NULL DEFAULT '',
    reason             TEXT        NOT NULL DEFAULT '',
    closed_by          UUID        REFERENCES members (id),
    disputed_by        UUID        REFERENCES members (id),
    expires_at         TIMESTAMPTZ NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    accepted_at        TIMESTAMPTZ,
    completed_at       TIMESTAMPTZ,
    CONSTRAINT agreements_status CHECK (status IN ('proposed', 'accepted', 'completed', 'cancelled', 'expired', 'disputed')),
    CONSTRAINT agreements_two_people CHECK (giver <> receiver),
    CONSTRAINT agreements_two_listings CHECK (offer_id <> need_id),
    CONSTRAINT agreements_proposer CHECK (proposed_by IN (giver, receiver)),
    CONSTRAINT agreements_quantity_positive CHECK (quantity > 0),
    CONSTRAINT agreements_confirmed CHECK (
        (giver_confirmed IS NULL OR (giver_confirmed > 0 AND giver_confirmed <= quantity)) AND
        (receiver_confirmed IS NULL OR (receiver_confirmed > 0 AND receiver_confirmed <= quantity))),
    -- Accepted, disputed and completed agreements reserved their hours:
    -- both accounts and the hold are known, and only a completed one has
    -- its transfer.
    CONSTRAINT agreements_hold CHECK (
        CASE status
            WHEN 'proposed' THEN hold_id IS NULL AND transfer_id IS NULL AND accepted_at IS NULL
            WHEN 'accepted' THEN hold_id IS NOT NULL AND transfer_id IS NULL AND accepted_at IS NOT NULL
            WHEN 'disputed' THEN hold_id IS NOT NULL AND transfer_id IS NULL AND disputed_by IS NOT NULL
            WHEN 'completed' THEN hold_id IS NOT NULL AND transfer_id IS NOT NULL AND completed_at IS NOT NULL
            ELSE transfer_id IS NULL
        END),
    CONSTRAINT agreements_accounts CHECK (
        hold_id IS NULL OR (giver_account IS NOT NULL AND receiver_account IS NOT NULL AND giver_account <> receiver_account)),
    CONSTRAINT agreements_message_length CHECK (length(message) <= 2000),
    CONSTRAINT agreements_reason_length CHECK (length(reason) <= 2000)
);

CREATE INDEX agreements_offer ON agreements (offer_id);
CREATE INDEX agreements_need ON agreements (need_id);
CREATE INDEX agreements_giver ON agreements (giver);
CREATE INDEX agreements_receiver ON agreements (receiver);
CREATE INDEX agreements_expiring ON agreements (expires_at) WHERE status IN ('proposed', 'accepted');

-- notifications tell a member that something needs them: a proposal to
-- answer, an acceptance, a dispute for a coordinator to resolve. They are
-- read with GET /v1/me/notifications; read_at is set when they are marked
-- read.
CREATE TABLE notifications (
    id           UUID        PRIMARY KEY,
    member_id    UUID        NOT NULL REFERENCES members (id),
    kind         TEXT        NOT NULL,
    agreement_id UUID        REFERENCES agreements (id),
    message      TEXT        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    read_at      TIMESTAMPTZ,
    CONSTRAINT notifications_kind CHECK (kind IN ('agreement_proposed', 'agreement_accepted', 'agreement_confirmed', 'agreement_completed',
        'agreement_cancelled', 'agreement_disputed', 'agreement_resolved', 'agreement_expired')),
    CONSTRAINT notifications_message_length CHECK (length(message) BETWEEN 1 AND 2000)
);

CREATE INDEX notifications_member ON notifications (member_id, id);
