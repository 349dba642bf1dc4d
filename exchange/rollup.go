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
	"github.com/mutual-ledger/mutual/ledger"
)

// Rollup is what an organization's whole subtree holds: the posted balances
// of every account the organizations of the subtree own, summed per unit,
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
// statement (ledger.BalancesBefore).
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
// subtree with the child of the root it hangs under (the root's own row
// has none), its region, and, for the root's children, their rows.
const subtreeOrgs = `
WITH RECURSIVE down (id, top, depth) AS (
    SELECT id, NULL::UUID, 0 FROM orgs WHERE id = $1
  UNION ALL
    SELECT c.id, COALESCE(down.top, c.id), down.depth + 1
    FROM orgs c JOIN down ON c.parent_id = down.id
    WHERE down.depth < $2
)
SELECT down.id, down.top, o.region, down.depth FROM down JOIN orgs o ON o.id = down.id`

// rollupTotals sums the balances of the subtree's accounts by the child
// they belong under and unit. It goes through accounts (region, owner,
// unit), the index that starts with the region: on a multi-region
// cluster, naming the subtree's regions keeps the read in them. With $4
// set, only accounts with no entry at or after $4 are summed (their
// balance then is their balance at $4); the others are listed by
// rollupSearched.
const (
	rollupTotals = `
SELECT t.top, a.unit, sum(a.balance), count(*)
FROM unnest($1::TEXT[], $2::UUID[]) AS t(owner, top)
JOIN accounts a ON a.owner = t.owner
WHERE a.region = ANY($3::TEXT[])
  AND ($4::TIMESTAMPTZ IS NULL OR a.last_entry_at IS NULL OR a.last_entry_at < $4::TIMESTAMPTZ)
GROUP BY t.top, a.unit`
	rollupSearched = `
SELECT t.top, a.unit, a.id
FROM unnest($1::TEXT[], $2::UUID[]) AS t(owner, top)
JOIN accounts a ON a.owner = t.owner
WHERE a.region = ANY($3::TEXT[]) AND a.last_entry_at >= $4::TIMESTAMPTZ`
)

func readRollup(ctx context.Context, tx *pgtx.Tx, r *Rollup, past bool) error {
	rows, err := tx.Query(ctx, subtreeOrgs, r.Org.ID, maxDepth)
	if err != nil {
		return err
	}
	var owners []string
	var tops []uuid.UUID // uuid.Nil for the root's own accounts
	var children []uuid.UUID
	sizes := make(map[uuid.UUID]int)
	regionSet := make(map[string]bool)
	var id uuid.UUID
	var top *uuid.UUID
	var region string
	var depth int64
	_, err = pgx.ForEachRow(rows, []any{&id, &top, &region, &depth}, func() error {
		t := uuid.Nil
		if top != nil {
			t = *top
		}
		owners, tops = append(owners, OrgOwner(id)), append(tops, t)
		regionSet[region] = true
		sizes[t]++
		if depth == 1 {
			children = append(children, id)
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.Orgs = len(owners)
	regions := make([]string, 0, len(regionSet))
	for reg := range regionSet {
		regions = append(regions, reg)
	}
	// Balances at r.At count entries posted at or before it: those before
	// the next microsecond, the database's precision.
	var before *time.Time
	if past {
		b := r.At.Add(time.Microsecond)
		before = &b
	}
	sums := make(map[uuid.UUID]map[string]*UnitTotal)
	add := func(top uuid.UUID, unit string, bal decimal.Decimal, n int) {
		m := sums[top]
		if m == nil {
			m = make(map[string]*UnitTotal)
			sums[top] = m
		}
		u := m[unit]
		if u == nil {
			u = &UnitTotal{Unit: unit}
			m[unit] = u
		}
		u.Balance = u.Balance.Add(bal)
		u.Accounts += n
	}
	rows, err = tx.Query(ctx, rollupTotals, owners, tops, regions, before)
	if err != nil {
		return err
	}
	var unit string
	var sum decimal.Decimal
	var count int64
	if _, err := pgx.ForEachRow(rows, []any{&top, &unit, &sum, &count}, func() error {
		add(derefID(top), unit, sum, int(count))
		return nil
	}); err != nil {
		return err
	}
	if past {
		type searched struct {
			top  uuid.UUID
			unit string
		}
		rows, err = tx.Query(ctx, rollupSearched, owners, tops, regions, before)
		if err != nil {
			return err
		}
		var ids []uuid.UUID
		of := make(map[uuid.UUID]searched)
		if _, err := pgx.ForEachRow(rows, []any{&top, &unit, &id}, func() error {
			ids = append(ids, id)
			of[id] = searched{derefID(top), unit}
			return nil
		}); err != nil {
			return err
		}
		bals, err := ledger.BalancesBefore(ctx, tx, ids, *before)
		if err != nil {
			return err
		}
		for _, id := range ids {
			add(of[id].top, of[id].unit, bals[id], 1)
		}
	}
	// The children's rows, then the totals: the subtree's, the root's own,
	// each child's.
	rows, err = tx.Query(ctx, `SELECT `+orgColumns+` FROM orgs o WHERE o.id = ANY($1)`, children)
	if err != nil {
		return err
	}
	kids, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Org, error) { return scanOrg(row) })
	if err != nil {
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
