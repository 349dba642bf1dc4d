package exchange

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/internal/pgtx"
)

// Notifications tell a member that something needs them or concerns them:
// an agreement's steps, a trade proposed to their organization or decided
// by the other one, a grant requested from a fund they govern, or decided,
// awaiting a second approval or paid. Each is written in the transaction of
// the change it tells of, so there is never a notification of a change
// that did not happen, nor a change without its notifications. Read
// notifications are purged NotificationRetention after they were read;
// unread ones are kept.

// NotificationRetention is how long a read notification is kept.
const NotificationRetention = 90 * 24 * time.Hour

// Notification tells a member that something needs them. Exactly one of
// Agreement, Trade, Grant, Obligation and ClearingRun is set, as the kind's
// prefix says.
type Notification struct {
	ID        uuid.UUID
	Kind      string // agreement_*, trade_*, grant_*, obligation_* or clearing_*
	Agreement *uuid.UUID
	Trade     *uuid.UUID
	Grant     *uuid.UUID
	Message   string
	CreatedAt time.Time
	ReadAt    *time.Time

	Obligation  *uuid.UUID
	ClearingRun *uuid.UUID
	// Params are the names and figures the notification speaks of, for
	// the pages to say it in each language (see the kinds' writers for
	// which); nil for one written before they were kept, or of a kind
	// that has none. Amounts are decimal strings with their "Unit".
	Params map[string]string
}

// notice is one notification to write, to several members.
type notice struct {
	Kind                    string
	Agreement, Trade, Grant *uuid.UUID
	Obligation, ClearingRun *uuid.UUID
	Message                 string
	Params                  map[string]string
}

// notify writes a notice to each member of to (each once, none for
// uuid.Nil) in the transaction, in one statement.
func notify(ctx context.Context, tx *pgtx.Tx, now time.Time, n notice, to ...uuid.UUID) error {
	to = without(to)
	if len(to) == 0 {
		return nil
	}
	ids := make([]uuid.UUID, len(to))
	for i := range to {
		ids[i] = newID()
	}
	_, err := tx.Exec(ctx, `
INSERT INTO notifications (id, member_id, kind, agreement_id, trade_id, grant_id, obligation_id, clearing_run_id, message, created_at, params)
SELECT r.id, r.member_id, $3, $4, $5, $6, $7, $8, $9, $10, $11
FROM unnest($1::UUID[], $2::UUID[]) AS r (id, member_id)`,
		ids, to, n.Kind, n.Agreement, n.Trade, n.Grant, n.Obligation, n.ClearingRun, n.Message, now, params(n.Params))
	return err
}

// params is a notice's parameters as the params column takes them: NULL
// for none.
func params(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// places writes an amount for a notice's parameters with the places it
// has (1400.00 stays "1400.00", which String would write "1400").
func places(d decimal.Decimal) string {
	return d.StringFixed(max(0, -d.Exponent()))
}

// Notifications returns p's notifications, oldest first, one page at a
// time; unread only when asked.
func (s *Store) Notifications(ctx context.Context, p Principal, unread bool, pg Page) (ns []Notification, next uuid.UUID, err error) {
	if p.MemberID == uuid.Nil {
		return nil, uuid.Nil, unauthenticated()
	}
	limit, err := pg.limit()
	if err != nil {
		return nil, uuid.Nil, err
	}
	rows, err := s.db.Pool.Query(ctx, `
SELECT id, kind, agreement_id, trade_id, grant_id, obligation_id, clearing_run_id, message, created_at, read_at, params FROM notifications
WHERE member_id = $1 AND id > $2 AND (NOT $3 OR read_at IS NULL)
ORDER BY id LIMIT $4`, p.MemberID, pg.After, unread, limit+1)
	if err != nil {
		return nil, uuid.Nil, err
	}
	ns, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Notification, error) {
		var n Notification
		err := r.Scan(&n.ID, &n.Kind, &n.Agreement, &n.Trade, &n.Grant, &n.Obligation, &n.ClearingRun, &n.Message, &n.CreatedAt, &n.ReadAt, &n.Params)
		return n, err
	})
	if err != nil {
		return nil, uuid.Nil, err
	}
	if len(ns) > limit {
		ns = ns[:limit]
		next = ns[limit-1].ID
	}
	return ns, next, nil
}

// MarkNotificationsRead marks p's notifications up to and including upTo
// as read, and returns how many it marked.
func (s *Store) MarkNotificationsRead(ctx context.Context, p Principal, upTo uuid.UUID) (int, error) {
	if p.MemberID == uuid.Nil {
		return 0, unauthenticated()
	}
	var n int64
	err := s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE notifications SET read_at = $3 WHERE member_id = $1 AND id <= $2 AND read_at IS NULL`,
			p.MemberID, upTo, s.clock())
		n = tag.RowsAffected()
		return err
	})
	return int(n), err
}

// PurgeReadNotifications deletes up to limit notifications that were read
// more than retention ago (by the store's clock), and returns how many it
// deleted. Unread notifications are never deleted.
func (s *Store) PurgeReadNotifications(ctx context.Context, retention time.Duration, limit int) (int, error) {
	var n int64
	err := s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		tag, err := tx.Exec(ctx, `
DELETE FROM notifications WHERE id IN (
    SELECT id FROM notifications WHERE read_at IS NOT NULL AND read_at < $1 ORDER BY read_at LIMIT $2)`,
			s.clock().Add(-retention), limit)
		n = tag.RowsAffected()
		return err
	})
	return int(n), err
}

// RunNotificationPurge calls PurgeReadNotifications with
// NotificationRetention every interval until ctx is done, in batches of
// 1000 until none is left, logging failures through logf and each purge
// through logPurged. It is the server's sweeper.
func (s *Store) RunNotificationPurge(ctx context.Context, interval time.Duration, logf func(error), logPurged func(int)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		total := 0
		for {
			n, err := s.PurgeReadNotifications(ctx, NotificationRetention, 1000)
			total += n
			if err != nil && ctx.Err() == nil {
				logf(err)
			}
			if err != nil || n < 1000 {
				break
			}
		}
		if total > 0 {
			logPurged(total)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
