package ledger

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/mutual-ledger/mutual/internal/errs"
	"github.com/mutual-ledger/mutual/internal/pgtx"
)

// Merged batches. Large batches (see batchGate) of random transfers share
// accounts with one another, so they serialize on row locks: each pays its
// own lock statement, its own WAL flush at COMMIT, its round trips and the
// hand-off of the locks to the next. Batches queued at the batch gate are
// therefore written together, the way group commit (group.go) writes single
// transfers: one lock statement for the union of their accounts, one write
// and one COMMIT, each caller keeping its own outcome.
//
//  1. A batch enters the merge door. If fewer groups than the batch gate's
//     places are running, its caller leads a group at once (a lone batch
//     waits for nothing, there is no timer); otherwise it queues.
//  2. A leader takes a place in the batch gate and, if the group formed
//     before its own is still taking its locks, waits until it has them
//     and its writes are queued (see batchQueue.stage). It then takes itself and
//     whatever is queued by then (at most maxMergedBatches batches and
//     maxMergedTransfers transfers) and runs them in one transaction of the
//     retry helper. The engine locks every account of the group in id order
//     and applies the batches in queue order, each transfer in order within
//     its batch. An atomic batch with a refused transfer is undone alone:
//     its accounts are restored and the write set cut back to where it was
//     before it, and its caller gets the refusal at its position; a refused
//     transfer of an independent batch is skipped alone.
//  3. Every caller is answered only after the shared COMMIT. A restart runs
//     the whole group again (new ids, same order). An outcome the group
//     shares by nature (COMMIT outcome unknown, database unavailable,
//     deadlines passed) is given to all; any other failure of the group's
//     transaction wrote nothing, and each batch then runs alone, as it would
//     unmerged.
//
// Each batch's Then runs in the shared transaction on that batch's written
// transfers; a Then that fails is answered with its error and the group
// runs again without that batch, so that it fails only its own caller.
// Batches with idempotency keys are not merged (they run alone, as
// before): keys are looked up under the locks and may answer with a replay.

const (
	maxMergedBatches   = 4
	maxMergedTransfers = 400
)

// batchQueue is the merge door in front of the batch gate.
type batchQueue struct {
	door[*batchMember]

	// ahead is closed once the group formed last has its locks and its
	// writes queued, or has ended (see stage).
	mu    sync.Mutex
	ahead chan struct{}

	groups, merged atomic.Int64
}

// stage registers a new group behind the one formed last. It returns what
// closes when that group has taken its locks and queued its writes (nil if
// there is none), and the function that says so of this one (safe to call
// more than once).
//
// A leader waits for that before forming its group. Two groups of random
// transfers almost always share an account, so a group cannot take its
// locks before the group ahead commits; what it can do before (write its
// transfers early, take the first of its locks) it still does while the
// group ahead writes and commits. A leader that formed its group as soon
// as it had a place (while the group ahead was only starting to take its
// locks) carried whoever had come back by then, often itself alone, and
// each group pays a COMMIT's flush and a locked round trip whatever it
// carries: at 8 callers of batches of 100, groups of 1, 2, 3 and 4 batches
// came 15, 32, 35 and 54 times; formed at this point, 8, 2, 0 and 97 times.
// The price is for batches on disjoint accounts, which could have taken
// their locks side by side: the second now waits for the first's locks
// (never for its COMMIT). A leader with no group ahead still taking its
// locks waits for nothing.
func (q *batchQueue) stage() (ahead <-chan struct{}, sent func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	ahead = q.ahead
	mine := make(chan struct{})
	q.ahead = mine
	var once sync.Once
	return ahead, func() { once.Do(func() { close(mine) }) }
}

// batchMember is one caller's batch in the merge door.
type batchMember struct {
	ctx    context.Context
	preps  []prepared
	atomic bool
	then   Then

	seat // its place at the door; done closes when the answer below is final

	res   []Result
	err   error
	alone bool
}

// MergeStats counts the transactions that carried two or more large
// batches (Groups) and the batches they carried (Batches).
type MergeStats struct{ Groups, Batches int64 }

// MergeStats returns the store's batch-merging counters.
func (s *Store) MergeStats() MergeStats {
	return MergeStats{Groups: s.merge.groups.Load(), Batches: s.merge.merged.Load()}
}

// mergeable reports whether a large batch may share its transaction.
func mergeable(reqs []TransferRequest) bool {
	for i := range reqs {
		if reqs[i].IdempotencyKey != "" {
			return false
		}
	}
	return true
}

// writeMerged writes a large prepared batch through the merge door.
func (s *Store) writeMerged(ctx context.Context, preps []prepared, atomic bool, then Then) ([]Result, error) {
	m := &batchMember{seat: newSeat(), ctx: ctx, preps: preps, atomic: atomic, then: then}
	if err := s.merge.enter(ctx, m, cap(s.batches), 1, s.leadBatches); err != nil {
		return nil, err // never in a group: nothing written
	}
	if m.alone {
		return s.writeAlone(ctx, preps, atomic, then)
	}
	return m.res, m.err
}

// writeAlone writes a prepared large batch in a transaction of its own.
func (s *Store) writeAlone(ctx context.Context, preps []prepared, atomic bool, then Then) ([]Result, error) {
	release, err := s.batches.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return s.executePrepared(ctx, preps, atomic, then, true)
}

