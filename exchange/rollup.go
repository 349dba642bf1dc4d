package exchange

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/internal/pgtx"
)

// Rollup is what an organization's whole subtree holds: the posted balances
// of every account the organizations of the subtree own, and of every
// member's account opened for one of them (a time bank's hours), summed per unit,
// for the subtree, for the organization's own accounts, and for each child
// organization with its own subtree. A city's assembly sees its councils,
// time banks and co-ops; the network sees its cities. Within a unit, value
// moved between two organizations of a subtree leaves its total unchanged:
// a subtree's total is its net position towards the rest of the ledger.
type Rollup struct {
	Org Org
	// At is the instant the balances are read at: the one asked for, or
	// the time of the read.
	At       time.Time
	Orgs     int          // organizations in the subtree, the organization included
	Totals   []UnitTotal  // the whole subtree, by unit
	Own      []UnitTotal  // the organization's own accounts, by unit
	Children []ChildTotal // each child organization's subtree, by name
}

// UnitTotal is the sum of the balances of some accounts in one unit.
type UnitTotal struct {
	Unit     string
	Balance  decimal.Decimal
	Accounts int
}

// ChildTotal is one child organization's subtree in a Rollup.
type ChildTotal struct {
	Org    Org
	Orgs   int // organizations in its subtree, it included
	Totals []UnitTotal
}

// Rollup returns the roll-up of an organization's subtree at instant at (a
// zero at means now), read in one snapshot, so that the totals add up
// whatever is written meanwhile. A balance at a past instant is the
// balance after the account's last entry posted at or before it; an
// account whose last entry is older costs nothing more than a read of its
// row, the others one binary search of their entries each, all in one
// statement.
//
// Who may: whoever may read the organization's accounts, as for Statement
// (its coordinators, those of an organization above it, the admin): the
// subtree is theirs. It returns ErrUnknownOrg; ErrNotVisible for anyone
// else (an organization outside the caller's subtree is answered as one
// that does not exist); ErrUnauthenticated for a zero Principal; and
// ledger.ErrInvalidRequest (Field "at") for an instant in the future.
func (s *Store) Rollup(ctx context.Context, p Principal, orgID uuid.UUID, at time.Time) (Rollup, error) {
	if p.MemberID == uuid.Nil {
		return Rollup{}, unauthenticated()
	}
	now := s.clock()
	if at.After(now) {
		return Rollup{}, invalid("at", "at %s is in the future: balances can only be read up to now", at.UTC().Format(time.RFC3339Nano))
	}
	org, err := s.org(ctx, orgID)
	if err != nil {
		return Rollup{}, err
	}
	gov, err := s.governorsFor(ctx, p, OrgOwner(orgID))
	if err != nil {
		return Rollup{}, err
	}
	if err := p.MayReadAccount(OrgOwner(orgID), gov); err != nil {
		return Rollup{}, err
	}
	r := Rollup{Org: org, At: now}
	if !at.IsZero() {
		r.At = at.UTC().Truncate(time.Microsecond)
	}
	err = s.db.Run(ctx, pgtx.Options{Isolation: pgx.RepeatableRead, ReadOnly: true}, func(tx *pgtx.Tx) error {
		r.Totals, r.Own, r.Children = nil, nil, nil
		return readRollup(ctx, tx, &r, !at.IsZero())
	})
	if err != nil {
		return Rollup{}, err
	}
	return r, nil
}

// subtreeOrgs walks down from an organization: every organization of its
// subtree with the child of the root it hangs under (NULL for the root),
// its region and its depth.
const subtreeOrgs = `
WITH RECURSIVE down (id, top, depth) AS (
    SELECT id, NULL::UUID, 0 FROM orgs WHERE id = $1
  UNION ALL
    SELECT c.id, COALESCE(down.top, c.id), down.depth + 1
    FROM orgs c JOIN down ON c.parent_id = down.id
    WHERE down.depth < $2
)
SELECT down.id, down.top, o.region, down.depth FROM down JOIN orgs o ON o.id = down.id`

