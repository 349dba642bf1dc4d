package ledger

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/internal/errs"
	"github.com/mutual-ledger/mutual/internal/pgtx"
)

// Group commit. Single transfers (CreateTransfer, CreateTransferThen) that
// arrive while others are being written are written together, in one
// transaction, as a batch of independent transfers is:
//
//  1. A transfer is checked (prepare) in its caller's goroutine, then enters
//     the gate's group door. If nothing is being written, or only lone
//     transfers are and fewer than groupQueue.max groups run, its caller
//     leads a group at once: a lone transfer waits for nothing, there is no
//     timer. Otherwise it queues; beside a group of several, another group
//     starts once groupQuorum transfers are queued (see door).
//  2. A leader takes whatever is queued when it starts (at most maxGroup
//     transfers, itself first) and runs them through the engine in one
//     transaction of the retry helper (db.Run via Within). The engine locks
//     every account of the group in id order, the same global order as
//     every other transaction, and decides each transfer in Go under those
//     locks, in queue order, on balances read FOR UPDATE: a refused transfer
//     (insufficient funds, unknown account, an idempotency key used for
//     another request, limits...) is skipped with its reason and the others
//     are written. Nothing refused is left for SQL to find, so one transfer
//     cannot fail the others' statements. Each member's Then runs in the same
//     transaction, on its own transfer only.
//  3. Every member is answered only after the shared COMMIT: with its
//     transfer or its refusal when it succeeded. A restart (serialization
//     failure, a connection lost before COMMIT, a key a concurrent
//     transaction committed first) runs the whole group again, with the
//     retry helper, as it would a lone transfer. An outcome that the group
//     shares by nature (a COMMIT whose outcome is unknown, the database
//     unavailable, the deadline passed for all) is given to every member,
//     exactly as a lone transfer would have been given it. Any other failure
//     of the group's transaction is certain to have written nothing; the
//     members then each run in a transaction of their own, as with group
//     commit off, so that whatever failed fails only its own caller. A
//     member's Then that fails takes only that member out: the group runs
//     again without it, and it gets the error.
//  4. The leader then hands the lead to the first transfer queued behind its
//     group, which takes the queue as its group, and returns.
//
// Since transfers apply in queue order, a transfer may spend what another
// in its group brought, as it could had the other committed just before it.
// Idempotency works as for a batch: a key already stored answers with its
// transfer; the same key twice in one group makes the second follow the
// first (a replay of it, or the same refusal).

// maxGroup bounds a group's transfers, so that one transaction's row locks
// and writes stay short.
const maxGroup = 128

// DefaultGroups is how many group transactions run at once unless
// Config.Groups says otherwise. Two keep the database busy while a group is
// between round trips, and bound to one the transactions that wait on a hot
// account's row: the hot-account gate's purpose. More only lengthen the
// queue on hot rows and split groups that would have shared a COMMIT.
// Measured on 2 shared cores (load average 13; go test -run '^$' -bench
// TransferGroups -benchtime 5000x ./ledger/), transfers/s at 32 clients,
// uniform / hot account: off 665 / 273; 1 group 1485 / 1494; 2 groups 1806
// / 1769; 4 groups 1782 / 1181. Not measured on more cores.
const DefaultGroups = 2

// groupQuorum is how many transfers must be queued, while a group of
// several is written, for another group to start beside it rather than wait
// for it to finish. Without it, at 8 callers 42-49% of the transactions
// carried one transfer: the callers a group answers come back one after
// another, and the first leads alone into the free place. Medians of four
// alternated runs here (go test -run '^$' -bench TransferGroups/groups=2
// -benchtime 10000x ./ledger/, transfers/s; without / with a quorum of 4):
// uniform 5,250 / 6,145 at 8 callers, 6,893 / 7,568 at 16, 9,185 / 9,044 at
// 32; hot account 3,564 / 3,783, 5,145 / 5,506, 7,485 / 7,934; at 2 and 4
// callers alike (two lone transfers still run side by side). Waiting for 4
// even beside a lone transfer lost 20-25% at 2 callers.
const groupQuorum = 4

