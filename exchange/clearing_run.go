package exchange

import (
	"context"
	"encoding/json"
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

// ClearingRequest asks for a clearing run.
type ClearingRequest struct {
	Group  uuid.UUID // the group: this organization and every one under it
	Unit   string
	DryRun bool // compute, write nothing
	// UseCredit lets the participants that agreed to it (see
	// SetClearingCreditLine) pay and be paid through their accounts in the
	// unit, within the accounts' bounds, to cancel more.
	UseCredit bool
}

// ClearingRun is a clearing, applied or dry.
type ClearingRun struct {
	ID           uuid.UUID // uuid.Nil for a dry run
	GroupOrg     uuid.UUID
	Unit         string
	StartedBy    uuid.UUID
	DryRun       bool
	UseCredit    bool
	Obligations  int             // confirmed open obligations considered
	Participants int             // organizations owing or owed among them
	TotalDebt    decimal.Decimal // what they came to before the run
	Cleared      decimal.Decimal // what the run cancels
	Reductions   []ClearingReduction
	// With credit: what each participant paid (positive) or received
	// (negative) through its account, the total moved, and the one ledger
	// transfer that moved it (nil when nothing moved, and for a dry run).
	LedgerPayments []ClearingLedgerPayment
	ThroughLedger  decimal.Decimal
	TransferID     *uuid.UUID
	CreatedAt      time.Time
}

// ClearingLedgerPayment is what a run moved through one participant's
// account: Amount out of it when positive, into it when negative.
type ClearingLedgerPayment struct {
	Org     uuid.UUID
	Account uuid.UUID
	Amount  decimal.Decimal
}

// ClearingCreditLine is an organization's consent that clearing runs in
// Unit that ask for credit may move value into and out of Account.
type ClearingCreditLine struct {
	Org      uuid.UUID
	Unit     string
	Account  uuid.UUID
	AgreedBy uuid.UUID
	AgreedAt time.Time
}

// creditLine is a participant's room through the ledger at a run.
type creditLine struct {
	org, account  uuid.UUID
	pay, receive  decimal.Decimal // room down and up, unless unlimited
	uncapped      bool
	unlimitedDown bool
}

// SetClearingCreditLine records, for p acting for org (its coordinators,
// those above it, the admin), that clearing runs in account's unit that
// ask for credit may move value into and out of account, an organization
// account of org's, within its bounds; it replaces an earlier consent in
// that unit. It returns ErrUnknownOrg; ErrForbidden when p does not act
// for org; ledger.ErrUnknownAccount (Field "account_id") for an account
// that does not exist; ledger.ErrInvalidRequest for one that is not org's
// or not of kind organization.
func (s *Store) SetClearingCreditLine(ctx context.Context, p Principal, org, account uuid.UUID) (ClearingCreditLine, error) {
	if err := s.CanManageOrg(ctx, p, org); err != nil {
		return ClearingCreditLine{}, err
	}
	refs, err := s.led.AccountRefs(ctx, []uuid.UUID{account})
	if err != nil {
		return ClearingCreditLine{}, err
	}
	acc := refs[account]
	switch {
	case acc.ID == uuid.Nil:
		e := newError(ledger.ErrUnknownAccount.Code, ledger.ReasonUnknownAccount, "unknown account %s", account)
		e.Field, e.Account = "account_id", account
		return ClearingCreditLine{}, e
	case acc.Owner != OrgOwner(org):
		return ClearingCreditLine{}, invalid("account_id", "account %s is not organization %s's", account, org)
	case acc.Kind != ledger.KindOrganization:
		return ClearingCreditLine{}, invalid("account_id", "account %s is a %s account; clearing moves value only through an organization account", account, acc.Kind)
	}
	l := ClearingCreditLine{Org: org, Unit: acc.Unit, Account: account, AgreedBy: p.MemberID, AgreedAt: s.clock()}
	err = s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		_, err := tx.Exec(ctx, `
INSERT INTO clearing_credit_lines (org_id, unit, account_id, agreed_by, agreed_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (org_id, unit) DO UPDATE SET account_id = excluded.account_id, agreed_by = excluded.agreed_by, agreed_at = excluded.agreed_at`,
			l.Org, l.Unit, l.Account, l.AgreedBy, l.AgreedAt)
		record(tx, p, l.AgreedAt, auditEvent{kind: "clearing.credit_line_set", subject: l.Account, org: l.Org,
			details: map[string]any{"unit": l.Unit}})
		return err
	})
	if err != nil {
		return ClearingCreditLine{}, err
	}
	return l, nil
}

