package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/ledger"
)

// Time banks. An organization that counts hours between its members has
// rules its coordinators set: the unit (HOUR: one hour of anyone's time is
// one hour), how far a new member may go into credit, the most a member may
// hold, and a community pool account. Members donate hours to the pool;
// coordinators grant hours from it to people who cannot give back. The
// limits become the bounds of each account opened from then on: on
// admission (AddMembership, AdmitNewMember) and when a coordinator opens a
// member's account without bounds.

// DefaultTimebankUnit is the unit of a time bank whose rules name none.
const DefaultTimebankUnit = "HOUR"

// The reasons of time-bank errors.
const ReasonNoTimebank ledger.Reason = "no_timebank"

// ErrNoTimebank is returned when the organization has no time-bank rules
// yet.
var ErrNoTimebank = &ledger.Error{Code: ledger.ENOTFOUND, Reason: ReasonNoTimebank}

// TimebankRules are an organization's time-bank rules as stored.
type TimebankRules struct {
	OrgID uuid.UUID
	// Unit is what the time bank counts; it never changes once set.
	Unit string
	// CreditLimit is how far below zero a new member's account may go: its
	// lower bound is -CreditLimit.
	CreditLimit decimal.Decimal
	// Cap, if set, is the most a new member's balance may reach: its upper
	// bound.
	Cap *decimal.Decimal
	// PoolAccount is the community pool (kind pool, owned by the
	// organization, never below zero).
	PoolAccount uuid.UUID
	UpdatedBy   uuid.UUID // the member who last set the rules; uuid.Nil if none is recorded
	UpdatedAt   time.Time
}

// TimebankSettings is what a coordinator sets.
type TimebankSettings struct {
	// Unit must exist. "" means the time bank's unit, or
	// DefaultTimebankUnit when the rules are first set.
	Unit        string
	CreditLimit decimal.Decimal  // zero or positive
	Cap         *decimal.Decimal // nil for none; positive when set
}