// leadBatches takes a place in the batch gate, waits until the group
// ahead has its locks (see stage), takes first and what is queued behind
// it as a group, writes it, and hands the lead on. If first's context ends
// while it waits, first is answered with that error and nothing is written.
func (s *Store) leadBatches(first *batchMember) {
	q := &s.merge
	release, err := s.batches.acquire(first.ctx)
	if err != nil {
		first.err = err // nothing written
		close(first.done)
		q.handOff(1)
		return
	}
	ahead, sent := q.stage()
	if ahead != nil {
		select {
		case <-ahead:
		case <-first.ctx.Done():
			first.err = first.ctx.Err() // nothing written
			close(first.done)
			// The group behind forms when the one ahead has its locks,
			// as it would have behind this one.
			go func() { <-ahead; sent() }()
			release()
			q.handOff(1)
			return
		}
	}
	batches, transfers := 1, len(first.preps)
	group := append([]*batchMember{first}, q.take(func(w *batchMember) bool {
		if batches == maxMergedBatches || transfers+len(w.preps) > maxMergedTransfers {
			return false
		}
		batches, transfers = batches+1, transfers+len(w.preps)
		return true
	})...)
	if len(group) > 1 {
		q.groups.Add(1)
		q.merged.Add(int64(len(group)))
	}
	s.commitBatches(group, sent)
	sent()
	release()
	q.handOff(len(group))
}

// commitBatches writes a group of batches and answers each caller. A
// batch whose Then fails is answered with that error and the group runs
// again without it, as group commit does for a single transfer's Then.
// sent is called once the group holds its locks and its ledger writes
// are queued to go with COMMIT, before the batches' Thens.
func (s *Store) commitBatches(group []*batchMember, sent func()) {
	ctxs := make([]context.Context, len(group))
	for i, m := range group {
		ctxs[i] = m.ctx
	}
	ctx, stop := sharedContext(ctxs)
	defer stop()
	live := group
	for len(live) > 0 {
		segs := make([]*segment, len(live))
		err := s.Within(ctx, func(tx *pgtx.Tx, lt *Tx) error {
			if lt.used {
				return ErrOneChange
			}
			lt.used = true
			for i, m := range live {
				jobs := make([]*job, len(m.preps))
				for k, p := range m.preps {
					jobs[k] = p.job()
				}
				segs[i] = &segment{jobs: jobs, atomic: m.atomic}
			}
			e := &engine{s: lt.s, tx: lt.tx, now: lt.s.clock(), early: true}
			if err := e.runSegments(ctx, segs); err != nil {
				return err
			}
			sent() // the group's own writes wait for COMMIT; Thens come after
			for i, m := range live {
				if m.then == nil || segs[i].err != nil {
					continue
				}
				if w := written(segs[i].jobs); len(w) > 0 {
					if err := m.then(ctx, tx, w); err != nil {
						return &thenError{member: i, err: err}
					}
				}
			}
			return nil
		})
		var te *thenError
		switch {
		case err == nil:
			for i, m := range live {
				if segs[i].err != nil {
					m.err = segs[i].err
				} else {
					m.res = results(segs[i].jobs)
				}
				close(m.done)
			}
			return
		case errors.As(err, &te):
			m := live[te.member]
			m.err = s.translate(te.err)
			close(m.done)
			live = slices.Delete(slices.Clone(live), te.member, te.member+1)
		case len(live) == 1 || sharedOutcome(err):
			for _, m := range live {
				m.err = err
				close(m.done)
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

// segment is one batch of a merged group in the engine.
type segment struct {
	jobs   []*job
	atomic bool
	err    error // an atomic batch's refusal, at its position
}

// runSegments is run for a group of batches without idempotency keys: one
// lock of the union of their accounts, each batch applied in order, an
// atomic batch with a refusal undone alone, and one write.
func (e *engine) runSegments(ctx context.Context, segs []*segment) error {
	var all []*job
	for _, sg := range segs {
		all = append(all, sg.jobs...)
	}
	if err := e.lock(ctx, all); err != nil {
		return err
	}
	e.writes.grow(all)
	var saved []account // an atomic batch's accounts as they were before it
	for k, sg := range segs {
		if sg.atomic {
			if i := slices.IndexFunc(sg.jobs, func(j *job) bool { return j.err != nil }); i >= 0 {
				sg.err = errs.At(i, sg.jobs[i].err)
				continue
			}
		}
		// The checkpoint: the write set's slices as they are (later
		// appends only grow them) and the accounts the batch may touch,
		// each saved once (saved marks it with the batch's number).
		mark := e.writes
		saved = saved[:0]
		if sg.atomic {
			for _, j := range sg.jobs {
				for _, p := range j.t.Postings {
					for _, a := range [2]*account{e.accts[p.From], e.accts[p.To]} {
						if a != nil && a.saved != k+1 {
							saved = append(saved, *a)
							a.saved = k + 1
						}
					}
				}
			}
		}
		for i, j := range sg.jobs {
			if j.err != nil {
				continue
			}
			err := e.apply(ctx, j)
			if err == nil {
				continue
			}
			var le *Error
			if !errors.As(err, &le) {
				return err
			}
			if !sg.atomic {
				j.err = le
				continue
			}
			for _, a := range saved {
				*e.accts[a.id] = a
			}
			e.writes = mark
			sg.err = errs.At(i, le)
			break
		}
	}
	return e.write(ctx)
}
