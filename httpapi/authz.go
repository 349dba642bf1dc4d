package httpapi

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

// Whatever a principal may not see is answered exactly as what does not
// exist: the same status, type and detail, so that a 404 never says which.

// notFoundAccount is the error for an account that does not exist or may not
// be seen; field names the request field that named it, if any.
func notFoundAccount(id, field string) error {
	return &ledger.Error{Code: ledger.ENOTFOUND, Reason: ledger.ReasonUnknownAccount,
		Message: "unknown account " + id, Field: field, Index: -1}
}

// notFoundTransfer is the error for a transfer that does not exist or may not
// be seen.
func notFoundTransfer(id string) error {
	return &ledger.Error{Code: ledger.ENOTFOUND, Reason: ledger.ReasonUnknownTransfer,
		Message: "unknown transfer " + id, Index: -1}
}

// notFoundOrg is the error for an organization that does not exist.
// Organizations are public, so none is hidden.
func notFoundOrg(id, field string) error {
	return &ledger.Error{Code: ledger.ENOTFOUND, Reason: exchange.ReasonUnknownOrg,
		Message: "unknown organization " + id, Field: field, Index: -1}
}

// notFoundMember is the error for a member that does not exist or may not
// be seen.
func notFoundMember(id, field string) error {
	return &ledger.Error{Code: ledger.ENOTFOUND, Reason: exchange.ReasonUnknownMember,
		Message: "unknown member " + id, Field: field, Index: -1}
}

// notFoundToken is the error for a token that does not exist or may not be
// seen.
func notFoundToken(id string) error {
	return &ledger.Error{Code: ledger.ENOTFOUND, Reason: exchange.ReasonUnknownToken,
		Message: "unknown token " + id, Index: -1}
}

func notFoundAccountPath(id string) error  { return notFoundAccount(id, "") }
func notFoundTransferPath(id string) error { return notFoundTransfer(id) }
func notFoundOrgPath(id string) error      { return notFoundOrg(id, "") }
func notFoundMemberPath(id string) error   { return notFoundMember(id, "") }

// hidden reports whether an Authority's error means "may not see".
func hidden(err error) bool {
	var le *ledger.Error
	return errors.Is(err, exchange.ErrNotVisible) || (errors.As(err, &le) && le.Code == ledger.ENOTFOUND)
}

// isForbidden reports whether an Authority's error means "may see, may not
// do".
func isForbidden(err error) bool {
	var le *ledger.Error
	return errors.Is(err, exchange.ErrForbidden) || (errors.As(err, &le) && le.Code == exchange.EFORBIDDEN)
}

// loadAccounts returns the accounts with the given ids that exist, by id,
// for authorization: only what never changes about them is filled in (id,
// unit, owner, kind), from the ledger's in-process cache, not their balances.
func (a *api) loadAccounts(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]ledger.Account, error) {
	refs, err := a.ledger.AccountRefs(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[uuid.UUID]ledger.Account, len(refs))
	for id, r := range refs {
		out[id] = ledger.Account{ID: r.ID, Unit: r.Unit, Owner: r.Owner, Kind: r.Kind}
	}
	return out, nil
}

// mayMoveFrom checks that the principal may move value out of the account
// (found in accs): 404, as for an account that does not exist, when it may
// not even see it; 403 when it may see it but not move from it. shown says
// that the principal was shown the account already (it is in a transfer it
// may read), so that 403 is the answer either way. field names the request
// field that named the account.
func (a *api) mayMoveFrom(ctx context.Context, p exchange.Principal, accs map[uuid.UUID]ledger.Account, id uuid.UUID, field string, shown bool) error {
	acc, ok := accs[id]
	if !ok {
		return notFoundAccount(id.String(), field)
	}
	if err := a.auth.CanMoveFrom(ctx, p, acc); err != nil {
		if hidden(err) && !shown {
			return notFoundAccount(id.String(), field)
		}
		if hidden(err) || isForbidden(err) {
			e := forbidden("you may not move value out of account %s", id)
			if field != "" {
				e.fields = []FieldError{{Field: field, Message: e.detail}}
			}
			return e
		}
		return err
	}
	return nil
}

// requireAdmin refuses a principal who is not a network admin.
func requireAdmin(p exchange.Principal, what string) error {
	if !p.Admin {
		return forbidden("only a network admin may %s", what)
	}
	return nil
}

// mayManageOrg checks that the principal acts for the organization: 403
// otherwise; 404 when the organization does not exist. field names the
// request field that named the organization ("" for the path).
func (a *api) mayManageOrg(ctx context.Context, p exchange.Principal, org uuid.UUID, field string) error {
	err := a.auth.CanManageOrg(ctx, p, org)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, exchange.ErrUnknownOrg):
		return notFoundOrg(org.String(), field)
	case hidden(err) || isForbidden(err):
		e := forbidden("you do not act for organization %s", org)
		if field != "" {
			e.fields = []FieldError{{Field: field, Message: e.detail}}
		}
		return e
	}
	return fmt.Errorf("checking who manages organization %s: %w", org, err)
}
