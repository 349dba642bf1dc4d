package ledger

import (
	"github.com/mutual-ledger/mutual/internal/errs"
)

// Code, Reason and Error are the one error type of package errs, under
// the names the ledger's callers know. See errs for what each means.
type (
	Code   = errs.Code
	Reason = errs.Reason
	Error  = errs.Error
)

// The error codes (errs).
const (
	EINVALID  = errs.EINVALID
	ENOTFOUND = errs.ENOTFOUND
	ECONFLICT = errs.ECONFLICT
	EREFUSED  = errs.EREFUSED
	EINTERNAL = errs.EINTERNAL
)

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

// Sentinel errors for errors.Is; each matches any *Error with its reason.
// Return a copy (errs.Copy, or newError), never the sentinel itself.
var (
	// ErrInvalidRequest: the request is malformed: a field is missing, of the wrong shape or out of range (Field names it).
	ErrInvalidRequest = errs.Sentinel(EINVALID, ReasonInvalidRequest, "")
	// ErrUnknownUnit: no unit has the code named.
	ErrUnknownUnit = errs.Sentinel(ENOTFOUND, ReasonUnknownUnit, "")
	// ErrUnknownAccount: no account has the id named.
	ErrUnknownAccount = errs.Sentinel(ENOTFOUND, ReasonUnknownAccount, "")
	// ErrUnknownTransfer: no transfer (or hold) has the id named.
	ErrUnknownTransfer = errs.Sentinel(ENOTFOUND, ReasonUnknownTransfer, "")
	// ErrUnitExists: a unit with the code exists already, with other settings.
	ErrUnitExists = errs.Sentinel(ECONFLICT, ReasonUnitExists, "")
	// ErrUnitMismatch: a posting's unit is not its accounts' unit.
	ErrUnitMismatch = errs.Sentinel(EINVALID, ReasonUnitMismatch, "")
	// ErrTooManyDecimals: an amount has more decimal places than its unit's scale.
	ErrTooManyDecimals = errs.Sentinel(EINVALID, ReasonTooManyDecimals, "")
	// ErrNonPositiveAmount: an amount is zero or negative.
	ErrNonPositiveAmount = errs.Sentinel(EINVALID, ReasonNonPositiveAmount, "")
	// ErrSameAccount: a posting moves value from an account to itself.
	ErrSameAccount = errs.Sentinel(EINVALID, ReasonSameAccount, "")
	// ErrAccountFrozen: an account is frozen: nothing moves in or out until it is unfrozen.
	ErrAccountFrozen = errs.Sentinel(EREFUSED, ReasonAccountFrozen, "")
	// ErrAccountClosed: an account is closed for good.
	ErrAccountClosed = errs.Sentinel(EREFUSED, ReasonAccountClosed, "")
	// ErrInsufficientFunds: the paying account would go below its lower bound (Available and Requested say by how much).
	ErrInsufficientFunds = errs.Sentinel(EREFUSED, ReasonInsufficientFunds, "")
	// ErrLimitExceeded: the receiving account would go above its upper bound (Available and Requested say by how much).
	ErrLimitExceeded = errs.Sentinel(EREFUSED, ReasonLimitExceeded, "")
	// ErrIdempotencyConflict: the idempotency key was used before for a different request.
	ErrIdempotencyConflict = errs.Sentinel(ECONFLICT, ReasonIdempotencyConflict, "")
	// ErrHoldNotPending: the hold was posted, voided or expired already.
	ErrHoldNotPending = errs.Sentinel(ECONFLICT, ReasonHoldNotPending, "")
	// ErrHoldExpired: the hold expired before it was posted.
	ErrHoldExpired = errs.Sentinel(ECONFLICT, ReasonHoldExpired, "")
	// ErrAlreadyReversed: the transfer has been reversed already.
	ErrAlreadyReversed = errs.Sentinel(ECONFLICT, ReasonAlreadyReversed, "")
	// ErrNotReversible: the transfer cannot be reversed (a hold, or a reversal itself).
	ErrNotReversible = errs.Sentinel(ECONFLICT, ReasonNotReversible, "")
	// ErrBoundsViolated: new bounds would leave the account's balance outside them.
	ErrBoundsViolated = errs.Sentinel(EREFUSED, ReasonBoundsViolated, "")
	// ErrAccountNotEmpty: the account cannot be closed while it holds a balance or pending holds.
	ErrAccountNotEmpty = errs.Sentinel(ECONFLICT, ReasonAccountNotEmpty, "")
	// ErrBatchFailed: a transfer of an atomic batch was refused, so none was written (the batch's error says which, errs.IndexOf where).
	ErrBatchFailed = errs.Sentinel(EREFUSED, ReasonBatchFailed, "")
)

func newError(code Code, reason Reason, format string, args ...any) *Error {
	return errs.New(code, reason, format, args...)
}

func invalid(field, format string, args ...any) *Error {
	e := newError(EINVALID, ReasonInvalidRequest, format, args...)
	e.Field = field
	return e
}
