package exchange

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/ledger"
)

// SetCreditLimit sets how far below zero one member's time-bank account may
// go (its lower bound becomes -limit), for a member the rules' default
// does not fit: a coordinator raising a newcomer's limit, or lowering it.
// Who may: those who set the organization's time-bank rules
// (TimebankSetRules); the member's account is their only open member
// account in the time bank's unit. The change and its audit event
// ("timebank.credit_limit_set") commit together.
//
// It returns ErrForbidden, ErrNoTimebank and ErrUnauthenticated as
// SetTimebankRules does; ErrNotAMember (Field "member_id") when the member
// does not belong to the organization; ErrNoAccount (Field "account_id");
// ledger.ErrInvalidRequest (Field "credit_limit") for a negative limit,
// ledger.ErrTooManyDecimals for one finer than the unit; and
// ledger.ErrBoundsViolated (Field "credit_limit") when the account already
// holds less than -limit available.
func (s *Store) SetCreditLimit(ctx context.Context, p Principal, orgID, memberID uuid.UUID, limit decimal.Decimal) (ledger.Account, error) {
	if err := s.mayTimebank(ctx, p, orgID, TimebankSetRules, "only those who act for the organization set its members' credit limits"); err != nil {
		return ledger.Account{}, err
	}
	if limit.Sign() < 0 {
		return ledger.Account{}, invalid("credit_limit", "credit_limit must be zero or positive, not %s: the member may go down to minus it", limit)
	}
	rules, err := s.timebankRulesOf(ctx, orgID)
	if err != nil {
		return ledger.Account{}, err
	}
	unit, err := s.led.Unit(ctx, rules.Unit)
	if err != nil {
		return ledger.Account{}, err
	}
	if err := checkHours(unit, "credit_limit", limit); err != nil {
		return ledger.Account{}, err
	}
	if err := s.checkBelongs(ctx, orgID, memberID, grantKind); err != nil {
		return ledger.Account{}, err
	}
	var id uuid.UUID
	err = s.led.Within(ctx, func(tx *pgtx.Tx, lt *ledger.Tx) error {
		var err error
		if id, err = payingAccount(ctx, tx, memberID, rules.Unit, nil); err != nil {
			return err
		}
		var available decimal.Decimal
		err = tx.QueryRow(ctx, `SELECT balance - pending_debits FROM accounts WHERE id = $1 FOR UPDATE`, id).Scan(&available)
		if errors.Is(err, pgx.ErrNoRows) {
			return ledger.ErrUnknownAccount
		}
		if err != nil {
			return err
		}
		lower := limit.Neg()
		if available.LessThan(lower) {
			e := newError(ledger.ErrBoundsViolated.Code, ledger.ReasonBoundsViolated,
				"the account has %s available, below minus the new credit limit %s; grant hours first or choose a larger limit", available, limit)
			e.Field, e.Account, e.Unit = "credit_limit", id, rules.Unit
			return e
		}
		if _, err := tx.Exec(ctx, `UPDATE accounts SET lower_bound = $2 WHERE id = $1`, id, lower); err != nil {
			return err
		}
		record(tx, p, s.clock(), auditEvent{kind: "timebank.credit_limit_set", subject: id, org: orgID, member: memberID,
			details: map[string]any{"credit_limit": limit.String(), "unit": rules.Unit}})
		return nil
	})
	if err != nil {
		return ledger.Account{}, err
	}
	return s.led.Account(ctx, id)
}
