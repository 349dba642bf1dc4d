package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// PostRequest asks for a hold to be posted.
type PostRequest struct {
	IdempotencyKey string
	// Amounts, if set, has one amount per posting of the hold: at most what
	// the posting reserved, zero to post nothing of it. The rest of the
	// reservation is released. nil posts every posting in full.
	Amounts  []decimal.Decimal
	Memo     string
	Metadata json.RawMessage
}

// PostPending posts a hold, fully or in part: it releases the hold's
// reservations and writes a posted transfer (PendingID = the hold) with the
// amounts asked. The hold's state becomes posted. It returns the posting
// transfer, or ErrUnknownTransfer, ErrHoldNotPending (already posted, voided
// or expired, or not a hold), ErrHoldExpired (its expiry has passed: it is
// released now), ErrInvalidRequest for amounts that do not fit the hold, or
// any refusal CreateTransfer can give for the accounts. Amounts that are all
// zero void the hold, and the voided hold is returned.
func (s *Store) PostPending(ctx context.Context, holdID uuid.UUID, r PostRequest) (Transfer, error) {
	return s.PostPendingThen(ctx, holdID, r, nil)
}

// PostPendingThen is PostPending, calling then (if not nil) in its
// transaction with what it wrote.
func (s *Store) PostPendingThen(ctx context.Context, holdID uuid.UUID, r PostRequest, then Then) (Transfer, error) {
	var expired bool
	jobs, err := s.execute(ctx, true, func(e *engine) ([]*job, error) {
		var jobs []*job
		var err error
		jobs, expired, err = s.postJobs(ctx, e, holdID, r)
		return jobs, err
	}, then)
	if err == nil && expired {
		return Transfer{}, newError(ECONFLICT, ReasonHoldExpired, "hold %s expired before it was posted; its reservation is released", holdID)
	}
	if err == nil && len(jobs) == 1 && jobs[0].t == nil && jobs[0].result == nil && jobs[0].err == nil {
		// Posting nothing voided the hold: answer with it as it is now.
		return s.Transfer(ctx, holdID)
	}
	return single(jobs, err)
}

// postJobs locks a hold and returns the job that posts it as r asks: the
// replay of an earlier post with r's key, the release of the hold with the
// posting transfer, or (all amounts zero) its voiding. expired is set, with a
// job that releases the hold as expired, when its expiry has passed.
func (s *Store) postJobs(ctx context.Context, e *engine, holdID uuid.UUID, r PostRequest) (jobs []*job, expired bool, err error) {
	meta, err := canonicalMetadata(r.Metadata)
	if err != nil {
		return nil, false, err
	}
	if len(r.Memo) > MaxMemo {
		return nil, false, invalid("memo", "memo is longer than %d characters", MaxMemo)
	}
	if len(r.IdempotencyKey) > MaxKeyLength {
		return nil, false, invalid("idempotency_key", "idempotency key is longer than %d characters", MaxKeyLength)
	}
	hold, err := e.lockHoldAny(ctx, holdID)
	if err != nil {
		return nil, false, err
	}
	j := &job{}
	var hash []byte
	if r.IdempotencyKey != "" {
		// Under the hold's lock, a concurrent retry of this post has
		// committed: answer with its result.
		var amounts []Posting
		for _, a := range r.Amounts {
			amounts = append(amounts, Posting{Amount: a})
		}
		hash = requestHash("post", &holdID, amounts, r.Memo, meta, false, nil)
		j.t, j.hash = &Transfer{IdempotencyKey: r.IdempotencyKey}, hash
		if err := e.lookupKeys(ctx, []*job{j}); err != nil || j.err != nil || j.result != nil {
			return []*job{j}, false, err
		}
	}
	if hold.State != StatePending {
		return nil, false, holdNotPending(hold)
	}
	if hold.ExpiresAt != nil && !hold.ExpiresAt.After(e.now) {
		return []*job{{release: hold, releaseState: StateExpired}}, true, nil
	}
	postings, err := s.postedAmounts(ctx, e.tx, hold, r.Amounts)
	if err != nil {
		return nil, false, err
	}
	j.release, j.releaseState = hold, StatePosted
	if len(postings) > 0 {
		memo := r.Memo
		if memo == "" {
			memo = hold.Memo
		}
		if meta == nil {
			meta = hold.Metadata
		}
		j.t = &Transfer{
			ID: newID(), IdempotencyKey: r.IdempotencyKey, State: StatePosted,
			Postings: postings, Memo: memo, Metadata: meta, PendingID: &holdID,
		}
	} else {
		// Posting nothing at all is voiding.
		j.t, j.releaseState = nil, StateVoided
	}
	j.hash = hash
	return []*job{j}, false, nil
}

// postedAmounts returns the postings a hold is posted with: its own, with
// the amounts asked (zero amounts dropped).
func (s *Store) postedAmounts(ctx context.Context, q rowQuerier, hold *Transfer, amounts []decimal.Decimal) ([]Posting, error) {
	if amounts == nil {
		return hold.Postings, nil
	}
	if len(amounts) != len(hold.Postings) {
		return nil, invalid("amounts", "the hold has %d postings; give one amount for each, not %d", len(hold.Postings), len(amounts))
	}
	var out []Posting
	for i, a := range amounts {
		p := hold.Postings[i]
		field := fmt.Sprintf("amounts[%d]", i)
		if a.IsZero() {
			continue
		}
		u, err := s.unit(ctx, q, p.Unit)
		if err != nil {
			return nil, err
		}
		if e := checkAmount(u, a, field); e != nil {
			return nil, e
		}
		if a.GreaterThan(p.Amount) {
			return nil, invalid(field, "%s %s is more than the %s the hold reserved", field, a, p.Amount)
		}
		p.Amount = a
		out = append(out, p)
	}
	return out, nil
}

