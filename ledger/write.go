package ledger

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mutual-ledger/mutual/internal/errs"
)

// CreateTransfer writes one transfer atomically: every posting or none. It
// returns the transfer as written (or, for a replayed idempotency key, as
// first written, with Replayed set), or one of: ErrInvalidRequest,
// ErrUnknownUnit, ErrUnknownAccount, ErrUnitMismatch, ErrTooManyDecimals,
// ErrNonPositiveAmount, ErrSameAccount, ErrAccountFrozen, ErrAccountClosed,
// ErrInsufficientFunds, ErrLimitExceeded, ErrIdempotencyConflict. A refused
// transfer writes nothing.
func (s *Store) CreateTransfer(ctx context.Context, r TransferRequest) (Transfer, error) {
	return s.CreateTransferThen(ctx, r, nil)
}

// CreateTransferThen is CreateTransfer, calling then (if not nil) in its
// transaction with the transfer it wrote (not with a replay).
//
// With group commit on (the default), it may share its transaction with
// other single transfers made at the same time (see group.go); its outcome
// is its own all the same, and it returns only after that transaction's
// COMMIT.
func (s *Store) CreateTransferThen(ctx context.Context, r TransferRequest, then Then) (Transfer, error) {
	if s.gate.groups.max > 0 {
		return s.createGrouped(ctx, r, then)
	}
	res, err := s.CreateTransfersThen(ctx, []TransferRequest{r}, true, then)
	if err != nil {
		// A batch of one, answered as one transfer: no position.
		return Transfer{}, errs.Alone(err)
	}
	return res[0].Transfer, nil
}

// CreateTransfers writes a batch of transfers in one database transaction,
// with a few multi-row statements whatever the batch's size.
//
// If atomic, either every transfer is written or none is: the first refusal
// is returned as the error (an *Error, placed at the transfer's position:
// errs.IndexOf)
// and the results are nil. Otherwise each transfer stands alone: refused ones
// are skipped, the rest are written, and the result at each position says
// which. Transfers apply in order, so a later one may spend what an earlier
// one brought.
func (s *Store) CreateTransfers(ctx context.Context, reqs []TransferRequest, atomic bool) ([]Result, error) {
	return s.CreateTransfersThen(ctx, reqs, atomic, nil)
}

// CreateTransfersThen is CreateTransfers, calling then (if not nil) in its
// transaction with the transfers it wrote, in order (not with replays or
// refused ones).
func (s *Store) CreateTransfersThen(ctx context.Context, reqs []TransferRequest, atomic bool, then Then) ([]Result, error) {
	if len(reqs) == 0 {
		return nil, invalid("transfers", "a batch needs at least one transfer")
	}
	if len(reqs) > MaxBatch {
		return nil, invalid("transfers", "a batch has at most %d transfers, not %d", MaxBatch, len(reqs))
	}
	// Checks that need no rows run once, before the transaction.
	now := s.clock()
	preps := make([]prepared, len(reqs))
	for i := range reqs {
		p, err := s.prepare(ctx, s.db.Pool, &reqs[i], now)
		if err != nil {
			var le *Error
			if !errors.As(err, &le) {
				return nil, err
			}
			if atomic {
				return nil, errs.At(i, le)
			}
			preps[i].err = le
			continue
		}
		preps[i] = p
	}
	return s.writePrepared(ctx, reqs, preps, atomic, then)
}

// writePrepared is CreateTransfersThen once the requests are prepared.
func (s *Store) writePrepared(ctx context.Context, reqs []TransferRequest, preps []prepared, atomic bool, then Then) ([]Result, error) {
	if s.mergeLarge(reqs) && mergeable(reqs) {
		return s.writeMerged(ctx, preps, atomic, then)
	}
	release, large, err := s.admit(ctx, reqs)
	if err != nil {
		return nil, err
	}
	defer release()
	return s.executePrepared(ctx, preps, atomic, then, large)
}

// executePrepared writes prepared transfers in a transaction of their own,
// once admitted. A large batch (early) serializes with the others on their
// accounts' row locks: its transfer rows, which need none of them, are
// written before it takes them (see engine.writeEarly).
func (s *Store) executePrepared(ctx context.Context, preps []prepared, atomic bool, then Then, early bool) ([]Result, error) {
	jobs, err := s.execute(ctx, atomic, func(e *engine) ([]*job, error) {
		jobs := make([]*job, len(preps))
		for i, p := range preps {
			jobs[i] = p.job()
		}
		e.early = early
		return jobs, nil
	}, then)
	if err != nil {
		return nil, err
	}
	return results(jobs), nil
}

// prepared is a transfer request checked before its transaction.
type prepared struct {
	t    Transfer
	hash []byte
	err  error
}

// prepare checks what can be checked of r without its rows and returns the
// transfer to write.
func (s *Store) prepare(ctx context.Context, q rowQuerier, r *TransferRequest, now time.Time) (prepared, error) {
	meta, err := s.checkRequest(ctx, q, r, now)
	if err != nil {
		return prepared{}, err
	}
	exp := utcPtr(r.ExpiresAt)
	state := StatePosted
	if r.Pending {
		state = StatePending
	}
	p := prepared{t: Transfer{
		IdempotencyKey: r.IdempotencyKey, State: state, Postings: r.Postings,
		Memo: r.Memo, Metadata: meta, ExpiresAt: exp,
	}}
	if r.IdempotencyKey != "" {
		p.hash = requestHash("transfer", nil, r.Postings, r.Memo, meta, r.Pending, exp)
	}
	return p, nil
}

