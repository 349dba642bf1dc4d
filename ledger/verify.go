package ledger

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"

	"github.com/mutual-ledger/mutual/internal/pgtx"
)

// A check is one statement that returns one sentence per violation of the
// invariants it covers; a sound ledger returns no rows from any of them.
//
// Verify reads every table once or twice, whatever its size, with set-based
// aggregates that stream: the journal once in each account's order (running
// balances, time order and the sums that must equal each balance), once
// more to fingerprint it against the transfers' postings, and the transfers
// once. Nothing joins the journal to its transfers unless the fingerprints
// differ (then the exact join names the culprits, see followUp); checks that
// would have to name every transfer (which posted transfer lacks its
// entries) likewise compare totals first. Memory is bounded by work_mem per
// sort or hash, whose largest groups are per account.
//
// Measured with BenchmarkVerify in cmd/mutual (10,000 accounts, two entries
// per transfer), alternating with the join it replaced on a loaded 2-core
// machine: 0.36 s against 1.18 s at 100,000 transfers, 6.3 s against 28 s
// at 1,000,000. Of the 6.3 s, the fingerprints take about 2.8 s and the
// account-by-account pass 1.8-4.6 s (an index scan of the journal's primary
// key: faster when the journal's pages are cached). Measured again, twice,
// load 5-15: 1.32 and 1.03 s at 100,000 transfers, 4.67 and 3.96 s at
// 1,000,000: 3.5-3.8 times the time for 10 times the books, so the time per
// transfer does not grow (at 100,000 the fixed costs weigh more).
type check struct {
	name string
	sql  string
	// salted checks take a random BIGINT as $1, new for each run of Verify.
	salted bool
	// followUp, when the check found something, lists the details.
	followUp map[string]string
}

// maxViolations is the most violations one check reports: past it, the books
// are broken beyond what a list helps with, and memory stays bounded.
const maxViolations = 1000

