package ledger

import (
	"context"
	"errors"
	"time"

	"github.com/mutual-ledger/mutual/internal/pgtx"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// AccountKind says what an account stands for.
type AccountKind string

// The account kinds.
const (
	KindMember       AccountKind = "member"
	KindOrganization AccountKind = "organization"
	KindPool         AccountKind = "pool"
	KindFund         AccountKind = "fund"
	// KindExternal stands for the world outside the ledger (money arriving
	// from a bank); it has no lower bound.
	KindExternal AccountKind = "external"
)

func (k AccountKind) valid() bool {
	switch k {
	case KindMember, KindOrganization, KindPool, KindFund, KindExternal:
		return true
	}
	return false
}

// AccountStatus says whether an account can move value.
type AccountStatus string

// The account statuses. A frozen account neither gives nor receives until it
// is opened again; a closed account never does again.
const (
	StatusOpen   AccountStatus = "open"
	StatusFrozen AccountStatus = "frozen"
	StatusClosed AccountStatus = "closed"
)

// Account holds one unit for one owner, between its bounds.
type Account struct {
	ID     uuid.UUID
	Unit   string
	Owner  string // opaque to the ledger: the exchange names members and organizations here
	Kind   AccountKind
	Name   string
	Status AccountStatus
	// Region is the home region of the account's owner ("" for none), given
	// when the account is opened; its entries, and the transfers and holds
	// that take value from it, carry it too (see NewAccount.Region).
	Region string
	// LowerBound is the least the available balance may be: 0 for a fund, a
	// negative credit limit such as -20 for mutual credit. nil only for
	// external accounts, which are unbounded below.
	LowerBound *decimal.Decimal
	// UpperBound, if set, is the most the balance plus pending credits may be.
	UpperBound *decimal.Decimal
	Balances
	CreatedAt time.Time
}

// Balances are an account's balances as a user sees them: holds past their
// expiry are not counted, whether or not the sweeper has released them yet.
type Balances struct {
	Posted         decimal.Decimal // the sum of the account's entries
	PendingDebits  decimal.Decimal // reserved by open holds on the debit side
	PendingCredits decimal.Decimal // promised by open holds on the credit side
	Available      decimal.Decimal // Posted - PendingDebits
}

// NewAccount is a request to open an account.
type NewAccount struct {
	ID    uuid.UUID // optional; a new one is made when zero
	Unit  string
	Owner string
	Kind  AccountKind
	Name  string
	// Region is the home region of the owner, which the exchange gives from
	// the owning organization: never a client's choice. The ledger copies it
	// to every row it writes for the account (entries, reservations, and the
	// transfers whose first posting takes value from it), so that on a
	// multi-region cluster those rows live in the owner's region. "" means
	// none (the cluster's primary region).
	Region string
	// LowerBound defaults to 0 (no credit) for every kind but external, which
	// must leave it nil. It may not be above 0.
	LowerBound *decimal.Decimal
	// UpperBound is optional; it may not be below 0.
	UpperBound *decimal.Decimal
}

// CreateAccount opens an account with a zero balance. It returns
// ErrInvalidRequest for a bad kind, owner, name or bounds, ErrUnknownUnit, or
// ErrTooManyDecimals for a bound finer than the unit's scale.
func (s *Store) CreateAccount(ctx context.Context, in NewAccount) (Account, error) {
	a, err := s.newAccount(ctx, s.db.Pool, in)
	if err != nil {
		return Account{}, err
	}
	if err := s.run(ctx, func(tx *pgtx.Tx) error { return insertAccount(ctx, tx, a) }); err != nil {
		return Account{}, err
	}
	return a, nil
}

// CreateAccount opens an account, as Store.CreateAccount does, in the
// caller's transaction. It is not a change of balances: a Tx may open
// accounts and then make its one change, which may move value into them.
func (lt *Tx) CreateAccount(ctx context.Context, in NewAccount) (Account, error) {
	a, err := lt.s.newAccount(ctx, lt.tx, in)
	if err != nil {
		return Account{}, err
	}
	if err := insertAccount(ctx, lt.tx, a); err != nil {
		return Account{}, err
	}
	return a, nil
}

// newAccount checks a request to open an account and returns the account.
func (s *Store) newAccount(ctx context.Context, q rowQuerier, in NewAccount) (Account, error) {
	if !in.Kind.valid() {
		return Account{}, invalid("kind", "account kind must be member, organization, pool, fund or external, not %q", in.Kind)
	}
	if len(in.Owner) > 200 {
		return Account{}, invalid("owner", "owner is longer than 200 characters")
	}
	if len(in.Name) > 200 {
		return Account{}, invalid("name", "name is longer than 200 characters")
	}
	if len(in.Region) > 64 {
		return Account{}, invalid("region", "region is longer than 64 characters")
	}
	u, err := s.unit(ctx, q, in.Unit)
	if err != nil {
		return Account{}, err
	}
	if in.Kind == KindExternal {
		if in.LowerBound != nil {
			return Account{}, invalid("lower_bound", "an external account has no lower bound")
		}
	} else if in.LowerBound == nil {
		zero := decimal.Zero
		in.LowerBound = &zero
	}
	if err := checkBounds(u, in.LowerBound, in.UpperBound); err != nil {
		return Account{}, err
	}
	if in.ID == uuid.Nil {
		in.ID = newID()
	}
	return Account{
		ID: in.ID, Unit: u.Code, Owner: in.Owner, Kind: in.Kind, Name: in.Name, Status: StatusOpen, Region: in.Region,
		LowerBound: in.LowerBound, UpperBound: in.UpperBound, CreatedAt: s.clock(),
	}, nil
}

func insertAccount(ctx context.Context, tx *pgtx.Tx, a Account) error {
	_, err := tx.Exec(ctx, `
INSERT INTO accounts (id, unit, owner, kind, name, status, lower_bound, upper_bound, created_at, region)
VALUES ($1, $2, $3, $4, $5, 'open', $6, $7, $8, $9)`,
		a.ID, a.Unit, a.Owner, a.Kind, a.Name, nullDecimal(a.LowerBound), nullDecimal(a.UpperBound), a.CreatedAt, a.Region)
	if isUniqueViolation(err) {
		e := newError(ECONFLICT, ReasonInvalidRequest, "account %s already exists", a.ID)
		e.Account = a.ID
		return e
	}
	return err
}

// checkBounds checks bounds against the unit's scale and against a zero
// balance: a new account must start inside its bounds.
func checkBounds(u Unit, lower, upper *decimal.Decimal) *Error {
	if lower != nil {
		if lower.Sign() > 0 {
			return invalid("lower_bound", "lower bound %s is above zero", lower)
		}
		if !lower.IsZero() {
			if e := checkAmount(u, lower.Neg(), "lower_bound"); e != nil {
				return e
			}
		}
	}
	if upper != nil {
		if upper.Sign() < 0 {
			return invalid("upper_bound", "upper bound %s is below zero", upper)
		}
		if !upper.IsZero() {
			if e := checkAmount(u, *upper, "upper_bound"); e != nil {
				return e
			}
		}
	}
	return nil
}

const selectAccount = `
SELECT a.id, a.unit, a.owner, a.kind, a.name, a.status, a.lower_bound, a.upper_bound,
       a.balance, a.pending_debits, a.pending_credits, a.created_at,
       COALESCE(x.debit, 0), COALESCE(x.credit, 0), a.region
FROM accounts a
LEFT JOIN (
    SELECT account_id, sum(debit) AS debit, sum(credit) AS credit
    FROM reservations
    WHERE account_id = ANY($1) AND expires_at <= $2
    GROUP BY account_id
) x ON x.account_id = a.id
WHERE a.id = ANY($1)`

// Account returns an account with its balances, or ErrUnknownAccount.
func (s *Store) Account(ctx context.Context, id uuid.UUID) (Account, error) {
	as, err := s.accounts(ctx, []uuid.UUID{id})
	if err != nil {
		return Account{}, err
	}
	if len(as) == 0 {
		return Account{}, unknownAccount(id)
	}
	return as[0], nil
}

func (s *Store) accounts(ctx context.Context, ids []uuid.UUID) ([]Account, error) {
	rows, err := s.db.Pool.Query(ctx, selectAccount, ids, s.clock())
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Account, error) {
		var a Account
		var lower, upper decimal.NullDecimal
		var expiredDebit, expiredCredit decimal.Decimal
		err := r.Scan(&a.ID, &a.Unit, &a.Owner, &a.Kind, &a.Name, &a.Status, &lower, &upper,
			&a.Posted, &a.PendingDebits, &a.PendingCredits, &a.CreatedAt, &expiredDebit, &expiredCredit, &a.Region)
		a.LowerBound, a.UpperBound = ptrDecimal(lower), ptrDecimal(upper)
		// Holds past their expiry no longer reserve anything, even before the
		// sweeper has released them.
		a.PendingDebits = a.PendingDebits.Sub(expiredDebit)
		a.PendingCredits = a.PendingCredits.Sub(expiredCredit)
		a.Available = a.Posted.Sub(a.PendingDebits)
		return a, err
	})
}

