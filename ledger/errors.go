package ledger

import (
	"fmt"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// Code classifies an error by what the caller can do about it. The HTTP layer
// maps each code to one status.
type Code string

// The error codes.
const (
	// EINVALID: the request is malformed or breaks a rule of the ledger; it
	// will fail the same way if sent again.
	EINVALID Code = "invalid"
	// ENOTFOUND: something the request names does not exist.
	ENOTFOUND Code = "not_found"
	// ECONFLICT: the request conflicts with the ledger's current state (an
	// idempotency key reused for another request, a hold already posted).
	ECONFLICT Code = "conflict"
	// EREFUSED: the request is well-formed but the accounts cannot honour it
	// now (insufficient funds, a frozen account); it may succeed later.
	EREFUSED Code = "refused"
	// EINTERNAL: a failure of the ledger itself; details are in the logs.
	EINTERNAL Code = "internal"
)

// Reason names the precise rule an error is about, for clients to act on.
type Reason string

// The reasons.
const (
	ReasonInvalidRequest      Reason = "invalid_request"
	ReasonUnknownUnit         Reason = "unknown_unit"
	ReasonUnknownAccount      Reason = "unknown_account"
	ReasonUnknownTransfer     Reason = "unknown_transfer"
	ReasonUnitExists          Reason = "unit_exists"
	ReasonUnitMismatch        Reason = "unit_mismatch"
	ReasonTooManyDecimals     Reason = "too_many_decimals"
	ReasonNonPositiveAmount   Reason = "non_positive_amount"
	ReasonSameAccount         Reason = "same_account"
	ReasonAccountFrozen       Reason = "account_frozen"
	ReasonAccountClosed       Reason = "account_closed"
	ReasonInsufficientFunds   Reason = "insufficient_funds"
	ReasonLimitExceeded       Reason = "limit_exceeded"
	ReasonIdempotencyConflict Reason = "idempotency_conflict"
	ReasonHoldNotPending      Reason = "hold_not_pending"
	ReasonHoldExpired         Reason = "hold_expired"
	ReasonAlreadyReversed     Reason = "already_reversed"
	ReasonNotReversible       Reason = "not_reversible"
	ReasonBoundsViolated      Reason = "bounds_violated"
	ReasonAccountNotEmpty     Reason = "account_not_empty"
	ReasonBatchFailed         Reason = "batch_failed"
)

// Error is the ledger's error. Besides a code and a reason it carries the
// details a client can act on: the account and posting concerned and, for
// insufficient funds, what was available and what was asked.
//
// Compare errors with errors.Is against the Err* values, which match on
// Reason: errors.Is(err, ledger.ErrInsufficientFunds).
type Error struct {
	Code    Code
	Reason  Reason
	Message string

	// Field names the input field at fault, when there is one
	// ("postings[1].amount").
	Field string
	// Account is the account concerned, when there is one.
	Account uuid.UUID
	// Unit is the unit concerned, when there is one.
	Unit string
	// Available and Requested are set for ReasonInsufficientFunds (how much
	// the account could still give, and how much the transfer asked of it) and
	// for ReasonLimitExceeded (how much it could still take, and how much it
	// was given).
	Available, Requested *decimal.Decimal
	// Index is the position of the failing transfer in a batch, or -1.
	Index int
}

func (e *Error) Error() string {
	if e.Message != "" {
		return "ledger: " + e.Message
	}
	return "ledger: " + string(e.Reason)
}

// Is reports whether target is an *Error with the same Reason.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Reason == e.Reason
}

// Sentinel errors for errors.Is; they match any *Error with their reason.
var (
	ErrInvalidRequest      = &Error{Code: EINVALID, Reason: ReasonInvalidRequest}
	ErrUnknownUnit         = &Error{Code: ENOTFOUND, Reason: ReasonUnknownUnit}
	ErrUnknownAccount      = &Error{Code: ENOTFOUND, Reason: ReasonUnknownAccount}
	ErrUnknownTransfer     = &Error{Code: ENOTFOUND, Reason: ReasonUnknownTransfer}
	ErrUnitExists          = &Error{Code: ECONFLICT, Reason: ReasonUnitExists}
	ErrUnitMismatch        = &Error{Code: EINVALID, Reason: ReasonUnitMismatch}
	ErrTooManyDecimals     = &Error{Code: EINVALID, Reason: ReasonTooManyDecimals}
	ErrNonPositiveAmount   = &Error{Code: EINVALID, Reason: ReasonNonPositiveAmount}
	ErrSameAccount         = &Error{Code: EINVALID, Reason: ReasonSameAccount}
	ErrAccountFrozen       = &Error{Code: EREFUSED, Reason: ReasonAccountFrozen}
	ErrAccountClosed       = &Error{Code: EREFUSED, Reason: ReasonAccountClosed}
	ErrInsufficientFunds   = &Error{Code: EREFUSED, Reason: ReasonInsufficientFunds}
	ErrLimitExceeded       = &Error{Code: EREFUSED, Reason: ReasonLimitExceeded}
	ErrIdempotencyConflict = &Error{Code: ECONFLICT, Reason: ReasonIdempotencyConflict}
	ErrHoldNotPending      = &Error{Code: ECONFLICT, Reason: ReasonHoldNotPending}
	ErrHoldExpired         = &Error{Code: ECONFLICT, Reason: ReasonHoldExpired}
	ErrAlreadyReversed     = &Error{Code: ECONFLICT, Reason: ReasonAlreadyReversed}
	ErrNotReversible       = &Error{Code: ECONFLICT, Reason: ReasonNotReversible}
	ErrBoundsViolated      = &Error{Code: EREFUSED, Reason: ReasonBoundsViolated}
	ErrAccountNotEmpty     = &Error{Code: ECONFLICT, Reason: ReasonAccountNotEmpty}
	ErrBatchFailed         = &Error{Code: EREFUSED, Reason: ReasonBatchFailed}
)

func newError(code Code, reason Reason, format string, args ...any) *Error {
	return &Error{Code: code, Reason: reason, Message: fmt.Sprintf(format, args...), Index: -1}
}

func invalid(field, format string, args ...any) *Error {
	e := newError(EINVALID, ReasonInvalidRequest, format, args...)
	e.Field = field
	return e
}