// The roll-up's statements, sent together in one round trip. Each walks
// the subtree again (a thousand organizations cost about a millisecond)
// rather than sending it back and forth.
//
// rollupChildren lists the root's children with the size of their
// subtrees. rollupTotals sums the balances of the subtree's accounts by the
// child they hang under (NULL for the root's own) and unit; with $3 set,
// only those of accounts with no entry at or after $3, whose balance then
// was their balance now. rollupSearched sums the others' balances before
// $3, found by a binary search of each one's entries (ledger.EntryBefore's,
// for all of them at once, advancing together). An organization's accounts are found
// through accounts (region, owner, unit), the index that starts with the
// region: on a multi-region cluster the read of each organization's rows
// stays in its region.
const (
	rollupDown = `
WITH RECURSIVE down (id, top, depth) AS (
    SELECT id, NULL::UUID, 0 FROM orgs WHERE id = $1
  UNION ALL
    SELECT c.id, COALESCE(down.top, c.id), down.depth + 1
    FROM orgs c JOIN down ON c.parent_id = down.id
    WHERE down.depth < $2
)`
	rollupAccounts = `
accts (top, id, unit, balance, entry_seq, last_entry_at) AS (
    SELECT down.top, a.id, a.unit, a.balance, a.entry_seq, a.last_entry_at
    FROM down JOIN orgs o ON o.id = down.id
    JOIN accounts a ON a.region = o.region AND a.owner = 'org:' || o.id::TEXT
  UNION ALL
    SELECT down.top, a.id, a.unit, a.balance, a.entry_seq, a.last_entry_at
    FROM down JOIN member_accounts ma ON ma.org_id = down.id
    JOIN accounts a ON a.id = ma.account_id
)`
	rollupChildren = rollupDown + `
SELECT ` + orgColumns + `, c.n
FROM (SELECT top, count(*) AS n FROM down WHERE top IS NOT NULL GROUP BY top) c
JOIN orgs o ON o.id = c.top`
	rollupTotals = rollupDown + `, ` + rollupAccounts + `
SELECT top, unit, sum(balance), count(*) FROM accts
WHERE $3::TIMESTAMPTZ IS NULL OR last_entry_at IS NULL OR last_entry_at < $3::TIMESTAMPTZ
GROUP BY top, unit`
	rollupSearched = rollupDown + `, ` + rollupAccounts + `,
search (account_id, lo, hi) AS (
    SELECT id, 0::BIGINT, entry_seq FROM accts WHERE last_entry_at >= $3::TIMESTAMPTZ
  UNION ALL
    SELECT s.account_id,
           CASE WHEN e.posted_at < $3::TIMESTAMPTZ THEN e.seq ELSE s.lo END,
           CASE WHEN e.posted_at < $3::TIMESTAMPTZ THEN s.hi ELSE e.seq - 1 END
    FROM search s JOIN entries e ON e.account_id = s.account_id AND e.seq = (s.lo + s.hi + 1) >> 1
    WHERE s.lo < s.hi
)
SELECT a.top, a.unit, sum(COALESCE(e.balance_after, 0)), count(*)
FROM search s JOIN accts a ON a.id = s.account_id
LEFT JOIN entries e ON e.account_id = s.account_id AND e.seq = s.lo
WHERE s.lo = s.hi
GROUP BY a.top, a.unit`
)

func readRollup(ctx context.Context, tx *pgtx.Tx, r *Rollup, past bool) error {
	// Balances at r.At count entries posted at or before it: those before
	// the next microsecond, the database's precision.
	var before *time.Time
	if past {
		b := r.At.Add(time.Microsecond)
		before = &b
	}
	b := &pgx.Batch{}
	b.Queue(rollupChildren, r.Org.ID, maxDepth)
	b.Queue(rollupTotals, r.Org.ID, maxDepth, before)
	if past {
		b.Queue(rollupSearched, r.Org.ID, maxDepth, before)
	}
	br := tx.SendBatch(ctx, b)
	defer br.Close()

	rows, err := br.Query()
	if err != nil {
		return err
	}
	sizes := make(map[uuid.UUID]int)
	kids, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Org, error) {
		var n int64
		o, err := scanOrg(row, &n)
		sizes[o.ID] = int(n)
		return o, err
	})
	if err != nil {
		return err
	}
	r.Orgs = 1
	for _, n := range sizes {
		r.Orgs += n
	}
	sums := make(map[uuid.UUID]map[string]*UnitTotal)
	for range b.Len() - 1 {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		var top *uuid.UUID
		var unit string
		var sum decimal.Decimal
		var count int64
		if _, err := pgx.ForEachRow(rows, []any{&top, &unit, &sum, &count}, func() error {
			t := derefID(top)
			m := sums[t]
			if m == nil {
				m = make(map[string]*UnitTotal)
				sums[t] = m
			}
			u := m[unit]
			if u == nil {
				u = &UnitTotal{Unit: unit}
				m[unit] = u
			}
			u.Balance = u.Balance.Add(sum)
			u.Accounts += int(count)
			return nil
		}); err != nil {
			return err
		}
	}
	if err := br.Close(); err != nil {
		return err
	}
	slices.SortFunc(kids, func(a, b Org) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.ID.String(), b.ID.String())
	})
	all := make(map[string]*UnitTotal)
	for _, m := range sums {
		for _, u := range m {
			t := all[u.Unit]
			if t == nil {
				t = &UnitTotal{Unit: u.Unit}
				all[u.Unit] = t
			}
			t.Balance = t.Balance.Add(u.Balance)
			t.Accounts += u.Accounts
		}
	}
	r.Totals = sortedTotals(all)
	r.Own = sortedTotals(sums[uuid.Nil])
	r.Children = make([]ChildTotal, len(kids))
	for i, k := range kids {
		r.Children[i] = ChildTotal{Org: k, Orgs: sizes[k.ID], Totals: sortedTotals(sums[k.ID])}
	}
	return nil
}

func derefID(id *uuid.UUID) uuid.UUID {
	if id == nil {
		return uuid.Nil
	}
	return *id
}

// sortedTotals lists totals by unit; never nil, so that "none" reads as an
// empty list.
func sortedTotals(m map[string]*UnitTotal) []UnitTotal {
	out := make([]UnitTotal, 0, len(m))
	for _, u := range m {
		out = append(out, *u)
	}
	slices.SortFunc(out, func(a, b UnitTotal) int { return strings.Compare(a.Unit, b.Unit) })
	return out
}
