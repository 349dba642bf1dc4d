package exchange

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange/matching"
	"github.com/mutual-ledger/mutual/internal/pgtx"
)

// What is left of a listing is its quantity less what its agreements take:
// an accepted or disputed agreement takes its agreed quantity, a completed
// one what it really moved (completed_quantity; the agreed quantity for
// agreements completed before that was recorded). Proposed, cancelled and
// expired agreements take nothing. consumedSQL is that expression over a
// row of agreements, and consumesSQL the statuses that take anything; every
// reader of capacity (proposals, acceptances, listing statuses, matching)
// uses these two, so they cannot disagree.
const (
	consumedSQL = `CASE WHEN status = 'completed' THEN COALESCE(completed_quantity, quantity) ELSE quantity END`
	consumesSQL = `status IN ('accepted', 'disputed', 'completed')`
)

// consumed is consumedSQL for an agreement in memory: what it takes of its
// listings once its status is st.
func (a *Agreement) consumed() decimal.Decimal {
	if a.Status == AgreementCompleted && a.CompletedQuantity != nil {
		return *a.CompletedQuantity
	}
	return a.Quantity
}

// Remaining returns what is left of each listing (in order): its quantity
// less what its accepted, disputed and completed agreements take, never
// below zero. It reads all of them in one statement, so the figures are of
// one moment. A listing that does not exist is left with its quantity as
// given. It decides nobody's permission: callers pass listings the
// principal may already see.
func (s *Store) Remaining(ctx context.Context, ls []Listing) ([]decimal.Decimal, error) {
	left := make([]decimal.Decimal, len(ls))
	ids := make([]uuid.UUID, len(ls))
	at := make(map[uuid.UUID][]int, len(ls))
	for i, l := range ls {
		left[i] = l.Quantity
		ids[i] = l.ID
		at[l.ID] = append(at[l.ID], i)
	}
	if len(ls) == 0 {
		return left, nil
	}
	rows, err := s.db.Pool.Query(ctx, remainingSQL, ids)
	if err != nil {
		return nil, err
	}
	var id uuid.UUID
	var q decimal.Decimal
	_, err = pgx.ForEachRow(rows, []any{&id, &q}, func() error {
		for _, i := range at[id] {
			left[i] = decimal.Max(q, decimal.Zero)
		}
		return nil
	})
	return left, err
}

// remainingSQL reads, for the listings $1, their quantity less what their
// agreements take, using the offer and need indexes of agreements.
const remainingSQL = `
SELECT l.id, l.quantity - COALESCE(CASE l.kind
    WHEN 'offer' THEN (SELECT sum(` + consumedSQL + `) FROM agreements WHERE offer_id = l.id AND ` + consumesSQL + `)
    ELSE (SELECT sum(` + consumedSQL + `) FROM agreements WHERE need_id = l.id AND ` + consumesSQL + `) END, 0)
FROM listings l WHERE l.id = ANY($1)`

// ToMatchingLeft is ToMatching with what is left of the listing (Remaining)
// as its quantity, rounded as ToMatching rounds: matches and proposals
// offer only what an agreement could still take.
func ToMatchingLeft(l Listing, left decimal.Decimal) matching.Listing {
	m := ToMatching(l)
	m.Quantity = hundredths(decimal.Max(left, decimal.Zero), m.Kind == matching.Need)
	return m
}

// lockListings locks the listings ids, in id order (the global order every
// step on agreements takes), so that what is read of their capacity
// afterwards in tx stays true until it commits.
func lockListings(ctx context.Context, tx *pgtx.Tx, ids []uuid.UUID) error {
	rows, err := tx.Query(ctx, `SELECT id FROM listings WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
	if err != nil {
		return err
	}
	rows.Close()
	return rows.Err()
}