// creditLines reads the credit lines in unit of the organizations in
// members, with each account's room now: down to its lower bound (pending
// debits counted) and up to its cap (pending credits counted). Accounts
// that are not open are left out.
func (s *Store) creditLines(ctx context.Context, tx *pgtx.Tx, members []uuid.UUID, unit string) ([]creditLine, error) {
	rows, err := tx.Query(ctx, `SELECT org_id, account_id FROM clearing_credit_lines WHERE unit = $1 AND org_id = ANY($2) ORDER BY org_id`, unit, members)
	if err != nil {
		return nil, err
	}
	type pair struct{ org, account uuid.UUID }
	pairs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pair, error) {
		var x pair
		return x, r.Scan(&x.org, &x.account)
	})
	if err != nil {
		return nil, err
	}
	var out []creditLine
	for _, x := range pairs {
		acc, err := s.led.Account(ctx, x.account)
		if err != nil {
			return nil, err
		}
		if acc.Status != ledger.StatusOpen {
			continue
		}
		l := creditLine{org: x.org, account: x.account}
		if acc.LowerBound == nil {
			l.unlimitedDown = true
		} else {
			l.pay = decimal.Max(acc.Available.Sub(*acc.LowerBound), decimal.Zero)
		}
		if acc.UpperBound == nil {
			l.uncapped = true
		} else {
			l.receive = decimal.Max(acc.UpperBound.Sub(acc.Posted).Sub(acc.PendingCredits), decimal.Zero)
		}
		out = append(out, l)
	}
	return out, nil
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
func (s *Store) RunClearing(ctx context.Context, p Principal, req ClearingRequest) (ClearingRun, error) {
	group, unit, dryRun := req.Group, req.Unit, req.DryRun
	if p.MemberID == uuid.Nil {
		return ClearingRun{}, unauthenticated()
	}
	if group == uuid.Nil {
		return ClearingRun{}, invalid("org_id", "org_id is required: the organization whose subtree is the clearing group")
	}
	if unit == "" {
		return ClearingRun{}, invalid("unit", "unit is required")
	}
	gov, err := s.governors(ctx, OrgOwner(group))
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
	members, err := s.subtree(ctx, group)
	if err != nil {
		return ClearingRun{}, err
	}
	run := ClearingRun{GroupOrg: group, Unit: unit, StartedBy: p.MemberID, DryRun: dryRun, UseCredit: req.UseCredit}
	lines := func(tx *pgtx.Tx) ([]creditLine, error) {
		if !req.UseCredit {
			return nil, nil
		}
		return s.creditLines(ctx, tx, members, unit)
	}
	if dryRun {
		err = s.db.Run(ctx, pgtx.Options{ReadOnly: true}, func(tx *pgtx.Tx) error {
			run.Reductions, run.LedgerPayments = nil, nil
			os, err := groupObligations(ctx, tx, members, unit, false)
			if err != nil {
				return err
			}
			ls, err := lines(tx)
			if err != nil {
				return err
			}
			run.CreatedAt = s.clock()
			return solve(&run, os, u.Scale, ls)
		})
		return run, err
	}
	// Lock order: the group's obligations (in id order), then, for the
	// ledger payments, the ledger's account rows (sorted by id, by the
	// ledger). The accounts' room is read before they are locked; if a
	// transfer takes it meanwhile, the ledger refuses the run's transfer and
	// nothing is applied.
	err = s.led.Within(ctx, func(tx *pgtx.Tx, lt *ledger.Tx) error {
		run.ID, run.Reductions, run.LedgerPayments, run.TransferID = newID(), nil, nil, nil
		os, err := groupObligations(ctx, tx, members, unit, true)
		if err != nil {
			return err
		}
		ls, err := lines(tx)
		if err != nil {
			return err
		}
		run.CreatedAt = s.clock()
		if err := solve(&run, os, u.Scale, ls); err != nil {
			return err
		}
		return applyRun(ctx, tx, lt, p, &run)
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
func solve(run *ClearingRun, os []Obligation, scale int32, lines []creditLine) error {
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
	minor := func(d decimal.Decimal, unlimited bool) int64 {
		m := d.Shift(scale).Floor()
		if unlimited || m.GreaterThan(limit) {
			return math.MaxInt64
		}
		return m.IntPart()
	}
	var used []creditLine // the lines of participants, in the order of p.Lines
	for _, l := range lines {
		i, ok := index[l.org]
		if !ok {
			continue // owes nothing and is owed nothing in the group
		}
		p.Lines = append(p.Lines, clearing.Line{Participant: i, Pay: minor(l.pay, l.unlimitedDown), Receive: minor(l.receive, l.uncapped)})
		used = append(used, l)
	}
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
	run.ThroughLedger = decimal.Zero
	for k, l := range used {
		if x := res.Pay[p.Lines[k].Participant]; x != 0 {
			amount := decimal.New(x, -scale)
			run.LedgerPayments = append(run.LedgerPayments, ClearingLedgerPayment{Org: l.org, Account: l.account, Amount: amount})
			if x > 0 {
				run.ThroughLedger = run.ThroughLedger.Add(amount)
			}
		}
	}
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

// applyRun writes a solved run: the run, the ledger transfer of its
// payments through the participants' accounts (metadata {"clearing_run":
// id}), the obligations' new outstanding amounts, one settlement per
// reduction, and the notices.
func applyRun(ctx context.Context, tx *pgtx.Tx, lt *ledger.Tx, p Principal, run *ClearingRun) error {
	if _, err := tx.Exec(ctx, `
INSERT INTO clearing_runs (id, group_org, unit, started_by, obligations, participants, total_debt, cleared, use_credit, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		run.ID, run.GroupOrg, run.Unit, run.StartedBy, run.Obligations, run.Participants, run.TotalDebt, run.Cleared, run.UseCredit, run.CreatedAt); err != nil {
		return err
	}
	record(tx, p, run.CreatedAt, auditEvent{kind: "clearing.run", subject: run.ID, org: run.GroupOrg,
		details: map[string]any{"unit": run.Unit, "cleared": run.Cleared.String(), "use_credit": run.UseCredit}})
	if len(run.LedgerPayments) > 0 {
		ps := ledgerPostings(run.LedgerPayments, run.Unit)
		if len(ps) > ledger.MaxPostings {
			return invalid("use_credit", "the run would move value between %d pairs of accounts, more than one transfer holds (%d): clear a smaller group, or without credit", len(ps), ledger.MaxPostings)
		}
		meta, err := json.Marshal(map[string]string{"clearing_run": run.ID.String()})
		if err != nil {
			return err
		}
		tr, err := lt.CreateTransfer(ctx, ledger.TransferRequest{Postings: ps, Memo: "clearing run " + run.ID.String(), Metadata: meta})
		if err != nil {
			return err
		}
		run.TransferID = &tr.ID
		// The transfer's row is written with COMMIT: the run names it after.
		b := &pgx.Batch{}
		b.Queue(`UPDATE clearing_runs SET transfer_id = $2, through_ledger = $3 WHERE id = $1`, run.ID, tr.ID, run.ThroughLedger)
		tx.Defer(b, func(br pgx.BatchResults) error { _, err := br.Exec(); return err })
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
	return tellRun(ctx, tx, p, *run)
}

// ledgerPostings pairs the payers' accounts with the payees' (largest
// first is not needed: any pairing balances) into postings.
func ledgerPostings(pays []ClearingLedgerPayment, unit string) []ledger.Posting {
	var out, in []ClearingLedgerPayment
	for _, x := range pays {
		if x.Amount.Sign() > 0 {
			out = append(out, x)
		} else {
			in = append(in, ClearingLedgerPayment{Org: x.Org, Account: x.Account, Amount: x.Amount.Neg()})
		}
	}
	var ps []ledger.Posting
	for i, j := 0, 0; i < len(out) && j < len(in); {
		m := decimal.Min(out[i].Amount, in[j].Amount)
		ps = append(ps, ledger.Posting{From: out[i].Account, To: in[j].Account, Amount: m, Unit: unit})
		out[i].Amount, in[j].Amount = out[i].Amount.Sub(m), in[j].Amount.Sub(m)
		if out[i].Amount.IsZero() {
			i++
		}
		if in[j].Amount.IsZero() {
			j++
		}
	}
	return ps
}

// tellRun notifies the coordinators of each organization whose obligations
// the run reduced: what it was cancelled of what it owed and was owed, and
// to and from whom, and that its net position is unchanged.
func tellRun(ctx context.Context, tx *pgtx.Tx, p Principal, run ClearingRun) error {
	orgs := map[uuid.UUID]bool{}
	for _, r := range run.Reductions {
		orgs[r.DebtorOrg], orgs[r.CreditorOrg] = true, true
	}
	for _, x := range run.LedgerPayments {
		orgs[x.Org] = true
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
		moved := "no value moved"
		for _, x := range run.LedgerPayments {
			if x.Org == org && x.Amount.Sign() > 0 {
				moved = fmt.Sprintf("it paid %s %s through its account %s, within its credit line", x.Amount, run.Unit, x.Account)
			} else if x.Org == org {
				moved = fmt.Sprintf("it received %s %s in its account %s", x.Amount.Neg(), run.Unit, x.Account)
			}
		}
		msg := fmt.Sprintf("Clearing run %s in %s cancelled %s %s that %s owed (%s) against %s %s it was owed (%s); %s, and its net position is unchanged.",
			run.ID, run.Unit, out, run.Unit, names[org], strings.Join(owing, "; "), in, run.Unit, strings.Join(owed, "; "), moved)
		to, err := nearestCoordinators(ctx, tx, org)
		if err != nil {
			return err
		}
		ps := map[string]string{"Org": names[org], "Unit": run.Unit, "Out": places(out), "In": places(in)}
		if err := notify(ctx, tx, run.CreatedAt, notice{Kind: "clearing_applied", ClearingRun: &run.ID, Message: truncateRunes(msg, 2000), Params: ps}, to...); err != nil {
			return err
		}
	}
	return nil
}
