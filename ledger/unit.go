package ledger

import (
	"context"
	"errors"
	"regexp"
	"time"

	"github.com/mutual-ledger/mutual/internal/pgtx"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// Unit is what an account counts: HOUR, USD, KG_PRODUCE. Its Scale, the
// number of decimal places an amount may have, is fixed when it is created.
type Unit struct {
	Code      string
	Scale     int32
	Name      string
	CreatedAt time.Time
}

// MaxScale is the largest scale a unit may have.
const MaxScale = 18

var unitCode = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,31}$`)

// CreateUnit creates a unit. The code is 1 to 32 upper-case letters, digits
// or underscores starting with a letter; the scale is 0 to MaxScale. It
// returns ErrInvalidRequest for a bad code or scale and ErrUnitExists when
// the code is taken.
func (s *Store) CreateUnit(ctx context.Context, u Unit) (Unit, error) {
	return s.CreateUnitThen(ctx, u, nil)
}

// CreateUnitThen is CreateUnit, calling then (if not nil) in its
// transaction once the unit is written, so that the caller's rows commit
// with it.
func (s *Store) CreateUnitThen(ctx context.Context, u Unit, then func(ctx context.Context, tx *pgtx.Tx) error) (Unit, error) {
	if !unitCode.MatchString(u.Code) {
		return Unit{}, invalid("code", "unit code %q must be 1-32 upper-case letters, digits or underscores, starting with a letter", u.Code)
	}
	if u.Scale < 0 || u.Scale > MaxScale {
		return Unit{}, invalid("scale", "unit scale must be between 0 and %d, not %d", MaxScale, u.Scale)
	}
	if len(u.Name) > 200 {
		return Unit{}, invalid("name", "unit name is longer than 200 characters")
	}
	u.CreatedAt = s.clock()
	err := s.run(ctx, func(tx *pgtx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO units (code, scale, name, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (code) DO NOTHING`,
			u.Code, u.Scale, u.Name, u.CreatedAt)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			e := newError(ECONFLICT, ReasonUnitExists, "unit %s already exists", u.Code)
			e.Unit = u.Code
			return e
		}
		if then != nil {
			return then(ctx, tx)
		}
		return nil
	})
	if err != nil {
		return Unit{}, err
	}
	s.cacheUnit(u)
	return u, nil
}

// Unit returns the unit with the given code, or ErrUnknownUnit.
func (s *Store) Unit(ctx context.Context, code string) (Unit, error) {
	return s.unit(ctx, s.db.Pool, code)
}

// rowQuerier is what a unit is read through on a cache miss: the pool, or
// the transaction that needs it. A transaction must read through itself: one
// that waited for a second connection could wait for ever once every
// connection of the pool is held by such transactions.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// unit is Unit, reading through q on a cache miss.
func (s *Store) unit(ctx context.Context, q rowQuerier, code string) (Unit, error) {
	s.mu.RLock()
	u, ok := s.units[code]
	s.mu.RUnlock()
	if ok {
		return u, nil
	}
	err := q.QueryRow(ctx, `SELECT code, scale, name, created_at FROM units WHERE code = $1`, code).
		Scan(&u.Code, &u.Scale, &u.Name, &u.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		e := newError(ENOTFOUND, ReasonUnknownUnit, "unknown unit %q", code)
		e.Unit = code
		return Unit{}, e
	}
	if err != nil {
		return Unit{}, err
	}
	s.cacheUnit(u)
	return u, nil
}

// Units lists every unit, ordered by code.
func (s *Store) Units(ctx context.Context) ([]Unit, error) {
	rows, err := s.db.Pool.Query(ctx, `SELECT code, scale, name, created_at FROM units ORDER BY code`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Unit, error) {
		var u Unit
		err := r.Scan(&u.Code, &u.Scale, &u.Name, &u.CreatedAt)
		return u, err
	})
}

func (s *Store) cacheUnit(u Unit) {
	s.mu.Lock()
	s.units[u.Code] = u
	s.mu.Unlock()
}

// CheckAmount is the one check that an amount fits its unit, for the
// ledger and for everything that moves or promises value (agreements,
// trades, grants, time banks, listings): it returns ErrNonPositiveAmount
// for an amount of zero or less, ErrTooManyDecimals for one with more
// decimals than the unit's scale (never rounded), and ErrInvalidRequest for
// one out of the range the ledger holds exactly; each with Field and Unit
// set. It returns nil for an amount that fits.
func (u Unit) CheckAmount(amount decimal.Decimal, field string) error {
	if e := checkAmount(u, amount, field); e != nil {
		return e
	}
	return nil
}

// CheckFits is CheckAmount for a value that may be zero or negative (a
// bound, a credit limit): ErrTooManyDecimals or ErrInvalidRequest, or nil.
func (u Unit) CheckFits(d decimal.Decimal, field string) error {
	if e := checkScale(u, d, field); e != nil {
		return e
	}
	return nil
}

// checkAmount is CheckAmount, with the ledger's own error type.
func checkAmount(u Unit, amount decimal.Decimal, field string) *Error {
	if amount.Sign() <= 0 {
		e := newError(EINVALID, ReasonNonPositiveAmount, "%s must be positive, not %s", field, amount)
		e.Field, e.Unit = field, u.Code
		return e
	}
	return checkScale(u, amount, field)
}

// checkScale is CheckFits, with the ledger's own error type.
func checkScale(u Unit, amount decimal.Decimal, field string) *Error {
	if -amount.Exponent() > u.Scale && !amount.Equal(amount.Truncate(u.Scale)) {
		e := newError(EINVALID, ReasonTooManyDecimals, "%s %s has more than %d decimal places, the scale of %s", field, amount, u.Scale, u.Code)
		e.Field, e.Unit = field, u.Code
		return e
	}
	if amount.Exponent() < -MaxScale*2 || amount.Abs().GreaterThan(maxAmount) {
		return invalid(field, "%s %s is out of range", field, amount)
	}
	return nil
}

// maxAmount keeps every amount and balance far inside what NUMERIC and the
// clients' decimal types hold exactly.
var maxAmount = decimal.New(1, 30)