// SetTimebankRules sets an organization's time-bank rules on behalf of p,
// for those who act for it (see Principal.MayTimebank). The first call opens the organization's community pool account
// in the same transaction (created is then true); later calls change the
// credit limit and cap. The limits apply to accounts opened from then on:
// accounts already open keep their bounds. Concurrent first calls open one
// pool.
//
// It returns ledger.ErrInvalidRequest (Field set) for a negative credit
// limit, a cap not above zero, or a unit other than the one the time bank
// already counts; ledger.ErrTooManyDecimals for a limit finer than the
// unit's scale; ledger.ErrUnknownUnit (Field "unit") when the unit does not
// exist, which an admin must create first; and ErrUnknownOrg. Before
// anything else it decides whether p may: ErrForbidden when p may see the
// time bank but does not act for the organization, ErrNoTimebank when p may
// not see it, ErrUnauthenticated for a zero Principal.
func (s *Store) SetTimebankRules(ctx context.Context, p Principal, orgID uuid.UUID, in TimebankSettings) (rules TimebankRules, created bool, err error) {
	if err := s.mayTimebank(ctx, p, orgID, TimebankSetRules, "only those who act for the organization set its time-bank rules"); err != nil {
		return TimebankRules{}, false, err
	}
	by := p.MemberID
	if in.CreditLimit.Sign() < 0 {
		return TimebankRules{}, false, invalid("credit_limit", "credit_limit must be zero or positive, not %s: members may go down to minus the credit limit", in.CreditLimit)
	}
	if in.Cap != nil && in.Cap.Sign() <= 0 {
		return TimebankRules{}, false, invalid("cap", "cap must be above zero, not %s; leave it out for no cap", in.Cap)
	}
	now := s.clock()
	err = s.led.Within(ctx, func(tx *pgtx.Tx, lt *ledger.Tx) error {
		rules, created = TimebankRules{}, false
		// The organization's row serializes the first calls, so that only
		// one opens a pool. NO KEY UPDATE lets admissions (whose foreign
		// keys share-lock the row) go on meanwhile.
		var orgName string
		err := tx.QueryRow(ctx, `SELECT name FROM orgs WHERE id = $1 FOR NO KEY UPDATE`, orgID).Scan(&orgName)
		if errors.Is(err, pgx.ErrNoRows) {
			return unknownOrg(orgID)
		}
		if err != nil {
			return err
		}
		old, found, err := timebankRules(ctx, tx, orgID)
		if err != nil {
			return err
		}
		unit, err := timebankUnit(ctx, lt, in.Unit, old, found)
		if err != nil {
			return err
		}
		if err := checkHours(unit, "credit_limit", in.CreditLimit); err != nil {
			return err
		}
		if in.Cap != nil {
			if err := checkHours(unit, "cap", *in.Cap); err != nil {
				return err
			}
		}
		rules = TimebankRules{OrgID: orgID, Unit: unit.Code, CreditLimit: in.CreditLimit, Cap: in.Cap,
			PoolAccount: old.PoolAccount, UpdatedBy: by, UpdatedAt: now}
		if found {
			_, err = tx.Exec(ctx, `UPDATE timebank_rules SET credit_limit = $2, cap = $3, updated_by = $4, updated_at = $5 WHERE org_id = $1`,
				orgID, in.CreditLimit, nullableHours(in.Cap), nullableMember(by), now)
			record(tx, p, now, rules.event("timebank.rules_changed"))
			return err
		}
		zero := decimal.Zero
		region, err := accountRegion(ctx, tx, OrgOwner(orgID), uuid.Nil)
		if err != nil {
			return err
		}
		pool, err := lt.CreateAccount(ctx, ledger.NewAccount{
			Unit: unit.Code, Owner: OrgOwner(orgID), Kind: ledger.KindPool,
			Name: timebankAccountName(orgName, " community pool"), LowerBound: &zero, Region: region,
		})
		if err != nil {
			return err
		}
		rules.PoolAccount, created = pool.ID, true
		_, err = tx.Exec(ctx, `
INSERT INTO timebank_rules (org_id, unit, credit_limit, cap, pool_account, updated_by, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			orgID, unit.Code, in.CreditLimit, nullableHours(in.Cap), pool.ID, nullableMember(by), now)
		record(tx, p, now, rules.event("timebank.rules_set"))
		return err
	})
	if err != nil {
		return TimebankRules{}, false, err
	}
	return rules, created, nil
}

// event is the audit event of setting the rules.
func (r TimebankRules) event(kind string) auditEvent {
	d := map[string]any{"unit": r.Unit, "credit_limit": r.CreditLimit.String(), "pool_account": r.PoolAccount}
	if r.Cap != nil {
		d["cap"] = r.Cap.String()
	}
	return auditEvent{kind: kind, subject: r.OrgID, org: r.OrgID, details: d}
}

// timebankUnit returns the unit rules set to code will count: the unit the
// time bank counts already (no other may be asked for), or code, or
// DefaultTimebankUnit. It reads through the transaction of lt.
func timebankUnit(ctx context.Context, lt *ledger.Tx, code string, old TimebankRules, found bool) (ledger.Unit, error) {
	switch {
	case found && code != "" && code != old.Unit:
		return ledger.Unit{}, invalid("unit", "this time bank counts %s, and its pool holds it: the unit cannot change once set", old.Unit)
	case found:
		code = old.Unit
	case code == "":
		code = DefaultTimebankUnit
	}
	u, err := lt.Unit(ctx, code)
	if errors.Is(err, ledger.ErrUnknownUnit) {
		e := newError(ledger.ENOTFOUND, ledger.ReasonUnknownUnit,
			"unit %q does not exist; an admin creates it first (POST /v1/units), then the time-bank rules can use it", code)
		e.Field, e.Unit = "unit", code
		return ledger.Unit{}, e
	}
	return u, err
}

// checkHours checks that a limit fits the unit: no more decimals than its
// scale (never rounded), and within the ledger's range.
func checkHours(u ledger.Unit, field string, d decimal.Decimal) error {
	if err := u.CheckFits(d, field); err != nil {
		return err
	}
	if d.Abs().GreaterThan(maxHours) {
		return invalid(field, "%s %s is out of range", field, d)
	}
	return nil
}

// maxHours keeps limits within what the ledger accepts as a bound.
var maxHours = decimal.New(1, 30)

// TimebankRules returns an organization's time-bank rules to its members
// and those who act for it: ErrUnknownOrg when there is no such
// organization, ErrNoTimebank when it has no rules or p may not see them,
// ErrUnauthenticated for a zero Principal.
func (s *Store) TimebankRules(ctx context.Context, p Principal, orgID uuid.UUID) (TimebankRules, error) {
	if err := s.mayTimebank(ctx, p, orgID, TimebankRead, ""); err != nil {
		return TimebankRules{}, err
	}
	return s.timebankRulesOf(ctx, orgID)
}

// timebankRulesOf returns an organization's time-bank rules, for anyone:
// ErrUnknownOrg, ErrNoTimebank.
func (s *Store) timebankRulesOf(ctx context.Context, orgID uuid.UUID) (TimebankRules, error) {
	var rules TimebankRules
	err := s.db.Run(ctx, pgtx.Options{ReadOnly: true}, func(tx *pgtx.Tx) error {
		var exists, found bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM orgs WHERE id = $1)`, orgID).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return unknownOrg(orgID)
		}
		var err error
		if rules, found, err = timebankRules(ctx, tx, orgID); err != nil {
			return err
		}
		if !found {
			return noTimebank(orgID)
		}
		return nil
	})
	if err != nil {
		return TimebankRules{}, err
	}
	return rules, nil
}