// groupQueue is the gate's group-commit door.
type groupQueue struct {
	max int // groups running at once; 0 turns group commit off
	door[*member]

	groups, alone, grouped, largest, split atomic.Int64
}

// member is one caller's transfer in the group door.
type member struct {
	ctx  context.Context
	req  TransferRequest
	p    prepared
	then Then

	seat // its place at the door; done closes when the answer below is final

	res   Transfer
	err   error
	alone bool // instead of an answer: run in a transaction of its own
}

// GroupStats counts what group commit did since the store was made.
type GroupStats struct {
	// Groups is the number of transactions that carried two or more single
	// transfers, and Grouped the transfers they carried.
	Groups, Grouped int64
	// Alone is the number of single transfers that found nobody to share
	// their transaction with.
	Alone int64
	// Largest is the most transfers one transaction carried.
	Largest int64
	// Split is the number of transactions in which some transfers were
	// refused while the others committed.
	Split int64
}

// GroupStats returns the store's group-commit counters (all zero when group
// commit is off).
func (s *Store) GroupStats() GroupStats {
	q := &s.gate.groups
	return GroupStats{Groups: q.groups.Load(), Grouped: q.grouped.Load(), Alone: q.alone.Load(), Largest: q.largest.Load(), Split: q.split.Load()}
}

func (q *groupQueue) count(n int) {
	if n == 1 {
		q.alone.Add(1)
		return
	}
	q.groups.Add(1)
	q.grouped.Add(int64(n))
	for {
		l := q.largest.Load()
		if int64(n) <= l || q.largest.CompareAndSwap(l, int64(n)) {
			return
		}
	}
}

// createGrouped is CreateTransferThen through the group door.
func (s *Store) createGrouped(ctx context.Context, r TransferRequest, then Then) (Transfer, error) {
	p, err := s.prepare(ctx, s.db.Pool, &r, s.clock())
	if err != nil {
		return Transfer{}, err
	}
	m := &member{seat: newSeat(), ctx: ctx, req: r, p: p, then: then}
	if err := s.gate.groups.enter(ctx, m, s.gate.groups.max, groupQuorum, s.lead); err != nil {
		return Transfer{}, err // never in a group: nothing written
	}
	if m.alone {
		return s.createAlone(ctx, m.req, m.p, m.then)
	}
	return m.res, m.err
}

// createAlone writes one prepared transfer in a transaction of its own,
// through the per-account door: the path of a single transfer with group
// commit off.
func (s *Store) createAlone(ctx context.Context, r TransferRequest, p prepared, then Then) (Transfer, error) {
	res, err := s.writePrepared(ctx, []TransferRequest{r}, []prepared{p}, true, then)
	if err != nil {
		// A batch of one, answered as one transfer: no position.
		return Transfer{}, errs.Alone(err)
	}
	return res[0].Transfer, nil
}

// lead takes first and whatever is queued behind it as a group, writes it,
// and hands the lead on.
func (s *Store) lead(first *member) {
	q := &s.gate.groups
	n := 1
	group := append([]*member{first}, q.take(func(*member) bool { n++; return n <= maxGroup })...)
	q.count(len(group))
	s.commitGroup(group)
	q.handOff(len(group))
}

// thenError is a member's Then failing inside the group's transaction.
type thenError struct {
	member int
	err    error
}

func (e *thenError) Error() string { return e.err.Error() }
func (e *thenError) Unwrap() error { return e.err }

// commitGroup writes a group and answers each member (see the steps above).
func (s *Store) commitGroup(group []*member) {
	ctx, stop := groupContext(group)
	defer stop()
	answer := func(m *member, t Transfer, err error) {
		m.res, m.err = t, err
		close(m.done)
	}
	live := group
	for len(live) > 0 {
		jobs, err := s.runGroup(ctx, live)
		var te *thenError
		switch {
		case err == nil:
			refused := 0
			for i, r := range results(jobs) {
				if r.Err != nil {
					refused++
				}
				answer(live[i], r.Transfer, r.Err)
			}
			if refused > 0 && refused < len(live) {
				s.gate.groups.split.Add(1)
			}
			return
		case errors.As(err, &te):
			answer(live[te.member], Transfer{}, errs.Alone(s.translate(te.err)))
			live = slices.Delete(slices.Clone(live), te.member, te.member+1)
		case len(live) == 1:
			answer(live[0], Transfer{}, errs.Alone(err))
			return
		case sharedOutcome(err):
			for _, m := range live {
				answer(m, Transfer{}, errs.Alone(err))
			}
			return
		default:
			for _, m := range live {
				m.alone = true
				close(m.done)
			}
			return
		}
	}
}