// job returns the engine's job for the prepared transfer, with a new id for
// each attempt of the transaction.
func (p prepared) job() *job {
	j := &job{err: p.err}
	if p.err == nil {
		t := p.t
		t.ID = newID()
		j.t, j.hash = &t, p.hash
	}
	return j
}

// mergeLarge reports whether reqs is a large batch (more accounts than the
// hot-account gate takes) that may be merged with others (Config.MergeBatches).
func (s *Store) mergeLarge(reqs []TransferRequest) bool {
	if s.noMerge {
		return false
	}
	seen := make(map[uuid.UUID]struct{}, 4)
	for _, r := range reqs {
		for _, p := range r.Postings {
			seen[p.From], seen[p.To] = struct{}{}, struct{}{}
			if len(seen) > gateMaxAccounts {
				return true
			}
		}
	}
	return false
}

// admit passes a request that touches few accounts through the gate (see
// gate), so that transfers on a hot account queue here rather than on its
// row. Larger batches pass through the batch gate (see batchGate), a few at
// a time; large says which.
func (s *Store) admit(ctx context.Context, reqs []TransferRequest) (release func(), large bool, err error) {
	seen := make(map[uuid.UUID]struct{}, 4)
	for _, r := range reqs {
		for _, p := range r.Postings {
			seen[p.From], seen[p.To] = struct{}{}, struct{}{}
			if len(seen) > gateMaxAccounts {
				release, err = s.batches.acquire(ctx)
				return release, true, err
			}
		}
	}
	release, err = s.gate.acquire(ctx, slices.Collect(maps.Keys(seen)))
	return release, false, err
}

func results(jobs []*job) []Result {
	out := make([]Result, len(jobs))
	for i, j := range jobs {
		switch {
		case j.err != nil:
			out[i].Err = j.err
		case j.result != nil:
			out[i].Transfer = *j.result
		case j.t != nil:
			out[i].Transfer = *j.t
		}
	}
	return out
}

// ReverseRequest asks for the reversal of a posted transfer.
type ReverseRequest struct {
	IdempotencyKey string
	Memo           string
}

// Reverse writes a transfer that undoes a posted one: the same postings with
// from and to swapped, naming the original in Reverses. A transfer is
// reversed at most once (ErrAlreadyReversed); a hold cannot be reversed, it is
// voided (ErrNotReversible). The reversal obeys the accounts' bounds like any
// transfer (ErrInsufficientFunds when the receiver has spent what it got).
func (s *Store) Reverse(ctx context.Context, id uuid.UUID, r ReverseRequest) (Transfer, error) {
	return s.ReverseThen(ctx, id, r, nil)
}

// ReverseThen is Reverse, calling then (if not nil) in its transaction with
// the reversal it wrote (not with a replay).
func (s *Store) ReverseThen(ctx context.Context, id uuid.UUID, r ReverseRequest, then Then) (Transfer, error) {
	if len(r.IdempotencyKey) > MaxKeyLength {
		return Transfer{}, invalid("idempotency_key", "idempotency key is longer than %d characters", MaxKeyLength)
	}
	if len(r.Memo) > MaxMemo {
		return Transfer{}, invalid("memo", "memo is longer than %d characters", MaxMemo)
	}
	jobs, err := s.execute(ctx, true, func(e *engine) ([]*job, error) {
		// Locking the original serializes concurrent reversals of it.
		orig, err := scanTransfer(e.tx.QueryRow(ctx, `SELECT `+transferColumns+` FROM transfers WHERE id = $1 FOR UPDATE`, id), nil)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, unknownTransfer(id)
		}
		if err != nil {
			return nil, err
		}
		j := &job{}
		var hash []byte
		if r.IdempotencyKey != "" {
			// Under the lock, a concurrent retry of this reversal has
			// committed: answer with its result.
			hash = requestHash("reverse", &id, nil, r.Memo, nil, false, nil)
			j.t, j.hash = &Transfer{IdempotencyKey: r.IdempotencyKey}, hash
			if err := e.lookupKeys(ctx, []*job{j}); err != nil || j.err != nil || j.result != nil {
				return []*job{j}, err
			}
		}
		if orig.State != StatePosted {
			return nil, newError(ECONFLICT, ReasonNotReversible, "transfer %s is %s; only a posted transfer can be reversed (a hold is voided)", id, orig.State)
		}
		var by uuid.UUID
		err = e.tx.QueryRow(ctx, `SELECT id FROM transfers WHERE reverses = $1`, id).Scan(&by)
		if err == nil {
			return nil, newError(ECONFLICT, ReasonAlreadyReversed, "transfer %s was already reversed by %s", id, by)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return nil, err
		}
		postings := make([]Posting, len(orig.Postings))
		for i, p := range orig.Postings {
			postings[i] = Posting{From: p.To, To: p.From, Amount: p.Amount, Unit: p.Unit}
		}
		memo := r.Memo
		if memo == "" {
			memo = fmt.Sprintf("reversal of %s", id)
		}
		j.t = &Transfer{
			ID: newID(), IdempotencyKey: r.IdempotencyKey, State: StatePosted,
			Postings: postings, Memo: memo, Reverses: &id,
		}
		j.hash = hash
		return []*job{j}, nil
	}, then)
	return single(jobs, err)
}

// single returns the outcome of a one-job execution.
func single(jobs []*job, err error) (Transfer, error) {
	if err != nil {
		return Transfer{}, errs.Alone(err)
	}
	j := jobs[0]
	switch {
	case j.err != nil:
		return Transfer{}, j.err
	case j.result != nil:
		return *j.result, nil
	case j.t != nil:
		return *j.t, nil
	case j.release != nil:
		return *j.release, nil
	}
	return Transfer{}, errors.New("ledger: empty result")
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC().Truncate(time.Microsecond)
	return &u
}