// SetBounds changes an account's bounds (a coordinator raising a member's
// credit limit, say). nil clears the upper bound; the lower bound may only be
// nil for an external account. It returns ErrBoundsViolated, with the
// account's current available balance, when the account is already outside
// the new bounds.
func (s *Store) SetBounds(ctx context.Context, id uuid.UUID, lower, upper *decimal.Decimal) (Account, error) {
	err := s.run(ctx, func(tx *pgtx.Tx) error {
		var unit string
		var kind AccountKind
		var bal, pd, pc decimal.Decimal
		err := tx.QueryRow(ctx, `SELECT unit, kind, balance, pending_debits, pending_credits FROM accounts WHERE id = $1 FOR UPDATE`, id).
			Scan(&unit, &kind, &bal, &pd, &pc)
		if errors.Is(err, pgx.ErrNoRows) {
			return unknownAccount(id)
		}
		if err != nil {
			return err
		}
		u, err := s.unit(ctx, tx, unit)
		if err != nil {
			return err
		}
		if kind == KindExternal && lower != nil {
			return invalid("lower_bound", "an external account has no lower bound")
		}
		if kind != KindExternal && lower == nil {
			return invalid("lower_bound", "only an external account may be unbounded below")
		}
		if e := checkBounds(u, lower, upper); e != nil {
			return e
		}
		if lower != nil && bal.Sub(pd).LessThan(*lower) {
			e := newError(EREFUSED, ReasonBoundsViolated, "account %s has %s available, below the new lower bound %s", id, bal.Sub(pd), lower)
			e.Account, e.Unit = id, unit
			return e
		}
		if upper != nil && bal.Add(pc).GreaterThan(*upper) {
			e := newError(EREFUSED, ReasonBoundsViolated, "account %s holds %s with pending credits, above the new upper bound %s", id, bal.Add(pc), upper)
			e.Account, e.Unit = id, unit
			return e
		}
		_, err = tx.Exec(ctx, `UPDATE accounts SET lower_bound = $2, upper_bound = $3 WHERE id = $1`, id, nullDecimal(lower), nullDecimal(upper))
		return err
	})
	if err != nil {
		return Account{}, err
	}
	return s.Account(ctx, id)
}

