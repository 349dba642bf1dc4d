package ledger

import (
	"context"
	"fmt"

	"github.com/mutual-ledger/mutual/internal/pgtx"

	"github.com/jackc/pgx/v5"
)

// invariantChecks are queries that return one text row per violation of an
// invariant of the ledger; a sound ledger returns no rows from any of them.
var invariantChecks = []struct{ name, sql string }{
	{"every unit's balances sum to zero", `
SELECT 'unit ' || unit || ' balances sum to ' || sum(balance)::text
FROM accounts GROUP BY unit HAVING sum(balance) <> 0`},
	{"every unit's entries sum to zero", `
SELECT 'unit ' || a.unit || ' entries sum to ' || sum(e.amount)::text
FROM entries e JOIN accounts a ON a.id = e.account_id GROUP BY a.unit HAVING sum(e.amount) <> 0`},
	{"each balance is the sum of its entries", `
SELECT 'account ' || a.id::text || ' balance ' || a.balance::text || ' but entries sum to ' || COALESCE(x.total, 0)::text
       || ' over ' || COALESCE(x.n, 0)::text || ' entries, last seq ' || COALESCE(x.last, 0)::text || ' (entry_seq ' || a.entry_seq::text || ')'
FROM accounts a
LEFT JOIN (SELECT account_id, sum(amount) AS total, count(*) AS n, max(seq) AS last FROM entries GROUP BY account_id) x
       ON x.account_id = a.id
WHERE a.balance <> COALESCE(x.total, 0) OR a.entry_seq <> COALESCE(x.n, 0) OR a.entry_seq <> COALESCE(x.last, 0)`},
	// One pass over the journal in its primary key's order checks both the
	// running balances and the time order BalanceAt's binary search rests on.
	{"each entry's balance follows from the one before, no earlier than it", `
SELECT 'account ' || account_id::text || ' entry ' || seq::text ||
       CASE WHEN balance_after <> COALESCE(prev, 0) + amount
            THEN ' balance_after ' || balance_after::text || ' expected ' || (COALESCE(prev, 0) + amount)::text
            ELSE ' posted at ' || posted_at::text || ', before the entry ahead of it (' || prev_at::text || ')' END
FROM (SELECT account_id, seq, amount, balance_after, posted_at,
             lag(balance_after) OVER w AS prev, lag(posted_at) OVER w AS prev_at
      FROM entries WINDOW w AS (PARTITION BY account_id ORDER BY seq)) e
WHERE balance_after <> COALESCE(prev, 0) + amount OR posted_at < prev_at`},
	{"pending amounts are the sum of open reservations", `
SELECT 'account ' || a.id::text || ' pending ' || a.pending_debits::text || '/' || a.pending_credits::text
       || ' but reservations ' || COALESCE(r.d, 0)::text || '/' || COALESCE(r.c, 0)::text
FROM accounts a
LEFT JOIN (SELECT account_id, sum(debit) AS d, sum(credit) AS c FROM reservations GROUP BY account_id) r
       ON r.account_id = a.id
WHERE a.pending_debits <> COALESCE(r.d, 0) OR a.pending_credits <> COALESCE(r.c, 0)`},
	{"no account is outside its bounds", `
SELECT 'account ' || id::text || ' available ' || (balance - pending_debits)::text || ' outside [' ||
       COALESCE(lower_bound::text, '-inf') || ', ' || COALESCE(upper_bound::text, 'inf') || ']'
FROM accounts
WHERE (lower_bound IS NOT NULL AND balance - pending_debits < lower_bound)
   OR (upper_bound IS NOT NULL AND balance + pending_credits > upper_bound)`},
	{"posted transfers have two entries per posting, others none", `
SELECT 'transfer ' || t.id::text || ' (' || t.state || ') has ' || COALESCE(x.n, 0)::text || ' entries for '
       || jsonb_array_length(t.postings)::text || ' postings'
FROM transfers t
LEFT JOIN (SELECT transfer_id, count(*) AS n FROM entries GROUP BY transfer_id) x ON x.transfer_id = t.id
WHERE COALESCE(x.n, 0) <> CASE WHEN t.state = 'posted' AND t.resolved_at IS NULL THEN 2 * jsonb_array_length(t.postings) ELSE 0 END`},
	{"only pending holds reserve, and every pending hold does", `
SELECT 'transfer ' || t.id::text || ' is ' || t.state || ' with ' || count(r.transfer_id)::text || ' reservations'
FROM transfers t LEFT JOIN reservations r ON r.transfer_id = t.id
GROUP BY t.id, t.state
HAVING (t.state = 'pending') <> (count(r.transfer_id) > 0)`},
	{"each entry belongs to its transfer's accounts and unit", `
SELECT 'entry ' || e.account_id::text || '/' || e.seq::text || ' does not match posting ' || e.posting::text || ' of ' || e.transfer_id::text
FROM entries e
JOIN transfers t ON t.id = e.transfer_id
JOIN accounts a ON a.id = e.account_id
WHERE NOT EXISTS (
    SELECT 1 FROM jsonb_array_elements(t.postings) WITH ORDINALITY AS p(v, i)
    WHERE p.i - 1 = e.posting
      AND p.v->>'unit' = a.unit
      AND ((e.amount < 0 AND (p.v->>'from')::uuid = e.account_id AND (p.v->>'amount')::numeric = -e.amount)
        OR (e.amount > 0 AND (p.v->>'to')::uuid = e.account_id AND (p.v->>'amount')::numeric = e.amount)))`},
}

// Verify checks every invariant of the ledger against the whole database in
// one snapshot and returns the violations found, each as a sentence; none
// means the books are sound. It reads everything, so it is for tests, audits
// and `mutual verify`, not for the request path.
func (s *Store) Verify(ctx context.Context) ([]string, error) {
	var out []string
	err := s.read(ctx, func(tx *pgtx.Tx) error {
		out = out[:0]
		for _, c := range invariantChecks {
			rows, err := tx.Query(ctx, c.sql)
			if err != nil {
				return fmt.Errorf("ledger: verify %q: %w", c.name, err)
			}
			found, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return fmt.Errorf("ledger: verify %q: %w", c.name, err)
			}
			for _, f := range found {
				out = append(out, c.name+": "+f)
			}
		}
		return nil
	})
	return out, err
}
