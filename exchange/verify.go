package exchange

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/mutual-ledger/mutual/internal/pgtx"
)

// exchangeChecks are queries that return one text row per violation of an
// invariant that ties the exchange's records to the ledger's. Each record's
// own fields are held by CHECK constraints; these hold what a constraint
// cannot see: the state of the transfer a record points to.
var exchangeChecks = []struct{ name, sql string }{
	{"an accepted or disputed agreement's hold is pending", `
SELECT 'agreement ' || a.id::text || ' is ' || a.status || ' but its hold ' || t.id::text || ' is ' || t.state
FROM agreements a JOIN transfers t ON t.id = a.hold_id
WHERE a.status IN ('accepted', 'disputed') AND t.state <> 'pending'`},
	{"a completed agreement's hold was posted by its transfer", `
SELECT 'agreement ' || a.id::text || ' is completed but its hold ' || h.id::text || ' is ' || h.state
       || ' and its transfer ' || t.id::text || ' is ' || t.state
FROM agreements a JOIN transfers h ON h.id = a.hold_id JOIN transfers t ON t.id = a.transfer_id
WHERE a.status = 'completed'
  AND NOT (h.state = 'posted' AND t.state = 'posted' AND t.pending_id = h.id AND h.resolved_by = t.id)`},
	{"a cancelled or expired agreement holds nothing", `
SELECT 'agreement ' || a.id::text || ' is ' || a.status || ' but its hold ' || t.id::text || ' is still pending'
FROM agreements a JOIN transfers t ON t.id = a.hold_id
WHERE a.status IN ('cancelled', 'expired') AND t.state = 'pending'`},
	{"an agreement's hold moves its quantity from the receiver to the giver", `
SELECT 'agreement ' || a.id::text || ' hold ' || t.id::text || ' does not move ' || a.quantity::text || ' ' || a.unit
       || ' from ' || a.receiver_account::text || ' to ' || a.giver_account::text
FROM agreements a JOIN transfers t ON t.id = a.hold_id
WHERE jsonb_array_length(t.postings) <> 1
   OR (t.postings->0->>'from')::UUID <> a.receiver_account OR (t.postings->0->>'to')::UUID <> a.giver_account
   OR (t.postings->0->>'amount')::NUMERIC <> a.quantity OR t.postings->0->>'unit' <> a.unit`},
	{"an accepted trade's transfer is posted with its legs", `
SELECT 'trade ' || tr.id::text || ' is accepted but its transfer ' || t.id::text || ' is ' || t.state
       || ' with ' || jsonb_array_length(t.postings)::text || ' postings for ' || (SELECT count(*) FROM trade_legs l WHERE l.trade_id = tr.id)::text || ' legs'
FROM trades tr JOIN transfers t ON t.id = tr.transfer_id
WHERE t.state <> 'posted' OR jsonb_array_length(t.postings) <> (SELECT count(*) FROM trade_legs l WHERE l.trade_id = tr.id)`},
	{"a fund's ledger balance equals its book", `
SELECT 'fund ' || f.id::text || ' account ' || a.id::text || ' holds ' || a.balance::text
       || ' but its book says ' || COALESCE(b.net, 0)::text
FROM funds f JOIN accounts a ON a.id = f.account_id
LEFT JOIN (SELECT fund_id, sum(CASE direction WHEN 'in' THEN amount ELSE -amount END) AS net
           FROM fund_movements GROUP BY fund_id) b ON b.fund_id = f.id
WHERE a.balance <> COALESCE(b.net, 0)`},
	{"each movement of a fund's book is a posted transfer of its amount", `
SELECT 'fund movement ' || m.id::text || ' (' || m.direction || ' ' || m.amount::text || ') has transfer ' || t.id::text
       || ' in state ' || t.state
FROM fund_movements m JOIN funds f ON f.id = m.fund_id JOIN transfers t ON t.id = m.transfer_id
WHERE t.state <> 'posted' OR NOT EXISTS (
    SELECT 1 FROM jsonb_array_elements(t.postings) p
    WHERE (p->>'amount')::NUMERIC = m.amount
      AND ((m.direction = 'in' AND (p->>'to')::UUID = f.account_id)
        OR (m.direction = 'out' AND (p->>'from')::UUID = f.account_id)))`},
	{"a disbursed grant has its outflow in the fund's book", `
SELECT 'grant ' || g.id::text || ' is disbursed but the fund''s book has no outflow for it'
FROM grant_requests g
WHERE g.status = 'disbursed'
  AND NOT EXISTS (SELECT 1 FROM fund_movements m WHERE m.grant_id = g.id AND m.direction = 'out' AND m.transfer_id = g.transfer_id)`},
	{"a grant not disbursed (awaiting its second approval among them) has moved nothing", `
SELECT 'grant ' || g.id::text || ' is ' || g.status || ' but the fund''s book has outflow ' || m.id::text || ' for it'
FROM grant_requests g JOIN fund_movements m ON m.grant_id = g.id
WHERE g.status <> 'disbursed' OR m.transfer_id <> g.transfer_id`},
	{"a time bank's pool is an account of the organization", `
SELECT 'time bank ' || r.org_id::text || ' pool ' || a.id::text || ' is a ' || a.kind || ' account of ' || a.owner || ' in ' || a.unit
FROM timebank_rules r JOIN accounts a ON a.id = r.pool_account
WHERE a.kind <> 'pool' OR a.owner <> 'org:' || r.org_id::text OR a.unit <> r.unit`},
	{"an obligation's outstanding amount is its amount less its payments and clearings", `
SELECT 'obligation ' || o.id::text || ' has ' || o.outstanding::text || ' outstanding of ' || o.amount::text
    || ' but settlements of ' || COALESCE(sum(s.amount), 0)::text
FROM obligations o LEFT JOIN obligation_settlements s ON s.obligation_id = o.id
GROUP BY o.id, o.outstanding, o.amount
HAVING o.outstanding <> o.amount - COALESCE(sum(s.amount), 0)`},
	{"an obligation's payment is a transfer of its amount from the debtor to the creditor's account", `
SELECT 'payment ' || s.id::text || ' of obligation ' || o.id::text || ' does not match transfer ' || s.transfer_id::text
FROM obligation_settlements s JOIN obligations o ON o.id = s.obligation_id
WHERE s.kind = 'payment' AND NOT EXISTS (
    SELECT 1 FROM entries e
    WHERE e.transfer_id = s.transfer_id AND e.account_id = o.creditor_account AND e.amount = s.amount)`},
	{"a clearing run's cleared amount is the sum of its reductions", `
SELECT 'clearing run ' || r.id::text || ' cleared ' || r.cleared::text || ' but its reductions sum to ' || COALESCE(sum(s.amount), 0)::text
FROM clearing_runs r LEFT JOIN obligation_settlements s ON s.clearing_run_id = r.id
GROUP BY r.id, r.cleared
HAVING r.cleared <> COALESCE(sum(s.amount), 0)`},
	// The entries of the runs' transfers are summed in one pass (the
	// journal has no index by transfer: a subquery per run would scan it
	// once per run).
	{"a clearing run's ledger transfer moved what the run says went through the ledger", `
SELECT 'clearing run ' || r.id::text || ' says ' || r.through_ledger::text || ' went through the ledger but transfer '
    || COALESCE(r.transfer_id::text, 'none') || ' moved ' || COALESCE(m.moved, 0)::text
FROM clearing_runs r
LEFT JOIN (SELECT e.transfer_id, sum(e.amount) AS moved FROM entries e
           WHERE e.amount > 0 AND e.transfer_id IN (SELECT transfer_id FROM clearing_runs WHERE transfer_id IS NOT NULL)
           GROUP BY e.transfer_id) m ON m.transfer_id = r.transfer_id
WHERE r.through_ledger <> COALESCE(m.moved, 0)`},
}

// Verify checks the invariants that tie agreements, trades, funds and time
// banks to the ledger, in one snapshot, and returns the violations found,
// each as a sentence; none means the records agree with the books. Like
// ledger.Store.Verify it reads everything: it is for tests, audits and
// `mutual verify`.
func (s *Store) Verify(ctx context.Context) ([]string, error) {
	var out []string
	err := s.db.Run(ctx, pgtx.Options{Isolation: pgx.RepeatableRead, ReadOnly: true}, func(tx *pgtx.Tx) error {
		out = out[:0]
		for _, c := range exchangeChecks {
			rows, err := tx.Query(ctx, c.sql)
			if err != nil {
				return fmt.Errorf("exchange: verify %q: %w", c.name, err)
			}
			found, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return fmt.Errorf("exchange: verify %q: %w", c.name, err)
			}
			for _, f := range found {
				out = append(out, c.name+": "+f)
			}
		}
		return nil
	})
	return out, err
}
