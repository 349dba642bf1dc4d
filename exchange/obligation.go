package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/ledger"
)

// Obligations. An organization (the creditor) records that another (the
// debtor) owes it an amount in a unit: an invoice, with its reference and
// due date, payable to one of the creditor's accounts. The debtor's
// coordinators confirm it or dispute it; only a confirmed obligation can
// be paid or cleared. It stays open until its outstanding amount reaches
// zero, by payments (each one ledger transfer from the debtor to the
// creditor that names it) and by clearing runs (multilateral set-off,
// which moves no value). Nothing is ever deleted.

// ObligationStatus is where an obligation stands.
type ObligationStatus string

// The obligation statuses: pending until the debtor decides; confirmed and
// open; disputed (counts for nothing); settled once nothing is outstanding.
const (
	ObligationPending   ObligationStatus = "pending"
	ObligationConfirmed ObligationStatus = "confirmed"
	ObligationDisputed  ObligationStatus = "disputed"
	ObligationSettled   ObligationStatus = "settled"
)

// The reasons of the obligation errors.
const (
	ReasonUnknownObligation  ledger.Reason = "unknown_obligation"
	ReasonObligationNotOpen  ledger.Reason = "obligation_not_open"
	ReasonOverpaysObligation ledger.Reason = "overpays_obligation"
)

// Sentinel errors of obligations, for errors.Is.
var (
	// ErrUnknownObligation: no obligation has the id, or the principal may
	// not see it.
	ErrUnknownObligation = &ledger.Error{Code: ledger.ENOTFOUND, Reason: ReasonUnknownObligation}
	// ErrObligationNotOpen: the obligation is not in a status that allows
	// the step (paying one that is not confirmed, disputing one already
	// confirmed, confirming one settled).
	ErrObligationNotOpen = &ledger.Error{Code: ledger.ECONFLICT, Reason: ReasonObligationNotOpen}
	// ErrOverpaysObligation: a payment larger than what is outstanding.
	ErrOverpaysObligation = &ledger.Error{Code: ledger.EINVALID, Reason: ReasonOverpaysObligation}
)

func unknownObligation(id uuid.UUID) *ledger.Error {
	return newError(ErrUnknownObligation.Code, ReasonUnknownObligation, "unknown obligation %s", id)
}