func timebankRules(ctx context.Context, tx *pgtx.Tx, orgID uuid.UUID) (TimebankRules, bool, error) {
	r := TimebankRules{OrgID: orgID}
	var limitCap decimal.NullDecimal
	var by *uuid.UUID
	err := tx.QueryRow(ctx, `
SELECT unit, credit_limit, cap, pool_account, updated_by, updated_at FROM timebank_rules WHERE org_id = $1`, orgID).
		Scan(&r.Unit, &r.CreditLimit, &limitCap, &r.PoolAccount, &by, &r.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return TimebankRules{}, false, nil
	}
	if err != nil {
		return TimebankRules{}, false, err
	}
	if limitCap.Valid {
		r.Cap = &limitCap.Decimal
	}
	if by != nil {
		r.UpdatedBy = *by
	}
	return r, true, nil
}

// Bounds are the bounds of a member's account opened under the rules:
// -CreditLimit, and Cap (nil for none).
func (r TimebankRules) Bounds() (lower, upper *decimal.Decimal) {
	l := r.CreditLimit.Neg()
	var u *decimal.Decimal
	if r.Cap != nil {
		c := *r.Cap
		u = &c
	}
	return &l, u
}

// openAdmissionAccount opens, in tx, the account of a member just admitted
// to an organization with time-bank rules: in the rules' unit, named after
// the organization, with the rules' bounds. It returns uuid.Nil when the
// organization has no rules.
func openAdmissionAccount(ctx context.Context, tx *pgtx.Tx, lt *ledger.Tx, orgID uuid.UUID, orgName string, memberID uuid.UUID) (uuid.UUID, error) {
	rules, found, err := timebankRules(ctx, tx, orgID)
	if err != nil || !found {
		return uuid.Nil, err
	}
	lower, upper := rules.Bounds()
	region, err := accountRegion(ctx, tx, MemberOwner(memberID), orgID)
	if err != nil {
		return uuid.Nil, err
	}
	acc, err := lt.CreateAccount(ctx, ledger.NewAccount{
		Unit: rules.Unit, Owner: MemberOwner(memberID), Kind: ledger.KindMember,
		Name: timebankAccountName(orgName, ""), LowerBound: lower, UpperBound: upper, Region: region,
	})
	if err != nil {
		return uuid.Nil, err
	}
	return acc.ID, recordMemberAccount(ctx, tx, acc.ID, memberID, orgID)
}

// TimebankMove is a donation to a time bank's pool, or a grant from it.
type TimebankMove struct {
	OrgID uuid.UUID
	// MemberID is the donor, or the grant's recipient.
	MemberID uuid.UUID
	// Account is the member's account to give from or receive into. It may
	// be uuid.Nil when the member has exactly one open member account in the
	// time bank's unit.
	Account uuid.UUID
	Amount  decimal.Decimal
	Memo    string
	// IdempotencyKey, if set, is the ledger transfer's: a retry with the same
	// key and content returns the first transfer.
	IdempotencyKey string
}

// The kinds of time-bank transfer, as their metadata names them.
const (
	donationKind = "donation"
	grantKind    = "grant"
)

