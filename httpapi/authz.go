package httpapi

import (
	"errors"
	"net/http"

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
		Message: "unknown account " + id, Field: field}
}

// notFoundTransfer is the error for a transfer that does not exist or may not
// be seen.
func notFoundTransfer(id string) error {
	return &ledger.Error{Code: ledger.ENOTFOUND, Reason: ledger.ReasonUnknownTransfer,
		Message: "unknown transfer " + id}
}

// notFoundOrg is the error for an organization that does not exist.
// Organizations are public, so none is hidden.
func notFoundOrg(id, field string) error {
	return &ledger.Error{Code: ledger.ENOTFOUND, Reason: exchange.ReasonUnknownOrg,
		Message: "unknown organization " + id, Field: field}
}

// notFoundMember is the error for a member that does not exist or may not
// be seen.
func notFoundMember(id, field string) error {
	return &ledger.Error{Code: ledger.ENOTFOUND, Reason: exchange.ReasonUnknownMember,
		Message: "unknown member " + id, Field: field}
}

// notFoundToken is the error for a token that does not exist or may not be
// seen.
func notFoundToken(id string) error {
	return &ledger.Error{Code: ledger.ENOTFOUND, Reason: exchange.ReasonUnknownToken,
		Message: "unknown token " + id}
}

// queryID reads the required id query parameter name of a list route:
// 400 when it is missing (usage shows how to ask), and notFound's error for
// one that is not a UUID, as for an id that does not exist.
func queryID(r *http.Request, name, usage string, notFound func(id, field string) error) (uuid.UUID, error) {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return uuid.Nil, malformed(name, "%s is required: %s", name, usage)
	}
	id, err := uuid.Parse(raw)
	if err != nil || len(raw) != 36 {
		return uuid.Nil, notFound(raw, name)
	}
	return id, nil
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

// requireAdmin refuses a principal who is not a network admin.
func requireAdmin(p exchange.Principal, what string) error {
	if !p.Admin {
		return forbidden("only a network admin may %s", what)
	}
	return nil
}
