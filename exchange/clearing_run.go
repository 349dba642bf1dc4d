package exchange

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange/clearing"
	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/ledger"
)

// Clearing runs. A coordinator of a clearing group (an organization and
// every organization under it, up to the whole network) cancels as much of
// the group's confirmed open obligations in one unit as can be cancelled
// leaving every organization's net position (what it is owed less what it
// owes) unchanged: the maximum circulation that package clearing finds,
// with a certificate of optimality checked before anything is written. Only
// obligations between two organizations of the group count. No value moves.

// ClearingRun is a clearing, applied or dry.
type ClearingRun struct {
	ID           uuid.UUID // uuid.Nil for a dry run
	GroupOrg     uuid.UUID
	Unit         string
	StartedBy    uuid.UUID
	DryRun       bool
	Obligations  int             // confirmed open obligations considered
	Participants int             // organizations owing or owed among them
	TotalDebt    decimal.Decimal // what they came to before the run
	Cleared      decimal.Decimal // what the run cancels
	Reductions   []ClearingReduction
	CreatedAt    time.Time
}

// ClearingReduction is what a run cancels of one obligation.
type ClearingReduction struct {
	ObligationID uuid.UUID
	DebtorOrg    uuid.UUID
	CreditorOrg  uuid.UUID
	Reference    string
	Amount       decimal.Decimal // cancelled
	Outstanding  decimal.Decimal // left after the run
}

// ReasonClearingTooLarge is the reason of a group whose debts do not fit
// the exact integer arithmetic of the solver.
const ReasonClearingTooLarge ledger.Reason = "clearing_too_large"

// RunClearing clears the confirmed open obligations in unit among group
// and the organizations under it, for p, who must act for group (its
// coordinators, those above, the admin). With dryRun it computes the same
// result from the current obligations and writes nothing.
//
// Otherwise, in one transaction, it locks every such obligation in id
// order (so a payment or another run touching them waits, and then sees
// what this one left), reduces each by its part, records the run and each
// reduction, and notifies the coordinators of every organization whose
// obligations moved, saying what was cancelled against whom. Two runs over
// one group are therefore ordered: the second finds no cycle of debt left
// and cancels nothing more. A run is recorded even when it cancels nothing.
//
// It returns ErrUnknownOrg for an unknown group; ledger.ErrUnknownUnit for
// an unknown unit; ErrForbidden when p does not act for the group;
// ErrUnauthenticated for a zero Principal; ledger.ErrInvalidRequest (with
// reason clearing_too_large) when the group's debts exceed what exact
// int64 minor units hold.
func (s *Store) RunClearing(ctx context.Context, p Principal, group uuid.UUID, unit string, dryRun bool) (ClearingRun, error) {
	if p.MemberID == uuid.Nil {
		return ClearingRun{}, unauthenticated()
	}
	if group == uuid.Nil {
		return ClearingRun{}, invalid("org_id", "org_id is required: the organization whose subtree is the clearing group")
	}
	if unit == "" {
		return ClearingRun{}, invalid("unit", "unit is required")
	}
	gov, err := s.Governors(ctx, OrgOwner(group))
	if err != nil {
		return ClearingRun{}, err
	}
	if len(gov) == 0 {
		e := unknownOrg(group).(*ledger.Error)
		e.Field = "org_id"
		return ClearingRun{}, e
	}
	if err := p.MayManageOrg(gov); err != nil {
		if errors.Is(err, ErrForbidden) {
			return ClearingRun{}, forbiddenBecause(fmt.Sprintf("only a coordinator of organization %s (or of one above it) may clear its group's debts", group))
		}
		return ClearingRun{}, err
	}
	u, err := s.led.Unit(ctx, unit)
	if err != nil {
		var e *ledger.Error
		if errors.As(err, &e) {
			e.Field = "unit"
		}
		return ClearingRun{}, err
	}
	members, err := s.Subtree(ctx, group)
	if err != nil {
		return ClearingRun{}, err
	}
	run := ClearingRun{GroupOrg: group, Unit: unit, StartedBy: p.MemberID, DryRun: dryRun}
	if dryRun {
		err = s.db.Run(ctx, pgtx.Options{ReadOnly: true}, func(tx *pgtx.Tx) error {
			os, err := groupObligations(ctx, tx, members, unit, false)
			if err != nil {
				return err
			}
			run.CreatedAt = s.clock()
			return solve(&run, os, u.Scale)
		})
		return run, err
	}
	err = s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		run.ID, run.Reductions = newID(), nil
		os, err := groupObligations(ctx, tx, members, unit, true)
		if err != nil {
			return err
		}
		run.CreatedAt = s.clock()
		if err := solve(&run, os, u.Scale); err != nil {
			return err
		}
		return applyRun(ctx, tx, p, run)
	})
	if err != nil {
		return ClearingRun{}, err
	}
	return run, nil
}

