-- Notifications of trades and grants, next to those of agreements. Each
-- notification names exactly the record it is about, by the reference its
-- kind calls for (agreement_*: agreement_id, trade_*: trade_id, grant_*:
-- grant_id), the other two NULL. Every notification written before this
-- migration is an agreement's and has its agreement_id.
--
-- Read notifications are purged some time after they were read (the
-- exchange's PurgeReadNotifications, run by `mutual serve`); unread ones are
-- kept. The partial index finds the read ones.
ALTER TABLE notifications ADD COLUMN trade_id UUID REFERENCES trades (id);
ALTER TABLE notifications ADD COLUMN grant_id UUID REFERENCES grant_requests (id);
ALTER TABLE notifications DROP CONSTRAINT notifications_kind;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind CHECK (kind IN (
    'agreement_proposed', 'agreement_accepted', 'agreement_confirmed', 'agreement_completed',
    'agreement_cancelled', 'agreement_disputed', 'agreement_resolved', 'agreement_expired',
    'trade_proposed', 'trade_accepted', 'trade_declined', 'trade_cancelled',
    'grant_requested', 'grant_approved', 'grant_rejected', 'grant_awaiting_second_approval', 'grant_disbursed'));
ALTER TABLE notifications ADD CONSTRAINT notifications_reference CHECK (
    CASE
        WHEN kind LIKE 'agreement_%' THEN agreement_id IS NOT NULL AND trade_id IS NULL AND grant_id IS NULL
        WHEN kind LIKE 'trade_%' THEN trade_id IS NOT NULL AND agreement_id IS NULL AND grant_id IS NULL
        WHEN kind LIKE 'grant_%' THEN grant_id IS NOT NULL AND agreement_id IS NULL AND trade_id IS NULL
        ELSE FALSE
    END);

CREATE INDEX notifications_read ON notifications (read_at) WHERE read_at IS NOT NULL;
