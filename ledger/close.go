package ledger

import (
	"context"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// CloseAccounts closes accounts for good, in the caller's transaction, as
// Store.SetStatus does one: each must be empty, with a zero balance and no
// open holds, or it returns ErrAccountNotEmpty (Account set, the message
// saying what it holds) and closes none; an account already closed stays
// so. It locks the accounts in id order, as every change does, so a
// transfer racing it either commits first (and the account is no longer
// empty) or finds the account closed. Like CreateAccount it is not a
// change of balances: the Tx may still make one. It returns
// ErrUnknownAccount for an id that is no account.
func (lt *Tx) CloseAccounts(ctx context.Context, ids []uuid.UUID) error {
	ids = slices.Clone(ids)
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	ids = slices.Compact(ids)
	for _, id := range ids {
		var status AccountStatus
		var bal, pd, pc decimal.Decimal
		err := lt.tx.QueryRow(ctx, `SELECT status, balance, pending_debits, pending_credits FROM accounts WHERE id = $1 FOR UPDATE`, id).
			Scan(&status, &bal, &pd, &pc)
		if err == pgx.ErrNoRows {
			return unknownAccount(id)
		}
		if err != nil {
			return err
		}
		if status == StatusClosed {
			continue
		}
		if !bal.IsZero() || !pd.IsZero() || !pc.IsZero() {
			e := newError(ECONFLICT, ReasonAccountNotEmpty, "account %s has a balance of %s and %s held", id, bal, pd.Add(pc))
			e.Account = id
			return e
		}
	}
	_, err := lt.tx.Exec(ctx, `UPDATE accounts SET status = 'closed' WHERE id = ANY($1) AND status <> 'closed'`, ids)
	return err
}