// sharedOutcome reports whether a failed group transaction's error is one a
// lone transfer in the same place would have got too, whatever the other
// members: the COMMIT's outcome unknown, the database unreachable, the
// retries exhausted, the members' deadlines passed. Any other error is
// certain to have written nothing, and may be one member's doing.
func sharedOutcome(err error) bool {
	return errors.Is(err, pgtx.ErrAmbiguousCommit) || errors.Is(err, pgtx.ErrCommittedAnyway) ||
		errors.Is(err, pgtx.ErrUnavailable) || errors.Is(err, pgtx.ErrTooManyRetries) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// runGroup runs the group's transfers as one independent batch in one
// transaction, with each member's Then on its own transfer.
func (s *Store) runGroup(ctx context.Context, live []*member) ([]*job, error) {
	var jobs []*job
	early := sharesAccount(live)
	err := s.Within(ctx, func(tx *pgtx.Tx, lt *Tx) error {
		var err error
		jobs, err = lt.execute(ctx, false, func(e *engine) ([]*job, error) {
			e.early = early
			jobs := make([]*job, len(live))
			for i, m := range live {
				jobs[i] = m.p.job()
			}
			return jobs, nil
		})
		if err != nil {
			return err
		}
		for i, m := range live {
			if m.then == nil {
				continue
			}
			if w := written(jobs[i : i+1]); len(w) > 0 {
				if err := m.then(ctx, tx, w); err != nil {
					return &thenError{member: i, err: err}
				}
			}
		}
		return nil
	})
	return jobs, err
}

// sharesAccount reports whether one account is touched by at least half of
// the group's transfers (two at least): a hot one (a community pool, a
// fund), on whose row lock each group waits for the one before it. Such a
// group writes its transfer rows before it takes the locks
// (engine.writeEarly), in the same round trip, so that it holds the hot row
// for less time: the next group, blocked on that row, starts sooner. A
// group of unrelated transfers, or one that shares an account by chance,
// keeps the plain path, where the rows cost less written under the locks.
// Alternated runs here (go test -run '^$' -bench TransferGroups/groups=2
// -benchtime 10000x ./ledger/), six pairs, transfers/s with the hot
// account's rows written first against without: at 32 callers 17% to 70%
// more in every pair (6,500-10,726 against 5,539-7,600), at 8 callers -11%
// to +27% (mean +10%); PostgreSQL's CPU per transfer alike or lower at 32
// callers, from 5% lower to 46% higher at 8 (the pairs differ). Writing
// every group's rows first cost uniform transfers 10-24% at 8 callers
// (PostgreSQL's CPU per transfer 257 and 211 µs against 177 and 172).
func sharesAccount(group []*member) bool {
	type count struct{ n, last int } // transfers, and the last to touch it
	touched := make(map[uuid.UUID]count, 2*len(group))
	for i, m := range group {
		for _, p := range m.req.Postings {
			for _, id := range [2]uuid.UUID{p.From, p.To} {
				c := touched[id]
				if c.n > 0 && c.last == i {
					continue // counted for this transfer already
				}
				c = count{c.n + 1, i}
				touched[id] = c
				if c.n >= 2 && 2*c.n >= len(group) {
					return true
				}
			}
		}
	}
	return false
}

// groupContext returns the context a group's transaction runs in: it keeps
// the leader's values but ends only when every member's context has ended,
// so that a caller who gives up does not fail the others.
func groupContext(group []*member) (context.Context, func()) {
	ctxs := make([]context.Context, len(group))
	for i, m := range group {
		ctxs[i] = m.ctx
	}
	return sharedContext(ctxs)
}
