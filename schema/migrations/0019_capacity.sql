-- Remaining capacity, and proposals a coordinator sends for an organization.
--
-- completed_quantity is what a completed agreement really moved (the
-- quantity both parties confirmed, or the one a coordinator settled): it,
-- not the agreed quantity, is what the agreement takes from its offer and
-- its need, so an agreement of 3 h completed for 2.5 h gives 0.5 h back to
-- both. Agreements completed before this migration have it NULL and count
-- their agreed quantity, as they did.
--
-- proposed_for is the organization on whose behalf a coordinator
-- (proposed_by) sent the proposal, from a matching proposal: such a
-- proposer need not be a party, and both parties accept it.
--
-- agreement_mismatch tells the parties and their coordinators that the two
-- confirmations of an agreement differ.
ALTER TABLE agreements ADD COLUMN completed_quantity NUMERIC;
ALTER TABLE agreements ADD COLUMN proposed_for UUID REFERENCES orgs (id);
ALTER TABLE agreements ADD CONSTRAINT agreements_completed_quantity CHECK (
    completed_quantity IS NULL OR (status = 'completed' AND completed_quantity > 0 AND completed_quantity <= quantity));
ALTER TABLE agreements DROP CONSTRAINT agreements_proposer;
ALTER TABLE agreements ADD CONSTRAINT agreements_proposer CHECK (proposed_by IN (giver, receiver) OR proposed_for IS NOT NULL);

ALTER TABLE notifications DROP CONSTRAINT notifications_kind;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind CHECK (kind IN (
    'agreement_proposed', 'agreement_accepted', 'agreement_confirmed', 'agreement_completed',
    'agreement_cancelled', 'agreement_disputed', 'agreement_resolved', 'agreement_expired',
    'agreement_mismatch',
    'trade_proposed', 'trade_accepted', 'trade_declined', 'trade_cancelled',
    'grant_requested', 'grant_approved', 'grant_rejected', 'grant_awaiting_second_approval', 'grant_disbursed',
    'obligation_recorded', 'obligation_confirmed', 'obligation_disputed', 'obligation_paid',
    'clearing_applied'));