// groupObligations reads (and with lock, locks in id order) the confirmed
// open obligations in unit between two organizations of members.
func groupObligations(ctx context.Context, tx *pgtx.Tx, members []uuid.UUID, unit string, lock bool) ([]Obligation, error) {
	sql := `SELECT ` + obligationColumns + ` FROM obligations o
WHERE o.unit = $1 AND o.status = 'confirmed' AND o.creditor_org = ANY($2) AND o.debtor_org = ANY($2)
ORDER BY o.id`
	if lock {
		sql += ` FOR UPDATE`
	}
	rows, err := tx.Query(ctx, sql, unit, members)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Obligation, error) { return scanObligation(r) })
}

// solve fills run's figures and reductions from the obligations, in exact
// integer minor units of the unit's scale, and checks the solver's
// certificate of optimality before anything is written.
func solve(run *ClearingRun, os []Obligation, scale int32) error {
	index := map[uuid.UUID]int32{}
	p := clearing.Problem{Obligations: make([]clearing.Obligation, len(os))}
	limit := decimal.NewFromInt(math.MaxInt64)
	total := decimal.Zero
	for k, o := range os {
		minor := o.Outstanding.Shift(scale)
		if !minor.IsInteger() || minor.GreaterThan(limit) {
			return newError(ledger.EINVALID, ReasonClearingTooLarge, "obligation %s's %s %s cannot be cleared exactly", o.ID, o.Outstanding, o.Unit)
		}
		total = total.Add(o.Outstanding)
		for _, org := range []uuid.UUID{o.DebtorOrg, o.CreditorOrg} {
			if _, ok := index[org]; !ok {
				index[org] = int32(len(index))
			}
		}
		p.Obligations[k] = clearing.Obligation{Debtor: index[o.DebtorOrg], Creditor: index[o.CreditorOrg], Amount: minor.IntPart()}
	}
	p.N = len(index)
	res, err := clearing.Clear(p)
	if errors.Is(err, clearing.ErrInvalid) {
		return newError(ledger.EINVALID, ReasonClearingTooLarge, "the group's debts in %s are too large to clear exactly: clear a smaller group", run.Unit)
	}
	if err != nil {
		return err
	}
	if err := clearing.Check(p, res); err != nil {
		return fmt.Errorf("clearing run refused its own result: %w", err)
	}
	run.Obligations, run.Participants, run.TotalDebt = len(os), p.N, total
	run.Cleared = decimal.New(res.Total, -scale)
	for k, c := range res.Cleared {
		if c == 0 {
			continue
		}
		o := os[k]
		amount := decimal.New(c, -scale)
		run.Reductions = append(run.Reductions, ClearingReduction{
			ObligationID: o.ID, DebtorOrg: o.DebtorOrg, CreditorOrg: o.CreditorOrg, Reference: o.Reference,
			Amount: amount, Outstanding: o.Outstanding.Sub(amount),
		})
	}
	return nil
}

