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
// first). An entry posted exactly at at counts. It costs a binary search of
// the account's entries (see EntryBefore), whatever the account's history.
// It returns ErrUnknownAccount for an account that does not exist.
func (s *Store) BalanceAt(ctx context.Context, account uuid.UUID, at time.Time) (decimal.Decimal, error) {
	var bal decimal.Decimal
	err := s.read(ctx, func(tx *pgtx.Tx) error {
		var err error
		// Timestamps are stored to the microsecond: "at or before at" is
		// "before the next microsecond".
		_, bal, err = EntryBefore(ctx, tx, account, at.Truncate(time.Microsecond).Add(time.Microsecond))
		return err
	})
	return bal, err
}

// RowQuerier is what EntryBefore reads through: a transaction (*pgtx.Tx) or a
// pool.
type RowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// entryBefore finds, by binary search over an account's entries, the last one
// posted strictly before $2, and returns its seq and the balance after it (0
// and 0 when there is none); no row means no such account.
//
// It rests on an invariant the write path keeps and Verify checks: along an
// account's seq, posted_at never decreases (a transfer takes effect no
// earlier than the last entry of any account it touches). So the entries
// before an instant are a prefix 1..k of seq, and k is found with about
// log2(entry_seq) lookups of the primary key, in one statement. A second
// index on (account_id, posted_at) would answer the same in one lookup, but
// every entry would pay for it on the write path (it cost 6-18% of transfer
// throughput when measured); this costs writes nothing.
//
// The search keeps lo, an entry known to be before $2 (or 0), and hi, above
// which every entry is known not to be; each step probes the middle entry.
// ">> 1" halves in both dialects (CockroachDB's "/" on integers is decimal).
const entryBefore = `
WITH RECURSIVE search (lo, hi) AS (
    SELECT 0::BIGINT, entry_seq FROM accounts WHERE id = $1::UUID
  UNION ALL
    SELECT CASE WHEN e.posted_at < $2::TIMESTAMPTZ THEN e.seq ELSE s.lo END,
           CASE WHEN e.posted_at < $2::TIMESTAMPTZ THEN s.hi ELSE e.seq - 1 END
    FROM search s JOIN entries e ON e.account_id = $1::UUID AND e.seq = (s.lo + s.hi + 1) >> 1
    WHERE s.lo < s.hi
)
SELECT s.lo, COALESCE((SELECT e.balance_after FROM entries e WHERE e.account_id = $1::UUID AND e.seq = s.lo), 0)
FROM search s WHERE s.lo = s.hi`

// EntryBefore returns the seq of an account's last entry posted strictly
// before t and its balance after that entry: the account's balance as it
// stood just before t. Both are 0 if the account has no entry before t. It
// reads through q (use a repeatable-read transaction to combine it with other
// reads in one snapshot) and costs O(log n) index lookups for an account of n
// entries. It returns ErrUnknownAccount for an account that does not exist.
func EntryBefore(ctx context.Context, q RowQuerier, account uuid.UUID, t time.Time) (seq int64, balance decimal.Decimal, err error) {
	err = q.QueryRow(ctx, entryBefore, account, t).Scan(&seq, &balance)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, decimal.Zero, unknownAccount(account)
	}
	return seq, balance, err
}

// BatchSender is what EntriesBefore reads through: a transaction
// (*pgtx.Tx).
type BatchSender interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// EntriesBefore is EntryBefore for many accounts at once, in one round trip:
// seqs[i] and balances[i] are accounts[i]'s. It returns ErrUnknownAccount if
// any account does not exist.
func EntriesBefore(ctx context.Context, q BatchSender, accounts []uuid.UUID, t time.Time) (seqs []int64, balances []decimal.Decimal, err error) {
	if len(accounts) == 0 {
		return nil, nil, nil
	}
	b := &pgx.Batch{}
	for _, id := range accounts {
		b.Queue(entryBefore, id, t)
	}
	br := q.SendBatch(ctx, b)
	defer br.Close()
	seqs, balances = make([]int64, len(accounts)), make([]decimal.Decimal, len(accounts))
	for i, id := range accounts {
		err := br.QueryRow().Scan(&seqs[i], &balances[i])
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, nil, unknownAccount(id)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	return seqs, balances, br.Close()
}

func accountExists(ctx context.Context, tx *pgtx.Tx, id uuid.UUID) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM accounts WHERE id = $1`, id).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return unknownAccount(id)
	}
	return err
}
