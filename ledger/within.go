package ledger

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/internal/pgtx"
)

// Tx makes one ledger change inside a caller's transaction, so that the
// change commits or rolls back together with the caller's own rows: an
// agreement accepted with the hold that reserves its hours, a grant marked
// disbursed with the transfer that pays it. It is valid only inside the
// function given to Within.
//
// A Tx makes at most one change (ErrOneChange otherwise): the engine's
// writes travel with COMMIT, so a second change in the same transaction
// would not see the first one's balances.
type Tx struct {
	s    *Store
	tx   *pgtx.Tx
	used bool
}

// ErrOneChange is returned by a Tx asked for a second change.
var ErrOneChange = errors.New("ledger: one change per transaction")

// Within runs fn in one transaction of the retry helper (pgtx), restarting
// the whole of it on a serialization failure or a deadlock, so fn must be
// safe to run more than once and must return the ledger's errors it does not
// handle, wrapped or not. fn locks and writes its own rows through tx and
// makes at most one ledger change through lt.
//
// Lock order: fn locks its own rows first; the ledger then locks transfer
// rows and account rows, sorted by id. The ledger never locks a caller's
// rows, so the order is the same in every transaction and cannot deadlock.
// Writes fn wants after the ledger's (rows that reference the new transfer)
// go through tx.Defer, after the change.
func (s *Store) Within(ctx context.Context, fn func(tx *pgtx.Tx, lt *Tx) error) error {
	for range 4 {
		err := s.run(ctx, func(tx *pgtx.Tx) error {
			return fn(tx, &Tx{s: s, tx: tx})
		})
		var expire *errExpireFirst
		if !errors.As(err, &expire) {
			return err
		}
		// Holds past their expiry but not yet released refused the
		// change: release them in a transaction of their own, then run
		// the whole of fn again.
		if _, err := s.expire(ctx, expire.holds); err != nil {
			return err
		}
	}
	return newError(EINTERNAL, ReasonInvalidRequest, "holds kept expiring under this request; try again")
}

// execute runs build and the engine in the transaction.
func (lt *Tx) execute(ctx context.Context, atomic bool, build func(e *engine) ([]*job, error)) ([]*job, error) {
	if lt.used {
		return nil, ErrOneChange
	}
	lt.used = true
	e := &engine{s: lt.s, tx: lt.tx, now: lt.s.clock()}
	jobs, err := build(e)
	if err != nil {
		return jobs, err
	}
	return jobs, e.run(ctx, jobs, atomic)
}

// CreateTransfer writes one transfer, as Store.CreateTransfer does, in the
// caller's transaction. It does not pass the hot-account gate: callers of
// Within are not on the hot path.
func (lt *Tx) CreateTransfer(ctx context.Context, r TransferRequest) (Transfer, error) {
	p, err := lt.s.prepare(ctx, lt.tx, &r, lt.s.clock())
	if err != nil {
		return Transfer{}, err
	}
	jobs, err := lt.execute(ctx, true, func(e *engine) ([]*job, error) {
		return []*job{p.job()}, nil
	})
	return single(jobs, err)
}

// PostPending posts a hold, as Store.PostPending does, in the caller's
// transaction. A hold found past its expiry is released in a transaction of
// its own and fn runs again; it then finds the hold expired
// (ErrHoldNotPending).
func (lt *Tx) PostPending(ctx context.Context, holdID uuid.UUID, r PostRequest) (Transfer, error) {
	var expired bool
	jobs, err := lt.execute(ctx, true, func(e *engine) ([]*job, error) {
		var jobs []*job
		var err error
		jobs, expired, err = lt.s.postJobs(ctx, e, holdID, r)
		if expired {
			return nil, &errExpireFirst{holds: []uuid.UUID{holdID}}
		}
		return jobs, err
	})
	if err != nil {
		return single(nil, err)
	}
	if voided := jobs[0]; voided.t == nil && voided.result == nil && voided.err == nil {
		h := *voided.release
		h.State = StateVoided
		return h, nil
	}
	return single(jobs, nil)
}

// VoidPending voids a hold, as Store.VoidPending does, in the caller's
// transaction; voiding a voided hold returns it unchanged.
func (lt *Tx) VoidPending(ctx context.Context, holdID uuid.UUID) (Transfer, error) {
	var already *Transfer
	jobs, err := lt.execute(ctx, true, func(e *engine) ([]*job, error) {
		var jobs []*job
		var err error
		already, jobs, err = voidJobs(ctx, e, holdID)
		if err == nil && len(jobs) == 1 && jobs[0].releaseState == StateExpired {
			return nil, &errExpireFirst{holds: []uuid.UUID{holdID}}
		}
		return jobs, err
	})
	if err != nil {
		return single(nil, err)
	}
	if already != nil {
		return *already, nil
	}
	h := *jobs[0].release
	h.State = StateVoided
	return h, nil
}

// Unit returns a unit, as Store.Unit does, reading it through the caller's
// transaction when it is not cached: a transaction must never wait for a
// second connection of the pool.
func (lt *Tx) Unit(ctx context.Context, code string) (Unit, error) {
	return lt.s.unit(ctx, lt.tx, code)
}
