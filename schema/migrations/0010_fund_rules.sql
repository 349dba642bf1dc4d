-- The funds' rules: how a grant decision's tally must look for the decision
-- to stand, and when a disbursement needs a second governor. Shared
-- PostgreSQL/CockroachDB dialect: no triggers, BIGINT spelled out, UUID keys.
--
-- quorum is the fewest votes (for + against + abstain) a decision needs; 0
-- means a decision may be recorded without a tally. majority is 'simple'
-- (more votes for than against) or 'two_thirds' (at least one vote for, and
-- for >= 2/3 of for + against); abstentions count towards the quorum but
-- never towards the majority. second_approval_above, when set, is the amount
-- above which a disbursement needs two different governors. Existing funds
-- get the defaults new funds get: quorum 0, a simple majority, no second
-- approval, which is how every fund behaved before.
ALTER TABLE funds ADD COLUMN quorum BIGINT NOT NULL DEFAULT 0;
ALTER TABLE funds ADD COLUMN majority TEXT NOT NULL DEFAULT 'simple';
ALTER TABLE funds ADD COLUMN second_approval_above NUMERIC;
ALTER TABLE funds ADD CONSTRAINT funds_quorum_range CHECK (quorum BETWEEN 0 AND 1000000);
ALTER TABLE funds ADD CONSTRAINT funds_majority CHECK (majority IN ('simple', 'two_thirds'));
ALTER TABLE funds ADD CONSTRAINT funds_second_approval_positive CHECK (second_approval_above IS NULL OR second_approval_above > 0);

-- fund_rule_changes records every change of a fund's rules: who (only the
-- network admin changes them), when, why, and the rules before and after.
-- Rows are never changed or deleted.
CREATE TABLE fund_rule_changes (
    id                        UUID        PRIMARY KEY,
    fund_id                   UUID        NOT NULL REFERENCES funds (id),
    changed_by                UUID        NOT NULL REFERENCES members (id),
    changed_at                TIMESTAMPTZ NOT NULL,
    reason                    TEXT        NOT NULL,
    old_quorum                BIGINT      NOT NULL,
    new_quorum                BIGINT      NOT NULL,
    old_majority              TEXT        NOT NULL,
    new_majority              TEXT        NOT NULL,
    old_second_approval_above NUMERIC,
    new_second_approval_above NUMERIC,
    CONSTRAINT fund_rule_changes_reason_length CHECK (length(reason) BETWEEN 1 AND 1000),
    CONSTRAINT fund_rule_changes_quorum_range CHECK (old_quorum BETWEEN 0 AND 1000000 AND new_quorum BETWEEN 0 AND 1000000),
    CONSTRAINT fund_rule_changes_majority CHECK (old_majority IN ('simple', 'two_thirds') AND new_majority IN ('simple', 'two_thirds')),
    CONSTRAINT fund_rule_changes_second_approval_positive CHECK (
        (old_second_approval_above IS NULL OR old_second_approval_above > 0)
        AND (new_second_approval_above IS NULL OR new_second_approval_above > 0))
);

CREATE INDEX fund_rule_changes_fund ON fund_rule_changes (fund_id, changed_at, id);

-- A disbursement above the fund's second_approval_above takes two
-- governors: the first one's disbursement records their approval
-- (first_approved_by, first_approved_at) and moves the grant to
-- awaiting_second_approval, moving no money; a second, different governor's
-- pays it. disbursed_by is who paid (unknown for grants paid before this
-- migration).
--
--   requested → approved → disbursed
--   requested → approved → awaiting_second_approval → disbursed
--   requested → rejected | withdrawn
ALTER TABLE grant_requests ADD COLUMN first_approved_by UUID REFERENCES members (id);
ALTER TABLE grant_requests ADD COLUMN first_approved_at TIMESTAMPTZ;
ALTER TABLE grant_requests ADD COLUMN disbursed_by UUID REFERENCES members (id);
ALTER TABLE grant_requests DROP CONSTRAINT grant_requests_status;
ALTER TABLE grant_requests ADD CONSTRAINT grant_requests_status
    CHECK (status IN ('requested', 'approved', 'awaiting_second_approval', 'rejected', 'disbursed', 'withdrawn'));
ALTER TABLE grant_requests DROP CONSTRAINT grant_requests_decided;
ALTER TABLE grant_requests ADD CONSTRAINT grant_requests_decided
    CHECK ((decided_by IS NOT NULL) = (status IN ('approved', 'awaiting_second_approval', 'rejected', 'disbursed')));
ALTER TABLE grant_requests ADD CONSTRAINT grant_requests_first_approval CHECK (
    (first_approved_by IS NULL) = (first_approved_at IS NULL)
    AND (status <> 'awaiting_second_approval' OR first_approved_by IS NOT NULL)
    AND (first_approved_by IS NULL OR status IN ('awaiting_second_approval', 'disbursed'))
    AND (first_approved_at IS NULL OR first_approved_at >= created_at));
ALTER TABLE grant_requests ADD CONSTRAINT grant_requests_disbursed_by CHECK (disbursed_by IS NULL OR status = 'disbursed');
ALTER TABLE grant_requests ADD CONSTRAINT grant_requests_two_governors CHECK (
    first_approved_by IS NULL OR disbursed_by IS NULL OR first_approved_by <> disbursed_by);
