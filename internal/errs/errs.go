// Package errs is Mutual's one error type: what went wrong (a Code, which
// says what the caller can do about it, and a Reason, which names the rule),
// a message for people, and the details a client acts on. The ledger and
// the exchange declare their reasons and sentinels (ledger.ErrInsufficientFunds,
// exchange.ErrForbidden, ...) as values of this type; httpapi maps each
// Reason to one problem type.
//
// The position of a failing transfer in a batch is not a field of the error:
// the batch wraps the error with At, and IndexOf reads it back.
package errs

import (
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// Code classifies an error by what the caller can do about it. The HTTP layer
// maps each code to one status.
type Code string

// The error codes.
const (
	// EINVALID: the request is malformed or breaks a rule; it will fail the
	// same way if sent again.
	EINVALID Code = "invalid"
	// ENOTFOUND: something the request names does not exist (or the caller
	// may not see it).
	ENOTFOUND Code = "not_found"
	// ECONFLICT: the request conflicts with the current state (an idempotency
	// key reused for another request, a hold already posted).
	ECONFLICT Code = "conflict"
	// EREFUSED: the request is well-formed but cannot be honoured now
	// (insufficient funds, a frozen account); it may succeed later.
	EREFUSED Code = "refused"
	// EINTERNAL: a failure of Mutual itself; details are in the logs.
	EINTERNAL Code = "internal"
)

// Reason names the precise rule an error is about, for clients to act on.
// Each package declares its own; they are distinct across packages, since
// errors.Is compares reasons.
type Reason string

// Error is the error of a refused request. Besides a code and a reason it
// carries what a client can act on: the input field at fault, the account
// and unit concerned and, for a refusal over an amount, what was available
// and what was asked.
//
// Compare errors with errors.Is against the sentinels, which match on
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
	// Available and Requested are set for a refusal over an amount: how much
	// the account could still give (or take, or a listing still has), and how
	// much was asked.
	Available, Requested *decimal.Decimal
}

func (e *Error) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return string(e.Reason)
}

// Is reports whether target is an *Error with the same Reason.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Reason == e.Reason
}

// New returns an error with a formatted message.
func New(code Code, reason Reason, format string, args ...any) *Error {
	return &Error{Code: code, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Sentinel returns an error to compare with errors.Is, and to copy (never
// change: see Copy) when returning one.
func Sentinel(code Code, reason Reason, message string) *Error {
	return &Error{Code: code, Reason: reason, Message: message}
}

// Copy returns a copy of e that a caller may change (a Field, a Message)
// without changing e, which may be a sentinel.
func Copy(e *Error) *Error {
	c := *e
	return &c
}

// InBatch is the error of one item of a batch (a transfer of an atomic
// batch of transfers) at its position, from 0.
type InBatch struct {
	Index int
	Err   error
}

func (e *InBatch) Error() string { return fmt.Sprintf("item %d: %v", e.Index, e.Err) }
func (e *InBatch) Unwrap() error { return e.Err }

// At returns err as the error of the item at position i of a batch; nil
// stays nil. An error already placed in a batch keeps its position.
func At(i int, err error) error {
	if err == nil {
		return nil
	}
	var b *InBatch
	if errors.As(err, &b) {
		return err
	}
	return &InBatch{Index: i, Err: err}
}

// IndexOf returns the batch position err was placed at with At, if any.
func IndexOf(err error) (int, bool) {
	var b *InBatch
	if errors.As(err, &b) {
		return b.Index, true
	}
	return -1, false
}

// Alone returns err without its batch position: the error of a batch of
// one, answered as a single request.
func Alone(err error) error {
	var b *InBatch
	if errors.As(err, &b) {
		return b.Err
	}
	return err
}
