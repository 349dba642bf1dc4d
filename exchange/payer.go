package exchange

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mutual-ledger/mutual/ledger"
)

// rowQuerier is what both a pool and a transaction offer for reads.
type rowQuerier interface {
	querier
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// payingAccount is the one answer to "which account does this member pay
// with (or receive in) in unit", for agreements and time banks alike:
//   - the account named, when one is: it must be the member's (else
//     ledger.ErrUnknownAccount, as for one that does not exist), of kind
//     member, in unit and open (else ErrNoAccount);
//   - otherwise the member's only open member account in unit:
//     ErrNoAccount when they have none, or several (name one).
//
// Every error has Field "account_id". q is a transaction when the caller
// decides in one, the pool otherwise.
func payingAccount(ctx context.Context, q rowQuerier, member uuid.UUID, unit string, named *uuid.UUID) (uuid.UUID, error) {
	owner := MemberOwner(member)
	noAccount := func(id uuid.UUID, format string, args ...any) (uuid.UUID, error) {
		e := newError(ErrNoAccount.Code, ReasonNoAccount, format, args...)
		e.Field, e.Account = "account_id", id
		return uuid.Nil, e
	}
	if named != nil {
		var gotOwner, gotUnit, kind, status string
		err := q.QueryRow(ctx, `SELECT owner, unit, kind, status FROM accounts WHERE id = $1`, *named).Scan(&gotOwner, &gotUnit, &kind, &status)
		switch {
		case errors.Is(err, pgx.ErrNoRows) || (err == nil && gotOwner != owner):
			e := newError(ledger.ErrUnknownAccount.Code, ledger.ReasonUnknownAccount, "you have no account %s", *named)
			e.Field, e.Account = "account_id", *named
			return uuid.Nil, e
		case err != nil:
			return uuid.Nil, err
		case gotUnit != unit:
			return noAccount(*named, "account %s is in %s, not %s", *named, gotUnit, unit)
		case kind != string(ledger.KindMember):
			return noAccount(*named, "account %s is of kind %s, not a member's", *named, kind)
		case status != string(ledger.StatusOpen):
			return noAccount(*named, "account %s is %s", *named, status)
		}
		return *named, nil
	}
	// The accounts_owner index (owner, unit) serves the lookup.
	rows, err := q.Query(ctx, `SELECT id FROM accounts WHERE owner = $1 AND unit = $2 AND status = 'open' AND kind = 'member' ORDER BY id LIMIT 2`, owner, unit)
	if err != nil {
		return uuid.Nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return uuid.Nil, err
	}
	switch len(ids) {
	case 0:
		return noAccount(uuid.Nil, "member %s has no open %s account; a coordinator of their organization can open one", member, unit)
	case 1:
		return ids[0], nil
	}
	return noAccount(uuid.Nil, "member %s has several open %s accounts; name one with account_id", member, unit)
}
