package exchange

import (
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mutual-ledger/mutual/ledger"
)

// The error codes the exchange adds to the ledger's. The HTTP layer maps
// EUNAUTHORIZED to 401 and EFORBIDDEN to 403.
const (
	// EUNAUTHORIZED: the request carries no valid credentials.
	EUNAUTHORIZED ledger.Code = "unauthorized"
	// EFORBIDDEN: the principal is known and may see the thing, but may not
	// do this to it.
	EFORBIDDEN ledger.Code = "forbidden"
)

// The reasons of the exchange's errors. They are distinct from the ledger's,
// since errors.Is compares reasons.
const (
	ReasonUnauthenticated ledger.Reason = "unauthenticated"
	ReasonForbidden       ledger.Reason = "forbidden"
	ReasonNotVisible      ledger.Reason = "not_visible"
	ReasonUnknownOrg      ledger.Reason = "unknown_org"
	ReasonUnknownMember   ledger.Reason = "unknown_member"
	ReasonUnknownToken    ledger.Reason = "unknown_token"
	ReasonNetworkExists   ledger.Reason = "network_exists"
	ReasonNotAMember      ledger.Reason = "not_a_member"
)

// Sentinel errors for errors.Is; each matches any *ledger.Error with its
// reason. Invalid input is reported as ledger.ErrInvalidRequest with Field
// set.
var (
	// ErrUnauthenticated: the token is missing, unknown, revoked or expired;
	// the error never says which.
	ErrUnauthenticated = &ledger.Error{Code: EUNAUTHORIZED, Reason: ReasonUnauthenticated, Message: "authentication required"}
	// ErrForbidden: the principal may see the resource but not act on it.
	ErrForbidden = &ledger.Error{Code: EFORBIDDEN, Reason: ReasonForbidden, Message: "forbidden"}
	// ErrNotVisible: the principal may not see the resource. Its code is
	// ENOTFOUND, so that the HTTP layer answers exactly as for a resource
	// that does not exist.
	ErrNotVisible = &ledger.Error{Code: ledger.ENOTFOUND, Reason: ReasonNotVisible, Message: "not found"}
	// ErrUnknownOrg: no organization has the id.
	ErrUnknownOrg = &ledger.Error{Code: ledger.ENOTFOUND, Reason: ReasonUnknownOrg}
	// ErrUnknownMember: no member has the id.
	ErrUnknownMember = &ledger.Error{Code: ledger.ENOTFOUND, Reason: ReasonUnknownMember}
	// ErrUnknownToken: no token has the id.
	ErrUnknownToken = &ledger.Error{Code: ledger.ENOTFOUND, Reason: ReasonUnknownToken}
	// ErrNetworkExists: a second organization of kind network was asked for.
	ErrNetworkExists = &ledger.Error{Code: ledger.ECONFLICT, Reason: ReasonNetworkExists}
	// ErrNotAMember: the member does not belong to the organization named.
	ErrNotAMember = &ledger.Error{Code: ledger.EINVALID, Reason: ReasonNotAMember}
)

func newError(code ledger.Code, reason ledger.Reason, format string, args ...any) *ledger.Error {
	return &ledger.Error{Code: code, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

func invalid(field, format string, args ...any) *ledger.Error {
	e := newError(ledger.EINVALID, ledger.ReasonInvalidRequest, format, args...)
	e.Field = field
	return e
}

// notVisible and forbidden return fresh errors, so that a caller who sets a
// field on one never changes the sentinel.
func notVisible() *ledger.Error { e := *ErrNotVisible; return &e }
func forbidden() *ledger.Error  { e := *ErrForbidden; return &e }

func unauthenticated() *ledger.Error { e := *ErrUnauthenticated; return &e }

// forbiddenBecause is ErrForbidden saying why.
func forbiddenBecause(why string) *ledger.Error {
	e := forbidden()
	e.Message = why
	return e
}

// idTaken is the error for a create request whose ID is taken: ECONFLICT
// with ledger.ReasonInvalidRequest, as the ledger reports a taken account id.
func idTaken(what string, id uuid.UUID) *ledger.Error {
	e := newError(ledger.ECONFLICT, ledger.ReasonInvalidRequest, "%s %s already exists", what, id)
	e.Field = "id"
	return e
}

// pgCode returns the SQLSTATE of a database error, or "".
func pgCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
)