// Obligation is a debt of one organization to another.
type Obligation struct {
	ID              uuid.UUID
	CreditorOrg     uuid.UUID
	DebtorOrg       uuid.UUID
	Unit            string
	CreditorAccount uuid.UUID // where payments go
	Amount          decimal.Decimal
	Outstanding     decimal.Decimal // Amount less payments and clearings
	DueDate         time.Time       // a date (midnight UTC)
	Reference       string          // the invoice's number
	Memo            string
	Status          ObligationStatus
	DisputeReason   string
	RecordedBy      uuid.UUID
	DecidedBy       *uuid.UUID // who confirmed or disputed it
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// NewObligation is what a creditor records.
type NewObligation struct {
	ID              uuid.UUID // optional
	DebtorOrg       uuid.UUID // required
	CreditorAccount uuid.UUID // required: the creditor's account in the unit; it names the creditor and the unit
	Amount          decimal.Decimal
	DueDate         time.Time // required; only the date counts
	Reference       string    // required, up to 200 characters
	Memo            string    // up to ledger.MaxMemo bytes
}

// ObligationPayment is one payment of an obligation.
type ObligationPayment struct {
	Obligation Obligation // as it stands after the payment
	TransferID uuid.UUID
	Amount     decimal.Decimal
}

// RecordObligation records, for the creditor (the organization that owns
// in.CreditorAccount), that in.DebtorOrg owes it in.Amount in the account's
// unit; p must act for the creditor. The obligation starts pending and the
// debtor's coordinators are notified in the same transaction.
//
// It returns ledger.ErrInvalidRequest (Field set) for a missing or bad
// field, an account that is not an organization's or is a fund's, or a
// debtor that is the creditor; ledger.ErrTooManyDecimals and
// ledger.ErrNonPositiveAmount for a bad amount; ledger.ErrUnknownAccount
// for an account that does not exist or p may not see; ErrUnknownOrg for an
// unknown debtor; ErrForbidden when p does not act for the creditor;
// ErrUnauthenticated for a zero Principal; an ECONFLICT error when the ID
// is taken.
func (s *Store) RecordObligation(ctx context.Context, p Principal, in NewObligation) (Obligation, error) {
	if p.MemberID == uuid.Nil {
		return Obligation{}, unauthenticated()
	}
	now := s.clock()
	switch {
	case in.DebtorOrg == uuid.Nil:
		return Obligation{}, invalid("debtor_org", "debtor_org is required: the organization that owes")
	case in.CreditorAccount == uuid.Nil:
		return Obligation{}, invalid("creditor_account", "creditor_account is required: your organization's account that payments go to")
	case in.DueDate.IsZero():
		return Obligation{}, invalid("due_date", "due_date is required")
	case strings.TrimSpace(in.Reference) == "" || utf8.RuneCountInString(in.Reference) > 200 || !utf8.ValidString(in.Reference) || strings.ContainsRune(in.Reference, 0):
		return Obligation{}, invalid("reference", "reference (the invoice's number) is required, up to 200 characters of text")
	case len(in.Memo) > ledger.MaxMemo || !utf8.ValidString(in.Memo) || strings.ContainsRune(in.Memo, 0):
		return Obligation{}, invalid("memo", "memo is text of at most %d bytes", ledger.MaxMemo)
	case in.Amount.Sign() <= 0:
		e := newError(ledger.EINVALID, ledger.ReasonNonPositiveAmount, "amount must be positive, not %s", in.Amount)
		e.Field = "amount"
		return Obligation{}, e
	}
	refs, err := s.led.AccountRefs(ctx, []uuid.UUID{in.CreditorAccount})
	if err != nil {
		return Obligation{}, err
	}
	acc := refs[in.CreditorAccount]
	if acc.ID == uuid.Nil {
		e := newError(ledger.ErrUnknownAccount.Code, ledger.ReasonUnknownAccount, "unknown account %s", in.CreditorAccount)
		e.Field, e.Account = "creditor_account", in.CreditorAccount
		return Obligation{}, e
	}
	kind, creditor, ok := ParseOwner(acc.Owner)
	if !ok || kind != OwnerOrg {
		return Obligation{}, invalid("creditor_account", "account %s is not an organization's: obligations are between organizations", acc.ID)
	}
	if acc.Kind == ledger.KindFund {
		return Obligation{}, invalid("creditor_account", "account %s is a fund's: money moves into a fund only by its contributions", acc.ID)
	}
	gov, err := s.governors(ctx, OrgOwner(creditor))
	if err != nil {
		return Obligation{}, err
	}
	// An account p may not see is unknown to p, as everywhere else.
	if err := p.MayReadAccount(acc.Owner, gov); err != nil {
		if e, ok := err.(*ledger.Error); ok && e.Code == ledger.ENOTFOUND {
			e = newError(ledger.ErrUnknownAccount.Code, ledger.ReasonUnknownAccount, "unknown account %s", acc.ID)
			e.Field, e.Account = "creditor_account", acc.ID
			return Obligation{}, e
		}
		return Obligation{}, err
	}
	if err := p.MayManageOrg(gov); err != nil {
		if errors.Is(err, ErrForbidden) {
			e := forbiddenBecause(fmt.Sprintf("only a coordinator of organization %s, which owns account %s, may record what others owe it", creditor, acc.ID))
			e.Field = "creditor_account"
			return Obligation{}, e
		}
		return Obligation{}, err
	}
	if creditor == in.DebtorOrg {
		return Obligation{}, invalid("debtor_org", "debtor_org is the creditor itself")
	}
	if dg, err := s.governors(ctx, OrgOwner(in.DebtorOrg)); err != nil {
		return Obligation{}, err
	} else if len(dg) == 0 {
		e := unknownOrg(in.DebtorOrg).(*ledger.Error)
		e.Field = "debtor_org"
		return Obligation{}, e
	}
	u, err := s.led.Unit(ctx, acc.Unit)
	if err != nil {
		return Obligation{}, err
	}
	if !in.Amount.Equal(in.Amount.Truncate(u.Scale)) {
		e := newError(ledger.ErrTooManyDecimals.Code, ledger.ReasonTooManyDecimals,
			"amount %s has more decimals than unit %s allows (%d)", in.Amount, u.Code, u.Scale)
		e.Field, e.Unit = "amount", u.Code
		return Obligation{}, e
	}
	o := Obligation{
		ID: in.ID, CreditorOrg: creditor, DebtorOrg: in.DebtorOrg, Unit: acc.Unit, CreditorAccount: acc.ID,
		Amount: in.Amount, Outstanding: in.Amount, Reference: in.Reference, Memo: in.Memo,
		DueDate: time.Date(in.DueDate.Year(), in.DueDate.Month(), in.DueDate.Day(), 0, 0, 0, 0, time.UTC),
		Status:  ObligationPending, RecordedBy: p.MemberID, CreatedAt: now, UpdatedAt: now,
	}
	if o.ID == uuid.Nil {
		o.ID = newID()
	}
	err = s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		_, err := tx.Exec(ctx, `
INSERT INTO obligations (id, creditor_org, debtor_org, unit, creditor_account, amount, outstanding, due_date,
    reference, memo, status, recorded_by, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, 'pending', $10, $11, $11)`,
			o.ID, o.CreditorOrg, o.DebtorOrg, o.Unit, o.CreditorAccount, o.Amount, o.DueDate, o.Reference, o.Memo, o.RecordedBy, now)
		if pgCode(err) == uniqueViolation {
			return idTaken("obligation", o.ID)
		}
		if err != nil {
			return err
		}
		return tellObligation(ctx, tx, now, p, o, "obligation_recorded", o.DebtorOrg, "")
	})
	if err != nil {
		return Obligation{}, err
	}
	return o, nil
}