var invariantChecks = []check{
	{name: "accounts", sql: `
SELECT 'every unit''s balances sum to zero: unit ' || unit || ' balances sum to ' || sum(balance)::text
FROM accounts GROUP BY unit HAVING sum(balance) <> 0
UNION ALL
SELECT 'no account is outside its bounds: account ' || id::text || ' available ' || (balance - pending_debits)::text || ' outside [' ||
       COALESCE(lower_bound::text, '-inf') || ', ' || COALESCE(upper_bound::text, 'inf') || ']'
FROM accounts
WHERE (lower_bound IS NOT NULL AND balance - pending_debits < lower_bound)
   OR (upper_bound IS NOT NULL AND balance + pending_credits > upper_bound)`},

	// One pass over the journal in each account's order: each entry's
	// running balance follows from the one before, its time is no earlier
	// than the one before (BalanceAt's binary search rests on it), and per
	// account the entries sum to the balance and number 1..entry_seq (with
	// the primary key, count = max = entry_seq means no gap).
	{name: "the journal, account by account", sql: `
WITH per AS (
    SELECT account_id, sum(amount) AS total, count(*) AS n, max(seq) AS last,
           min(seq) FILTER (WHERE balance_after <> COALESCE(prev, 0) + amount) AS bad_balance,
           min(seq) FILTER (WHERE posted_at < prev_at) AS bad_time
    FROM (SELECT account_id, seq, amount, balance_after, posted_at,
                 lag(balance_after) OVER w AS prev, lag(posted_at) OVER w AS prev_at
          FROM entries WINDOW w AS (PARTITION BY account_id ORDER BY seq)) e
    GROUP BY account_id
), acct AS (
    SELECT a.id, a.unit, a.balance, a.entry_seq, COALESCE(p.total, 0) AS total, COALESCE(p.n, 0) AS n,
           COALESCE(p.last, 0) AS last, p.bad_balance, p.bad_time
    FROM accounts a LEFT JOIN per p ON p.account_id = a.id
)
SELECT 'each balance is the sum of its entries: account ' || id::text || ' balance ' || balance::text
       || ' but entries sum to ' || total::text || ' over ' || n::text || ' entries, last seq ' || last::text
       || ' (entry_seq ' || entry_seq::text || ')'
FROM acct WHERE balance <> total OR entry_seq <> n OR entry_seq <> last
UNION ALL
SELECT 'each entry''s balance follows from the one before: account ' || id::text || ' entry ' || bad_balance::text
       || ' is the first whose balance_after is not the balance before it plus its amount'
FROM acct WHERE bad_balance IS NOT NULL
UNION ALL
SELECT 'each entry is posted no earlier than the one before: account ' || id::text || ' entry ' || bad_time::text
       || ' is the first posted before the entry ahead of it'
FROM acct WHERE bad_time IS NOT NULL
UNION ALL
SELECT 'every unit''s entries sum to zero: unit ' || unit || ' entries sum to ' || sum(total)::text
FROM acct GROUP BY unit HAVING sum(total) <> 0`},

	// The journal against the transfers, without joining them: the
	// entries must be, side for side, the postings of the transfers that
	// are posted and not themselves resolved by another (a posted hold's
	// entries are its posting transfer's): each posting one debit of its
	// amount from its "from" account and one credit to its "to" account,
	// both in its unit, and no other entry. Each side (transfer, posting,
	// account, signed amount) is hashed, plus a hash of its unit, salted
	// with $1 (chosen at random for each run, so that no change to the
	// books can be made to cancel out); the count and the sum of the hashes
	// of the entries (one scan of the journal, summed per account, whose
	// unit is added once per entry) are compared with those of the postings
	// (one scan of the transfers). Equal multisets give equal sums; a
	// missing, extra, moved or changed entry changes the sum but with
	// negligible probability. Only when they differ does the exact check,
	// which joins the journal to its transfers and names the culprits, run.
	// Joining two entries to each transfer by random UUIDs is what made
	// verify grow faster than the books (27 s at 1,000,000 transfers, 35
	// times the time at 100,000); the scans are linear.
	//
	// The hash functions are PostgreSQL's (md5, the one both databases
	// share, cost 2 µs a row here, more than the whole check may); on
	// CockroachDB the exact check runs instead (see Store.checks).
	{name: "the journal, transfer by transfer", salted: true, sql: `
WITH have AS (
    SELECT COALESCE(sum(x.n), 0) AS n,
           COALESCE(sum(x.hs + x.n::NUMERIC * hashtextextended(a.unit, $1)), 0) AS hs
    FROM (SELECT account_id, count(*) AS n,
                 sum(hashint8extended(uuid_hash_extended(transfer_id, $1) # uuid_hash_extended(account_id, $1 + 1 + posting), $1)
                     # hash_numeric_extended(amount, $1)) AS hs
          FROM entries GROUP BY account_id) x
    JOIN accounts a ON a.id = x.account_id
), want AS (
    SELECT 2 * count(*) AS n, COALESCE(
           sum(hashint8extended(uuid_hash_extended(t.id, $1) # uuid_hash_extended((p.v->>'from')::UUID, $1 + p.k), $1)
               # hash_numeric_extended(-(p.v->>'amount')::NUMERIC, $1))
         + sum(hashint8extended(uuid_hash_extended(t.id, $1) # uuid_hash_extended((p.v->>'to')::UUID, $1 + p.k), $1)
               # hash_numeric_extended((p.v->>'amount')::NUMERIC, $1))
         + 2 * sum(hashtextextended(p.v->>'unit', $1)), 0) AS hs
    FROM transfers t
    CROSS JOIN LATERAL jsonb_array_elements(t.postings) WITH ORDINALITY AS p(v, k)
    WHERE t.state = 'posted' AND t.resolved_at IS NULL
)
SELECT 'the journal is the postings of the posted transfers, side for side: ' || h.n::text
       || ' entries for ' || w.n::text || ' sides of postings, and they differ'
FROM have h, want w
WHERE h.n <> w.n OR h.hs <> w.hs`,
		followUp: map[string]string{
			"the journal is the postings of the posted transfers, side for side: ": journalByTransfer,
			"posted transfers have two entries per posting, others none: ":         journalLostEntries,
		}},

	// Holds: only the open reservations and the pending transfers are read,
	// not every transfer.
	{name: "holds", sql: `
SELECT 'pending amounts are the sum of open reservations: account ' || a.id::text || ' pending '
       || a.pending_debits::text || '/' || a.pending_credits::text
       || ' but reservations ' || COALESCE(r.d, 0)::text || '/' || COALESCE(r.c, 0)::text
FROM accounts a
LEFT JOIN (SELECT account_id, sum(debit) AS d, sum(credit) AS c FROM reservations GROUP BY account_id) r
       ON r.account_id = a.id
WHERE a.pending_debits <> COALESCE(r.d, 0) OR a.pending_credits <> COALESCE(r.c, 0)
UNION ALL
SELECT 'only pending holds reserve, and every pending hold does: transfer ' || t.id::text || ' is pending with no reservations'
FROM transfers t
WHERE t.state = 'pending' AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.transfer_id = t.id)
UNION ALL
SELECT 'only pending holds reserve, and every pending hold does: transfer ' || t.id::text || ' is ' || t.state
       || ' with ' || count(*)::text || ' reservations'
FROM reservations r JOIN transfers t ON t.id = r.transfer_id
WHERE t.state <> 'pending'
GROUP BY t.id, t.state`},
}