// SetStatus opens, freezes or closes an account. Closing is final and needs a
// zero balance and no open holds (ErrAccountNotEmpty); a closed account
// cannot be reopened (ErrAccountClosed).
func (s *Store) SetStatus(ctx context.Context, id uuid.UUID, status AccountStatus) (Account, error) {
	switch status {
	case StatusOpen, StatusFrozen, StatusClosed:
	default:
		return Account{}, invalid("status", "status must be open, frozen or closed, not %q", status)
	}
	err := s.run(ctx, func(tx *pgtx.Tx) error {
		var cur AccountStatus
		var bal, pd, pc decimal.Decimal
		err := tx.QueryRow(ctx, `SELECT status, balance, pending_debits, pending_credits FROM accounts WHERE id = $1 FOR UPDATE`, id).
			Scan(&cur, &bal, &pd, &pc)
		if errors.Is(err, pgx.ErrNoRows) {
			return unknownAccount(id)
		}
		if err != nil {
			return err
		}
		if cur == StatusClosed && status != StatusClosed {
			e := newError(EREFUSED, ReasonAccountClosed, "account %s is closed for good", id)
			e.Account = id
			return e
		}
		if status == StatusClosed && (!bal.IsZero() || !pd.IsZero() || !pc.IsZero()) {
			e := newError(ECONFLICT, ReasonAccountNotEmpty, "account %s has a balance of %s and %s pending; only an empty account can be closed", id, bal, pd.Add(pc))
			e.Account = id
			return e
		}
		_, err = tx.Exec(ctx, `UPDATE accounts SET status = $2 WHERE id = $1`, id, status)
		return err
	})
	if err != nil {
		return Account{}, err
	}
	return s.Account(ctx, id)
}