// applyRun writes a solved run: the run, the obligations' new outstanding
// amounts, one settlement per reduction, and the notices.
func applyRun(ctx context.Context, tx *pgtx.Tx, p Principal, run ClearingRun) error {
	if _, err := tx.Exec(ctx, `
INSERT INTO clearing_runs (id, group_org, unit, started_by, obligations, participants, total_debt, cleared, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		run.ID, run.GroupOrg, run.Unit, run.StartedBy, run.Obligations, run.Participants, run.TotalDebt, run.Cleared, run.CreatedAt); err != nil {
		return err
	}
	if len(run.Reductions) == 0 {
		return nil
	}
	n := len(run.Reductions)
	ids, obls, amounts := make([]uuid.UUID, n), make([]uuid.UUID, n), make([]string, n)
	for i, r := range run.Reductions {
		ids[i], obls[i], amounts[i] = newID(), r.ObligationID, r.Amount.String()
	}
	tag, err := tx.Exec(ctx, `
UPDATE obligations o SET outstanding = o.outstanding - r.amount::NUMERIC,
    status = CASE WHEN o.outstanding - r.amount::NUMERIC = 0 THEN 'settled' ELSE o.status END, updated_at = $3
FROM unnest($1::UUID[], $2::TEXT[]) AS r (id, amount)
WHERE o.id = r.id AND o.status = 'confirmed'`, obls, amounts, run.CreatedAt)
	if err != nil {
		return err
	}
	if int(tag.RowsAffected()) != n {
		return fmt.Errorf("clearing run %s reduced %d obligations, want %d", run.ID, tag.RowsAffected(), n)
	}
	if _, err := tx.Exec(ctx, `
INSERT INTO obligation_settlements (id, obligation_id, kind, amount, clearing_run_id, created_at)
SELECT r.id, r.obligation_id, 'clearing', r.amount::NUMERIC, $4, $5
FROM unnest($1::UUID[], $2::UUID[], $3::TEXT[]) AS r (id, obligation_id, amount)`,
		ids, obls, amounts, run.ID, run.CreatedAt); err != nil {
		return err
	}
	return tellRun(ctx, tx, p, run)
}

// tellRun notifies the coordinators of each organization whose obligations
// the run reduced: what it was cancelled of what it owed and was owed, and
// to and from whom, and that its net position is unchanged.
func tellRun(ctx context.Context, tx *pgtx.Tx, p Principal, run ClearingRun) error {
	orgs := map[uuid.UUID]bool{}
	for _, r := range run.Reductions {
		orgs[r.DebtorOrg], orgs[r.CreditorOrg] = true, true
	}
	ids := make([]uuid.UUID, 0, len(orgs))
	for id := range orgs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
	rows, err := tx.Query(ctx, `SELECT id, name FROM orgs WHERE id = ANY($1)`, ids)
	if err != nil {
		return err
	}
	names := map[uuid.UUID]string{}
	for rows.Next() {
		var id uuid.UUID
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			rows.Close()
			return err
		}
		names[id] = name
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, org := range ids {
		var owed, owing []string
		in, out := decimal.Zero, decimal.Zero
		for _, r := range run.Reductions {
			switch org {
			case r.DebtorOrg:
				out = out.Add(r.Amount)
				owing = append(owing, fmt.Sprintf("%s to %s (invoice %s)", r.Amount, names[r.CreditorOrg], r.Reference))
			case r.CreditorOrg:
				in = in.Add(r.Amount)
				owed = append(owed, fmt.Sprintf("%s from %s (invoice %s)", r.Amount, names[r.DebtorOrg], r.Reference))
			}
		}
		msg := fmt.Sprintf("Clearing run %s in %s cancelled %s %s that %s owed (%s) against %s %s it was owed (%s); its net position is unchanged, and no money moved.",
			run.ID, run.Unit, out, run.Unit, names[org], strings.Join(owing, "; "), in, run.Unit, strings.Join(owed, "; "))
		to, err := nearestCoordinators(ctx, tx, org)
		if err != nil {
			return err
		}
		if err := notify(ctx, tx, run.CreatedAt, notice{Kind: "clearing_applied", ClearingRun: &run.ID, Message: truncateRunes(msg, 2000)}, to...); err != nil {
			return err
		}
	}
	return nil
}