// VerifyProgress, if set, is told as Verify starts each of its checks (i of
// n, from 0) and once more when it is done (i = n, name empty).
type VerifyProgress func(i, n int, name string)

// Verify checks every invariant of the ledger against the whole database in
// one snapshot and returns the violations found, each as a sentence; none
// means the books are sound. It reads every table once or twice; it is for
// tests, audits and `mutual verify`, not for the request path. Each check reports at most a
// thousand violations, then says how many more it left out.
func (s *Store) Verify(ctx context.Context) ([]string, error) {
	return s.VerifyWithProgress(ctx, nil)
}

// VerifyWithProgress is Verify, telling progress (if not nil) what it is
// checking.
func (s *Store) VerifyWithProgress(ctx context.Context, progress VerifyProgress) ([]string, error) {
	var out []string
	err := s.read(ctx, func(tx *pgtx.Tx) error {
		out = out[:0]
		if err := s.verifySettings(ctx, tx); err != nil {
			return err
		}
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		// 62 bits, so that the salt plus a posting's index stays a BIGINT.
		salt := int64(binary.LittleEndian.Uint64(b[:]) >> 2)
		checks := s.checks()
		for i, c := range checks {
			if progress != nil {
				progress(i, len(checks), c.name)
			}
			var args []any
			if c.salted {
				args = []any{salt}
			}
			found, err := collectViolations(ctx, tx, c.sql, args...)
			if err != nil {
				return fmt.Errorf("ledger: verify %q: %w", c.name, err)
			}
			more, err := followUp(ctx, tx, c.followUp, found)
			if err != nil {
				return fmt.Errorf("ledger: verify %q: %w", c.name, err)
			}
			out = append(out, more...)
		}
		if progress != nil {
			progress(len(checks), len(checks), "")
		}
		return nil
	})
	return out, err
}

// verifySettings tunes PostgreSQL for the few large statements of Verify,
// for this transaction only. JIT compilation is turned off: past a cost
// threshold PostgreSQL compiles each of these statements with LLVM, which
// took 16 of the 32 seconds of one check at a million transfers (inlining
// and optimization grow with the plan's cost, so they made verify grow
// faster than the books); these queries are dominated by scans, sorts and
// hashing, which JIT does not speed up. work_mem is raised so that the
// grouping of the journal by posting sorts or hashes in memory rather than
// on disk; it bounds each sort or hash. CockroachDB has neither setting.
func (s *Store) verifySettings(ctx context.Context, tx *pgtx.Tx) error {
	if s.db.CockroachDB() {
		return nil
	}
	_, err := tx.Exec(ctx, `SELECT set_config('jit', 'off', true), set_config('work_mem', '64MB', true)`)
	return err
}

// followUp returns the violations found and, after each whose invariant has
// a query in details, what that query finds, followed up in turn: a check
// that compares totals hands over to one that names the culprits.
func followUp(ctx context.Context, tx *pgtx.Tx, details map[string]string, found []string) ([]string, error) {
	var out []string
	for _, f := range found {
		out = append(out, f)
		sql, ok := details[prefixOf(f)]
		if !ok {
			continue
		}
		next := make(map[string]string, len(details))
		for k, v := range details {
			if v != sql { // each query runs once on the way down
				next[k] = v
			}
		}
		more, err := collectViolations(ctx, tx, sql)
		if err != nil {
			return nil, err
		}
		more, err = followUp(ctx, tx, next, more)
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
	}
	return out, nil
}