// DonateHours moves hours from p's account to the time bank's pool, as one
// ledger transfer with metadata {"timebank": org, "kind": "donation"}.
//
// It returns ErrNoTimebank; ErrNotAMember when the donor does not belong to
// the organization; ErrNoAccount (Field "account_id") when the member has
// no open account in the unit, or several and did not say which, or named
// one in another unit or not open; ledger.ErrUnknownAccount (Field
// "account_id") for a named account that is not theirs (see payingAccount); ledger.ErrNonPositiveAmount and
// ledger.ErrTooManyDecimals (Field "amount"); and the ledger's refusals,
// ledger.ErrInsufficientFunds (with what is available) among them. The
// donor is p, whatever m.MemberID says; only members of the organization
// donate: ErrForbidden for those who may see the time bank but do not
// belong, ErrNoTimebank for those who may not see it, ErrUnauthenticated
// for a zero Principal.
func (s *Store) DonateHours(ctx context.Context, p Principal, m TimebankMove) (ledger.Transfer, error) {
	if err := s.mayTimebank(ctx, p, m.OrgID, TimebankDonate, "only members of the organization donate to its pool"); err != nil {
		return ledger.Transfer{}, err
	}
	m.MemberID = p.MemberID
	return s.moveHours(ctx, p, m, donationKind)
}

// GrantHours moves hours from the time bank's pool to a member's account, as one
// ledger transfer with metadata {"timebank": org, "kind": "grant"}. The pool
// never goes below zero: asking for more than it holds is
// ledger.ErrInsufficientFunds, with what it has available. It returns the
// errors DonateHours does, ErrNotAMember (Field "member_id") naming the
// recipient, and ledger.ErrLimitExceeded when the recipient's account would
// pass its cap. Only those who act for the organization grant:
// ErrForbidden for its other members, ErrNoTimebank for those who may not
// see it, ErrUnauthenticated for a zero Principal.
func (s *Store) GrantHours(ctx context.Context, p Principal, m TimebankMove) (ledger.Transfer, error) {
	if err := s.mayTimebank(ctx, p, m.OrgID, TimebankGrant, "only those who act for the organization grant hours from its pool"); err != nil {
		return ledger.Transfer{}, err
	}
	return s.moveHours(ctx, p, m, grantKind)
}

func (s *Store) moveHours(ctx context.Context, p Principal, m TimebankMove, kind string) (ledger.Transfer, error) {
	rules, err := s.timebankRulesOf(ctx, m.OrgID)
	if err != nil {
		return ledger.Transfer{}, err
	}
	unit, err := s.led.Unit(ctx, rules.Unit)
	if err != nil {
		return ledger.Transfer{}, err
	}
	if err := checkMoveAmount(unit, m.Amount); err != nil {
		return ledger.Transfer{}, err
	}
	if err := s.checkBelongs(ctx, m.OrgID, m.MemberID, kind); err != nil {
		return ledger.Transfer{}, err
	}
	var named *uuid.UUID
	if m.Account != uuid.Nil {
		named = &m.Account
	}
	acc, err := payingAccount(ctx, s.db.Pool, m.MemberID, rules.Unit, named)
	if err != nil {
		return ledger.Transfer{}, err
	}
	from, to := acc, rules.PoolAccount
	if kind == grantKind {
		from, to = to, from
	}
	meta, err := json.Marshal(map[string]string{"timebank": m.OrgID.String(), "kind": kind})
	if err != nil {
		return ledger.Transfer{}, err
	}
	return s.led.CreateTransferThen(ctx, ledger.TransferRequest{
		IdempotencyKey: m.IdempotencyKey,
		Postings:       []ledger.Posting{{From: from, To: to, Amount: m.Amount, Unit: rules.Unit}},
		Memo:           m.Memo,
		Metadata:       meta,
	}, s.thenRecord(p, func(t ledger.Transfer) auditEvent {
		return auditEvent{kind: "timebank." + kind, subject: t.ID, org: m.OrgID, member: m.MemberID,
			details: map[string]any{"amount": m.Amount.String(), "unit": rules.Unit}}
	}))
}

// checkMoveAmount checks an amount of hours to move: positive, and no finer
// than the unit's scale.
func checkMoveAmount(u ledger.Unit, d decimal.Decimal) error {
	if err := u.CheckAmount(d, "amount"); err != nil {
		return err
	}
	return checkHours(u, "amount", d)
}