const obligationColumns = `o.id, o.creditor_org, o.debtor_org, o.unit, o.creditor_account, o.amount, o.outstanding,
    o.due_date, o.reference, o.memo, o.status, o.dispute_reason, o.recorded_by, o.decided_by, o.created_at, o.updated_at`

func scanObligation(r pgx.Row) (Obligation, error) {
	var o Obligation
	err := r.Scan(&o.ID, &o.CreditorOrg, &o.DebtorOrg, &o.Unit, &o.CreditorAccount, &o.Amount, &o.Outstanding,
		&o.DueDate, &o.Reference, &o.Memo, &o.Status, &o.DisputeReason, &o.RecordedBy, &o.DecidedBy, &o.CreatedAt, &o.UpdatedAt)
	o.DueDate = o.DueDate.UTC()
	return o, err
}

func (s *Store) obligation(ctx context.Context, q queryer, id uuid.UUID, lock bool) (Obligation, error) {
	sql := `SELECT ` + obligationColumns + ` FROM obligations o WHERE o.id = $1`
	if lock {
		sql += ` FOR UPDATE`
	}
	rows, err := q.Query(ctx, sql, id)
	if err != nil {
		return Obligation{}, err
	}
	os, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Obligation, error) { return scanObligation(r) })
	if err != nil {
		return Obligation{}, err
	}
	if len(os) == 0 {
		return Obligation{}, unknownObligation(id)
	}
	return os[0], nil
}

// visibleObligation returns an obligation p may see with the governors of
// its creditor and debtor, or ErrUnknownObligation as for one that does not
// exist. Who may see one: the members of either organization, those who
// act for either, the admin (MayReadTrades' rule).
func (s *Store) visibleObligation(ctx context.Context, p Principal, id uuid.UUID) (o Obligation, creditor, debtor []uuid.UUID, err error) {
	if p.MemberID == uuid.Nil {
		return Obligation{}, nil, nil, unauthenticated()
	}
	if o, err = s.obligation(ctx, s.db.Pool, id, false); err != nil {
		return Obligation{}, nil, nil, err
	}
	if creditor, err = s.governors(ctx, OrgOwner(o.CreditorOrg)); err != nil {
		return Obligation{}, nil, nil, err
	}
	if debtor, err = s.governors(ctx, OrgOwner(o.DebtorOrg)); err != nil {
		return Obligation{}, nil, nil, err
	}
	if p.MayReadTrades(o.CreditorOrg, creditor) != nil && p.MayReadTrades(o.DebtorOrg, debtor) != nil {
		return Obligation{}, nil, nil, unknownObligation(id)
	}
	return o, creditor, debtor, nil
}

// Obligation returns an obligation p may see: ErrUnknownObligation for one
// that does not exist or that p may not see (a member or coordinator of
// either party, or the admin, may), ErrUnauthenticated for a zero Principal.
func (s *Store) Obligation(ctx context.Context, p Principal, id uuid.UUID) (Obligation, error) {
	o, _, _, err := s.visibleObligation(ctx, p, id)
	return o, err
}