// checks returns the checks Verify runs on this database: on CockroachDB,
// which has not PostgreSQL's hash functions, the journal is compared with
// the transfers by the exact join instead of by fingerprints.
func (s *Store) checks() []check {
	if !s.db.CockroachDB() {
		return invariantChecks
	}
	out := make([]check, 0, len(invariantChecks))
	for _, c := range invariantChecks {
		if c.salted {
			c = check{name: c.name, sql: journalByTransfer, followUp: map[string]string{
				"posted transfers have two entries per posting, others none: ": journalLostEntries,
			}}
		}
		out = append(out, c)
	}
	return out
}

// prefixOf returns the invariant's name of a violation, up to ": ".
func prefixOf(v string) string {
	for i := 0; i+1 < len(v); i++ {
		if v[i] == ':' && v[i+1] == ' ' {
			return v[:i+2]
		}
	}
	return ""
}

// collectViolations runs one check and returns its rows, at most
// maxViolations of them and then a line saying how many more there were.
func collectViolations(ctx context.Context, tx *pgtx.Tx, sql string, args ...any) ([]string, error) {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	var more int
	for rows.Next() {
		if len(out) == maxViolations {
			more++
			continue
		}
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if more > 0 {
		out = append(out, fmt.Sprintf("... and %d more violations of the same check", more))
	}
	return out, rows.Err()
}

// journalByTransfer is the exact check behind the fingerprints of "the
// journal, transfer by transfer": one pass over the journal joined to its
// transfers, grouped by posting, that names each posting whose entries are
// not one debit and one credit matching it, and counts the postings that
// lack their entries (journalLostEntries then names their transfers). It
// joins about two entries to each transfer by random UUIDs, which is what
// made verify grow faster than the books, so it runs only when the
// fingerprints differ.
const journalByTransfer = `
WITH sides AS (
    SELECT e.transfer_id, e.posting, e.amount,
           t.state = 'posted' AND t.resolved_at IS NULL AND p.v->>'unit' = a.unit
           AND CASE WHEN e.amount < 0
                    THEN (p.v->>'from')::UUID = e.account_id AND (p.v->>'amount')::NUMERIC = -e.amount
                    ELSE (p.v->>'to')::UUID = e.account_id AND (p.v->>'amount')::NUMERIC = e.amount END AS matched
    FROM entries e
    JOIN transfers t ON t.id = e.transfer_id
    JOIN accounts a ON a.id = e.account_id
    CROSS JOIN LATERAL (SELECT t.postings -> e.posting::INT4 AS v) p
), slots AS (
    SELECT transfer_id, posting, count(*) FILTER (WHERE amount < 0) AS debits,
           count(*) FILTER (WHERE amount > 0) AS credits, bool_and(matched) AS matched
    FROM sides GROUP BY transfer_id, posting
)
SELECT 'each entry belongs to its transfer''s accounts and unit: transfer ' || transfer_id::text || ' posting ' || posting::text
       || CASE WHEN matched THEN ' has ' || debits::text || ' debits and ' || credits::text || ' credits, not one of each'
               ELSE ' has an entry that is not a side of it, or the transfer is not posted' END
FROM slots WHERE NOT matched OR debits <> 1 OR credits <> 1
UNION ALL
SELECT 'posted transfers have two entries per posting, others none: ' || (want - have)::text
       || ' postings of posted transfers have no entries'
FROM (SELECT (SELECT count(*) FROM slots) AS have,
             (SELECT COALESCE(sum(jsonb_array_length(postings)), 0) FROM transfers
              WHERE state = 'posted' AND resolved_at IS NULL) AS want) c
WHERE have <> want`

// journalLostEntries names the transfers whose entries are not two per
// posting if the transfer is posted and unresolved, and none otherwise.
const journalLostEntries = `
SELECT 'posted transfers have two entries per posting, others none: transfer ' || t.id::text || ' (' || t.state || ') has '
       || COALESCE(x.n, 0)::text || ' entries for ' || jsonb_array_length(t.postings)::text || ' postings'
FROM transfers t
LEFT JOIN (SELECT transfer_id, count(*) AS n FROM entries GROUP BY transfer_id) x ON x.transfer_id = t.id
WHERE COALESCE(x.n, 0) <> CASE WHEN t.state = 'posted' AND t.resolved_at IS NULL THEN 2 * jsonb_array_length(t.postings) ELSE 0 END`
