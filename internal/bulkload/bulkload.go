// Package bulkload writes large synthetic books straight into a Mutual
// database, for benchmarks that need millions of transfers: going through
// the ledger's write path at a few thousand transfers a second would take
// longer than the measurement. It writes the same rows the ledger writes
// (transfers, entries with seq and running balance, account balances), in
// set-based SQL, so that `ledger.Store.Verify` finds the result sound; the
// benchmarks check that it does.
//
// It is for benchmarks and tests only: it bypasses every check of the
// ledger, and its SQL is PostgreSQL's.
package bulkload

import (
	"context"
	"crypto/md5"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Books describes the books to write.
type Books struct {
	// Unit is the unit of every account and transfer; it must exist.
	Unit string
	// Accounts is how many member accounts to open (at least 2), with a
	// credit limit no transfer reaches.
	Accounts int
	// Hot makes every transfer credit the first account (from one of the
	// others), which then has one entry per transfer; otherwise each
	// transfer is between two accounts spread evenly over all of them.
	Hot bool
	// Start is the instant of the first transfer; each next one is Step
	// later (a millisecond if zero).
	Start time.Time
	Step  time.Duration
}

// Loaded is what Load wrote.
type Loaded struct {
	Accounts  []uuid.UUID // Accounts[0] is the hot account when Hot
	Transfers int64
}

// At returns the instant of the i-th transfer (from 1).
func (b Books) At(i int64) time.Time { return b.Start.Add(time.Duration(i) * b.step()) }

func (b Books) step() time.Duration {
	if b.Step <= 0 {
		return time.Millisecond
	}
	return b.Step
}

// chunk is how many transfers one statement writes: large enough that the
// statements' overhead does not count, small enough to sort in memory.
const chunk = 100000

// Load opens the accounts and writes n posted transfers of one posting each,
// numbered 1..n, in chunks, each chunk in one transaction. Amounts cycle
// through 1..997. It returns the accounts opened.
func Load(ctx context.Context, pool *pgxpool.Pool, b Books, n int64) (Loaded, error) {
	if b.Accounts < 2 {
		return Loaded{}, fmt.Errorf("bulkload: need at least 2 accounts, not %d", b.Accounts)
	}
	salt := uuid.NewString()
	if _, err := pool.Exec(ctx, `
INSERT INTO accounts (id, unit, kind, name, lower_bound, created_at)
SELECT md5($1 || ':a:' || k)::uuid, $2, 'member', 'bulk ' || k, -1000000000000000, $3
FROM generate_series(0, $4 - 1) k`, salt, b.Unit, b.Start, b.Accounts); err != nil {
		return Loaded{}, fmt.Errorf("bulkload: accounts: %w", err)
	}
	// md5(text)::uuid is the digest's 16 bytes.
	ids := make([]uuid.UUID, b.Accounts)
	for k := range ids {
		ids[k] = uuid.UUID(md5.Sum([]byte(fmt.Sprintf("%s:a:%d", salt, k))))
	}
	for lo := int64(1); lo <= n; lo += chunk {
		hi := min(lo+chunk-1, n)
		if err := loadChunk(ctx, pool, b, salt, lo, hi); err != nil {
			return Loaded{}, fmt.Errorf("bulkload: transfers %d-%d: %w", lo, hi, err)
		}
	}
	if _, err := pool.Exec(ctx, `ANALYZE`); err != nil {
		return Loaded{}, err
	}
	return Loaded{Accounts: ids, Transfers: n}, nil
}

// moves is transfers lo..hi ($1, $2) as rows (i, tid, f, t, amt, at): the
// transfer's number and id, its sides' account ids, amount and instant.
// $3 is the number of accounts, $4 hot, $5 the salt, $6 the start, $7 the
// step in microseconds.
const moves = `
WITH g AS (
    SELECT i, md5($5 || ':t:' || i)::uuid AS tid,
           md5($5 || ':a:' || fk)::uuid AS f,
           md5($5 || ':a:' || CASE WHEN $4 THEN 0 ELSE (fk + 1 + (i * 104729) % ($3 - 1)) % $3 END)::uuid AS t,
           (1 + i % 997)::numeric AS amt,
           $6::timestamptz + i * $7 * interval '1 microsecond' AS at
    FROM (SELECT i, CASE WHEN $4 THEN 1 + (i * 7919) % ($3 - 1) ELSE (i * 7919) % $3 END AS fk
          FROM generate_series($1::bigint, $2::bigint) i) s
), sides AS (
    SELECT f AS acct, tid, -amt AS amt, at, i, 0 AS side FROM g
    UNION ALL
    SELECT t, tid, amt, at, i, 1 FROM g
)`

func loadChunk(ctx context.Context, pool *pgxpool.Pool, b Books, salt string, lo, hi int64) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	args := []any{lo, hi, b.Accounts, b.Hot, salt, b.Start, b.step().Microseconds()}
	if _, err := tx.Exec(ctx, moves+`
INSERT INTO transfers (id, state, postings, created_at)
SELECT tid, 'posted', jsonb_build_array(jsonb_build_object('from', f::text, 'to', t::text, 'amount', amt::text, 'unit', $8::text)), at
FROM g`, append(args, b.Unit)...); err != nil {
		return fmt.Errorf("transfers: %w", err)
	}
	// Each entry continues its account's numbering and running balance.
	if _, err := tx.Exec(ctx, moves+`
INSERT INTO entries (account_id, seq, transfer_id, posting, amount, balance_after, posted_at)
SELECT x.acct, a.entry_seq + row_number() OVER w, x.tid, 0, x.amt, a.balance + sum(x.amt) OVER w, x.at
FROM sides x JOIN accounts a ON a.id = x.acct
WINDOW w AS (PARTITION BY x.acct ORDER BY x.i, x.side ROWS UNBOUNDED PRECEDING)`, args...); err != nil {
		return fmt.Errorf("entries: %w", err)
	}
	if _, err := tx.Exec(ctx, moves+`
UPDATE accounts SET balance = accounts.balance + x.total, entry_seq = accounts.entry_seq + x.n, last_entry_at = x.last
FROM (SELECT acct, sum(amt) AS total, count(*) AS n, max(at) AS last FROM sides GROUP BY acct) x
WHERE accounts.id = x.acct`, args...); err != nil {
		return fmt.Errorf("accounts: %w", err)
	}
	return tx.Commit(ctx)
}