func unknownAccount(id uuid.UUID) *Error {
	e := newError(ENOTFOUND, ReasonUnknownAccount, "unknown account %s", id)
	e.Account = id
	return e
}

func nullDecimal(d *decimal.Decimal) decimal.NullDecimal {
	if d == nil {
		return decimal.NullDecimal{}
	}
	return decimal.NullDecimal{Decimal: *d, Valid: true}
}

func ptrDecimal(d decimal.NullDecimal) *decimal.Decimal {
	if !d.Valid {
		return nil
	}
	v := d.Decimal
	return &v
}

func newID() uuid.UUID { return uuid.Must(uuid.NewV7()) }

// AccountRef is what never changes about an account once it is opened: what
// it counts, whom it belongs to and what kind it is. Authorization decisions
// need only this.
type AccountRef struct {
	ID    uuid.UUID
	Unit  string
	Owner string
	Kind  AccountKind
}

// maxCachedRefs bounds the in-process cache of AccountRefs (about 150 bytes
// each); past it the cache starts afresh.
const maxCachedRefs = 100_000

// AccountRefs returns the immutable facts of the accounts with the given ids
// that exist, by id. They are cached in the process after the first read, so
// the request path of the API asks the database for them once per account.
func (s *Store) AccountRefs(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]AccountRef, error) {
	out := make(map[uuid.UUID]AccountRef, len(ids))
	var missing []uuid.UUID
	s.refsMu.RLock()
	for _, id := range ids {
		if r, ok := s.refs[id]; ok {
			out[id] = r
		} else if _, dup := out[id]; !dup {
			missing = append(missing, id)
		}
	}
	s.refsMu.RUnlock()
	if len(missing) == 0 {
		return out, nil
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT id, unit, owner, kind FROM accounts WHERE id = ANY($1)`, pgUUIDs(missing))
	if err != nil {
		return nil, err
	}
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AccountRef, error) {
		var a AccountRef
		err := r.Scan(&a.ID, &a.Unit, &a.Owner, &a.Kind)
		return a, err
	})
	if err != nil {
		return nil, err
	}
	s.refsMu.Lock()
	if len(s.refs)+len(found) > maxCachedRefs {
		s.refs = make(map[uuid.UUID]AccountRef)
	}
	for _, a := range found {
		s.refs[a.ID] = a
		out[a.ID] = a
	}
	s.refsMu.Unlock()
	return out, nil
}