// Obligations lists the obligations an organization owes or is owed, in id
// order, one page at a time; next is the After of the following page
// (uuid.Nil on the last). It returns ErrUnknownOrg, ErrForbidden when p may
// not see the organization's obligations (MayReadTrades' rule), and
// ledger.ErrInvalidRequest for a bad limit.
func (s *Store) Obligations(ctx context.Context, p Principal, org uuid.UUID, page Page) (os []Obligation, next uuid.UUID, err error) {
	limit, err := page.limit()
	if err != nil {
		return nil, uuid.Nil, err
	}
	if err := s.mayReadDealings(ctx, p, org, "obligations"); err != nil {
		return nil, uuid.Nil, err
	}
	rows, err := s.db.Pool.Query(ctx, `
SELECT `+obligationColumns+` FROM obligations o
WHERE (o.creditor_org = $1 OR o.debtor_org = $1) AND o.id > $2 ORDER BY o.id LIMIT $3`, org, page.After, limit+1)
	if err != nil {
		return nil, uuid.Nil, err
	}
	os, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Obligation, error) { return scanObligation(r) })
	if err != nil {
		return nil, uuid.Nil, err
	}
	if len(os) > limit {
		os = os[:limit]
		next = os[limit-1].ID
	}
	return os, next, nil
}

func notOpen(o Obligation, what string) *ledger.Error {
	return newError(ErrObligationNotOpen.Code, ReasonObligationNotOpen, "obligation %s is %s: it cannot be %s", o.ID, o.Status, what)
}

// mayActForDebtor checks that p acts for the debtor.
func mayActForDebtor(p Principal, o Obligation, debtor []uuid.UUID, what string) error {
	err := p.MayManageOrg(debtor)
	if e, ok := err.(*ledger.Error); ok && e.Code == EFORBIDDEN {
		e.Message = fmt.Sprintf("only a coordinator of organization %s, the debtor, may %s this obligation", o.DebtorOrg, what)
	}
	return err
}

// ConfirmObligation confirms an obligation for its debtor: from then on it
// counts, may be paid and cleared. Confirming a disputed obligation
// withdraws the dispute; confirming a confirmed one returns it unchanged.
// The creditor's coordinators are notified. It returns ErrUnknownObligation
// (also for one p may not see), ErrForbidden when p does not act for the
// debtor, and ErrObligationNotOpen for a settled obligation.
func (s *Store) ConfirmObligation(ctx context.Context, p Principal, id uuid.UUID) (Obligation, error) {
	return s.decideObligation(ctx, p, id, ObligationConfirmed, "")
}

// DisputeObligation disputes a pending obligation for its debtor, saying
// why (up to 1000 characters, required): it then counts for nothing until
// the debtor confirms it. Disputing a disputed one returns it unchanged.
// The creditor's coordinators are notified. Its errors are
// ConfirmObligation's, with ErrObligationNotOpen for one already confirmed
// (the debtor agreed it; only paying or clearing ends it) and
// ledger.ErrInvalidRequest for a missing reason.
func (s *Store) DisputeObligation(ctx context.Context, p Principal, id uuid.UUID, reason string) (Obligation, error) {
	if strings.TrimSpace(reason) == "" || utf8.RuneCountInString(reason) > 1000 || !utf8.ValidString(reason) || strings.ContainsRune(reason, 0) {
		return Obligation{}, invalid("reason", "reason is required: say why, in at most 1000 characters")
	}
	return s.decideObligation(ctx, p, id, ObligationDisputed, reason)
}

func (s *Store) decideObligation(ctx context.Context, p Principal, id uuid.UUID, to ObligationStatus, reason string) (Obligation, error) {
	o, _, debtor, err := s.visibleObligation(ctx, p, id)
	if err != nil {
		return Obligation{}, err
	}
	what := "confirm"
	if to == ObligationDisputed {
		what = "dispute"
	}
	if err := mayActForDebtor(p, o, debtor, what); err != nil {
		return Obligation{}, err
	}
	var out Obligation
	err = s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		o, err := s.obligation(ctx, tx, id, true)
		if err != nil {
			return err
		}
		switch {
		case o.Status == to:
			out = o
			return nil
		case o.Status == ObligationSettled, to == ObligationDisputed && o.Status == ObligationConfirmed:
			return notOpen(o, what+"d")
		}
		now := s.clock()
		if _, err := tx.Exec(ctx, `UPDATE obligations SET status = $2, dispute_reason = $3, decided_by = $4, updated_at = $5 WHERE id = $1`,
			id, to, reason, p.MemberID, now); err != nil {
			return err
		}
		o.Status, o.DisputeReason, o.DecidedBy, o.UpdatedAt = to, reason, &p.MemberID, now
		out = o
		return tellObligation(ctx, tx, now, p, o, "obligation_"+string(to), o.CreditorOrg, reason)
	})
	return out, err
}