// checkBelongs checks that the donor or recipient belongs to the
// organization.
func (s *Store) checkBelongs(ctx context.Context, orgID, memberID uuid.UUID, kind string) error {
	var belongs bool
	err := s.db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM memberships WHERE org_id = $1 AND member_id = $2)`, orgID, memberID).Scan(&belongs)
	if err != nil || belongs {
		return err
	}
	e := newError(ErrNotAMember.Code, ReasonNotAMember, "member %s does not belong to organization %s", memberID, orgID)
	if kind == grantKind {
		e.Field = "member_id"
		e.Message += "; hours are granted only to its members"
	} else {
		e.Message += "; only its members donate to its pool"
	}
	return e
}

func noTimebank(orgID uuid.UUID) error {
	return newError(ErrNoTimebank.Code, ReasonNoTimebank,
		"organization %s has no time-bank rules; a coordinator sets them with PUT /v1/orgs/%s/timebank", orgID, orgID)
}

// TimebankAction is what a principal asks to do with a time bank.
type TimebankAction string

// The time-bank actions.
const (
	TimebankRead     TimebankAction = "read"      // see the rules and the pool
	TimebankSetRules TimebankAction = "set_rules" // set the rules
	TimebankDonate   TimebankAction = "donate"    // give hours to the pool
	TimebankGrant    TimebankAction = "grant"     // grant hours from the pool
)

// MayTimebank decides whether p may act on the time bank of organization
// orgID, given the organization and its ancestors. Its members and its
// governors (coordinators of it or of an organization above it, and the
// admin) see it; anyone else gets ErrNotVisible. Members donate; governors
// set the rules and grant. A principal who may see the time bank but not act
// gets ErrForbidden.
func (p Principal) MayTimebank(action TimebankAction, orgID uuid.UUID, orgAndAncestors []uuid.UUID) error {
	if p.MemberID == uuid.Nil {
		return unauthenticated()
	}
	_, member := p.Roles[orgID]
	governor := p.Admin || p.governs(orgAndAncestors)
	if !member && !governor {
		return notVisible()
	}
	switch action {
	case TimebankRead:
		return nil
	case TimebankDonate:
		if member {
			return nil
		}
	case TimebankSetRules, TimebankGrant:
		if governor {
			return nil
		}
	}
	return forbidden()
}

// CanTimebank reports whether p may act on an organization's time bank, as
// Principal.MayTimebank decides: nil, ErrForbidden or ErrNotVisible;
// ErrUnknownOrg when the organization does not exist (organizations are
// public); ErrUnauthenticated for a zero Principal; or a database error.
func (s *Store) CanTimebank(ctx context.Context, p Principal, orgID uuid.UUID, action TimebankAction) error {
	gov, err := s.governors(ctx, OrgOwner(orgID))
	if err != nil {
		return err
	}
	if len(gov) == 0 {
		return unknownOrg(orgID)
	}
	return p.MayTimebank(action, orgID, gov)
}

// mayTimebank decides, as CanTimebank, whether p may act on an
// organization's time bank, and says so as the callers answer: what p may
// not see is a time bank that does not exist (ErrNoTimebank), what p may see
// but not do is ErrForbidden saying what (or the plain ErrForbidden when
// what is "").
func (s *Store) mayTimebank(ctx context.Context, p Principal, orgID uuid.UUID, action TimebankAction, what string) error {
	err := s.CanTimebank(ctx, p, orgID, action)
	switch {
	case err == nil, errors.Is(err, ErrUnknownOrg), errors.Is(err, ErrUnauthenticated):
		return err
	case isForbidden(err) && what == "":
		return err
	case isForbidden(err):
		return forbiddenBecause(what)
	case hidden(err):
		return newError(ErrNoTimebank.Code, ReasonNoTimebank,
			"organization %s has no time bank you can see; a coordinator sets its rules with PUT /v1/orgs/%s/timebank", orgID, orgID)
	}
	return err
}

// timebankAccountName is an account name made of an organization's name and a
// suffix, cut (at a character boundary) to the ledger's 200 bytes.
func timebankAccountName(orgName, suffix string) string {
	const max = 200
	name := orgName
	for len(name)+len(suffix) > max {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	return name + suffix
}

func nullableHours(d *decimal.Decimal) decimal.NullDecimal {
	if d == nil {
		return decimal.NullDecimal{}
	}
	return decimal.NullDecimal{Decimal: *d, Valid: true}
}

func nullableMember(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}
