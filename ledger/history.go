package ledger

import (
	"context"
	"errors"
	"time"

	"github.com/mutual-ledger/mutual/internal/pgtx"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// Entry is one movement on one account: a side of a posting of a posted
// transfer. Seq numbers an account's entries from 1 without gaps.
type Entry struct {
	AccountID    uuid.UUID
	Seq          int64
	TransferID   uuid.UUID
	Posting      int             // index of the posting within its transfer
	Amount       decimal.Decimal // negative for a debit
	BalanceAfter decimal.Decimal
	PostedAt     time.Time
}

// Page asks for one page of a list, newest first.
type Page struct {
	// Limit is the most items to return: 1 to 1000, default 100.
	Limit int
	// Before, if not zero, continues a listing: only entries with a smaller
	// Seq are returned (pass the previous page's Next).
	Before int64
}

func (p Page) limit() int {
	switch {
	case p.Limit <= 0:
		return 100
	case p.Limit > 1000:
		return 1000
	}
	return p.Limit
}

// Entries lists an account's entries, newest first. next is the Before of
// the following page, or 0 when this page is the last. It returns
// ErrUnknownAccount for an account that does not exist.
func (s *Store) Entries(ctx context.Context, account uuid.UUID, p Page) (entries []Entry, next int64, err error) {
	limit := p.limit()
	before := p.Before
	if before <= 0 {
		before = 1 << 62
	}
	err = s.read(ctx, func(tx *pgtx.Tx) error {
		if err := accountExists(ctx, tx, account); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `
SELECT account_id, seq, transfer_id, posting, amount, balance_after, posted_at
FROM entries WHERE account_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3`, account, before, limit+1)
		if err != nil {
			return err
		}
		entries, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Entry, error) {
			var e Entry
			err := r.Scan(&e.AccountID, &e.Seq, &e.TransferID, &e.Posting, &e.Amount, &e.BalanceAfter, &e.PostedAt)
			return e, err
		})
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	if len(entries) > limit {
		entries = entries[:limit]
		next = entries[limit-1].Seq
	}
	return entries, next, nil
}

// BalanceAt returns an account's posted balance as it stood at instant at:
// the balance after its last entry posted at or before then (zero before its
// first). It walks the account's entries back from the newest, so its cost
// grows with the entries posted since at. It returns ErrUnknownAccount for an
// account that does not exist.
func (s *Store) BalanceAt(ctx context.Context, account uuid.UUID, at time.Time) (decimal.Decimal, error) {
	var bal decimal.Decimal
	err := s.read(ctx, func(tx *pgtx.Tx) error {
		if err := accountExists(ctx, tx, account); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `
SELECT balance_after FROM entries WHERE account_id = $1 AND posted_at <= $2
ORDER BY seq DESC LIMIT 1`, account, at).Scan(&bal)
		if errors.Is(err, pgx.ErrNoRows) {
			bal = decimal.Zero
			return nil
		}
		return err
	})
	return bal, err
}

func accountExists(ctx context.Context, tx *pgtx.Tx, id uuid.UUID) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM accounts WHERE id = $1`, id).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return unknownAccount(id)
	}
	return err
}