// PayObligation pays amount of a confirmed obligation from the debtor's
// account from (in the obligation's unit) to the creditor's account the
// obligation names: in one transaction it locks the obligation, posts one
// ledger transfer (metadata {"obligation": id}), lowers what is outstanding
// (settling it at zero) and records the payment. A payment racing another
// or a clearing run waits for the obligation's lock and then sees what is
// left, so an obligation never goes below zero (the schema's CHECK is the
// second line). The creditor's coordinators are notified.
//
// It returns ErrUnknownObligation (also for one p may not see);
// ledger.ErrInvalidRequest (Field "from_account") for an account that is
// not the debtor's or not in the unit; ErrForbidden or ErrNotVisible when
// p may not move value out of from; ledger.ErrNonPositiveAmount and
// ledger.ErrTooManyDecimals for a bad amount; ErrOverpaysObligation for
// more than is outstanding; ErrObligationNotOpen when it is not confirmed;
// and the ledger's refusals (ledger.ErrInsufficientFunds, ...), with
// nothing changed.
func (s *Store) PayObligation(ctx context.Context, p Principal, id uuid.UUID, from uuid.UUID, amount decimal.Decimal) (ObligationPayment, error) {
	o, _, _, err := s.visibleObligation(ctx, p, id)
	if err != nil {
		return ObligationPayment{}, err
	}
	if from == uuid.Nil {
		return ObligationPayment{}, invalid("from_account", "from_account is required: the debtor's account to pay from")
	}
	if amount.Sign() <= 0 {
		e := newError(ledger.EINVALID, ledger.ReasonNonPositiveAmount, "amount must be positive, not %s", amount)
		e.Field = "amount"
		return ObligationPayment{}, e
	}
	refs, err := s.led.AccountRefs(ctx, []uuid.UUID{from})
	if err != nil {
		return ObligationPayment{}, err
	}
	acc := refs[from]
	if acc.ID == uuid.Nil {
		e := newError(ledger.ErrUnknownAccount.Code, ledger.ReasonUnknownAccount, "unknown account %s", from)
		e.Field, e.Account = "from_account", from
		return ObligationPayment{}, e
	}
	if err := s.mayActForSide(ctx, p, acc, "from_account"); err != nil {
		return ObligationPayment{}, err
	}
	switch {
	case acc.Owner != OrgOwner(o.DebtorOrg):
		return ObligationPayment{}, invalid("from_account", "account %s is not the debtor's (organization %s)", from, o.DebtorOrg)
	case acc.Unit != o.Unit:
		e := newError(ledger.ErrUnitMismatch.Code, ledger.ReasonUnitMismatch, "account %s holds %s; the obligation is in %s", from, acc.Unit, o.Unit)
		e.Field, e.Account, e.Unit = "from_account", from, acc.Unit
		return ObligationPayment{}, e
	case acc.Kind == ledger.KindFund:
		return ObligationPayment{}, invalid("from_account", "account %s is a fund's: money leaves a fund only by its grants", from)
	}
	u, err := s.led.Unit(ctx, o.Unit)
	if err != nil {
		return ObligationPayment{}, err
	}
	if !amount.Equal(amount.Truncate(u.Scale)) {
		e := newError(ledger.ErrTooManyDecimals.Code, ledger.ReasonTooManyDecimals,
			"amount %s has more decimals than unit %s allows (%d)", amount, u.Code, u.Scale)
		e.Field, e.Unit = "amount", u.Code
		return ObligationPayment{}, e
	}
	var out ObligationPayment
	err = s.led.Within(ctx, func(tx *pgtx.Tx, lt *ledger.Tx) error {
		out = ObligationPayment{}
		o, err := s.obligation(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if o.Status != ObligationConfirmed {
			return notOpen(o, "paid")
		}
		if amount.GreaterThan(o.Outstanding) {
			e := newError(ErrOverpaysObligation.Code, ReasonOverpaysObligation,
				"amount %s is more than the %s %s outstanding on obligation %s", amount, o.Outstanding, o.Unit, o.ID)
			e.Field = "amount"
			return e
		}
		meta, err := json.Marshal(map[string]string{"obligation": o.ID.String()})
		if err != nil {
			return err
		}
		memo := truncateRunes("payment of "+o.Reference, 200)
		tr, err := lt.CreateTransfer(ctx, ledger.TransferRequest{
			Postings: []ledger.Posting{{From: from, To: o.CreditorAccount, Amount: amount, Unit: o.Unit}},
			Memo:     memo, Metadata: meta,
		})
		if err != nil {
			var e *ledger.Error
			if errors.As(err, &e) && strings.HasPrefix(e.Field, "postings[0]") {
				e.Field = "from_account"
			}
			return err
		}
		now := s.clock()
		o.Outstanding = o.Outstanding.Sub(amount)
		if o.Outstanding.IsZero() {
			o.Status = ObligationSettled
		}
		o.UpdatedAt = now
		if _, err := tx.Exec(ctx, `UPDATE obligations SET outstanding = outstanding - $2::NUMERIC,
    status = CASE WHEN outstanding - $2::NUMERIC = 0 THEN 'settled' ELSE status END, updated_at = $3 WHERE id = $1`,
			o.ID, amount, now); err != nil {
			return err
		}
		// The transfer's row is written with COMMIT: the record that
		// references it follows it.
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO obligation_settlements (id, obligation_id, kind, amount, transfer_id, created_at)
VALUES ($1, $2, 'payment', $3, $4, $5)`, newID(), o.ID, amount, tr.ID, now)
		tx.Defer(b, func(br pgx.BatchResults) error { _, err := br.Exec(); return err })
		out = ObligationPayment{Obligation: o, TransferID: tr.ID, Amount: amount}
		return tellObligation(ctx, tx, now, p, o, "obligation_paid", o.CreditorOrg, places(amount))
	})
	return out, err
}

// obligationNews says what each obligation notification tells.
var obligationNews = map[string]string{
	"obligation_recorded":  "%[1]s records that %[2]s owes it %[3]s %[4]s (invoice %[5]s, due %[6]s): confirm or dispute it",
	"obligation_confirmed": "%[2]s confirmed it owes %[1]s %[3]s %[4]s (invoice %[5]s)",
	"obligation_disputed":  "%[2]s disputes owing %[1]s %[3]s %[4]s (invoice %[5]s): %[7]s",
	"obligation_paid":      "%[2]s paid %[7]s of invoice %[5]s to %[1]s",
}

// tellObligation notifies the coordinators acting for org (less p) of an
// obligation's step; extra is the dispute's reason or the amount paid.
func tellObligation(ctx context.Context, tx *pgtx.Tx, now time.Time, p Principal, o Obligation, kind string, org uuid.UUID, extra string) error {
	// The step is recorded with its notification, which each step sends
	// once, by the organization that is not told.
	acted := o.CreditorOrg
	if org == o.CreditorOrg {
		acted = o.DebtorOrg
	}
	record(tx, p, now, auditEvent{kind: strings.Replace(kind, "_", ".", 1), subject: o.ID, org: acted,
		details: map[string]any{"status": o.Status, "outstanding": o.Outstanding.String(), "unit": o.Unit}})
	to, err := nearestCoordinators(ctx, tx, org, p.MemberID)
	if err != nil {
		return err
	}
	var creditor, debtor string
	if err := tx.QueryRow(ctx, `SELECT (SELECT name FROM orgs WHERE id = $1), (SELECT name FROM orgs WHERE id = $2)`,
		o.CreditorOrg, o.DebtorOrg).Scan(&creditor, &debtor); err != nil {
		return err
	}
	ps := map[string]string{"Creditor": creditor, "Debtor": debtor, "Amount": places(o.Amount), "Unit": o.Unit,
		"Invoice": truncateRunes(o.Reference, 200), "Due": o.DueDate.Format(time.DateOnly)}
	extra = truncateRunes(extra, 500)
	switch kind {
	case "obligation_paid":
		ps["Paid"] = extra
		extra += " " + o.Unit
	case "obligation_disputed":
		ps["Reason"] = extra
	}
	msg := fmt.Sprintf(obligationNews[kind], creditor, debtor, o.Amount, o.Unit, ps["Invoice"], ps["Due"], extra)
	return notify(ctx, tx, now, notice{Kind: kind, Obligation: &o.ID, Message: msg, Params: ps}, to...)
}