// VoidPending voids a hold: its reservations are released and nothing moves.
// Voiding a hold already voided returns it unchanged. It returns the hold, or
// ErrUnknownTransfer, or ErrHoldNotPending when it was posted or expired.
func (s *Store) VoidPending(ctx context.Context, holdID uuid.UUID) (Transfer, error) {
	return s.VoidPendingThen(ctx, holdID, nil)
}

// VoidPendingThen is VoidPending, calling then (if not nil) in its
// transaction with the hold it voided.
func (s *Store) VoidPendingThen(ctx context.Context, holdID uuid.UUID, then Then) (Transfer, error) {
	var already *Transfer
	jobs, err := s.execute(ctx, true, func(e *engine) ([]*job, error) {
		var jobs []*job
		var err error
		already, jobs, err = voidJobs(ctx, e, holdID)
		return jobs, err
	}, then)
	if err != nil {
		return Transfer{}, err
	}
	if already != nil {
		return *already, nil
	}
	if jobs[0].releaseState == StateExpired {
		return Transfer{}, newError(ECONFLICT, ReasonHoldExpired, "hold %s had already expired; its reservation is released", holdID)
	}
	return s.Transfer(ctx, holdID)
}

// voidJobs locks a hold and returns the job that voids it (or releases it as
// expired, if its expiry has passed), or the hold itself when it is voided
// already.
func voidJobs(ctx context.Context, e *engine, holdID uuid.UUID) (already *Transfer, jobs []*job, err error) {
	hold, err := e.lockHoldAny(ctx, holdID)
	if err != nil {
		return nil, nil, err
	}
	if hold.State == StateVoided {
		return hold, nil, nil
	}
	if hold.State != StatePending {
		return nil, nil, holdNotPending(hold)
	}
	state := StateVoided
	if hold.ExpiresAt != nil && !hold.ExpiresAt.After(e.now) {
		state = StateExpired
	}
	return nil, []*job{{release: hold, releaseState: state}}, nil
}

// ExpireHolds releases up to limit holds whose expiry has passed and marks
// them expired. It returns how many it expired. Balances never count an
// expired hold even before this runs; the server calls it periodically to
// tidy up.
func (s *Store) ExpireHolds(ctx context.Context, limit int) (int, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT id FROM transfers WHERE state = 'pending' AND expires_at <= $1 ORDER BY expires_at LIMIT $2`, s.clock(), limit)
	if err != nil {
		return 0, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	return s.expire(ctx, ids)
}

// expire releases the given holds if they are still pending and past their
// expiry.
func (s *Store) expire(ctx context.Context, ids []uuid.UUID) (int, error) {
	jobs, err := s.execute(ctx, false, func(e *engine) ([]*job, error) {
		rows, err := e.tx.Query(ctx, `SELECT `+transferColumns+` FROM transfers WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
		if err != nil {
			return nil, err
		}
		holds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Transfer, error) { return scanTransfer(r, nil) })
		if err != nil {
			return nil, err
		}
		var jobs []*job
		for i := range holds {
			h := &holds[i]
			if h.State == StatePending && h.ExpiresAt != nil && !h.ExpiresAt.After(e.now) {
				jobs = append(jobs, &job{release: h, releaseState: StateExpired})
			}
		}
		return jobs, nil
	}, nil)
	return len(jobs), err
}

// RunExpiry calls ExpireHolds every interval until ctx is done, logging
// failures. It is the server's background sweeper.
func (s *Store) RunExpiry(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for {
				n, err := s.ExpireHolds(ctx, 1000)
				if err != nil {
					if ctx.Err() == nil {
						s.log.Error("expiring holds", "err", err)
					}
					break
				}
				if n > 0 {
					s.log.Info("expired holds", "count", n)
				}
				if n < 1000 {
					break
				}
			}
		}
	}
}

// lockHoldAny locks a transfer's row, a hold's usually, whatever its state.
// Transfer rows are locked before any account row: the global lock order is
// transfers, then accounts.
func (e *engine) lockHoldAny(ctx context.Context, id uuid.UUID) (*Transfer, error) {
	h, err := scanTransfer(e.tx.QueryRow(ctx, `SELECT `+transferColumns+` FROM transfers WHERE id = $1 FOR UPDATE`, id), nil)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, unknownTransfer(id)
	}
	if err != nil {
		return nil, err
	}
	return &h, nil
}

func holdNotPending(h *Transfer) *Error {
	if h.PendingID == nil && h.ResolvedAt == nil && h.State == StatePosted {
		return newError(ECONFLICT, ReasonHoldNotPending, "transfer %s is not a hold", h.ID)
	}
	return newError(ECONFLICT, ReasonHoldNotPending, "hold %s is already %s", h.ID, h.State)
}
