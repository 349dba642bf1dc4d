package ledger

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
)

// door is the way in that group commit (group.go) and merged batches
// (batchmerge.go) share. A caller enters with its member; while fewer than
// the door's limit of groups are being written, it leads one at once (no
// timer: a lone caller waits for nothing); otherwise it waits, to be taken
// into the group a leader forms, or to be handed the lead when a leader
// finishes and nobody took it.
//
// With a quorum above one, a caller leads at once only when nothing is
// being written or only lone members are (as many members as groups): a
// caller that arrives while a group of several is written waits, and
// another group starts beside it only once quorum callers are waiting (the
// first of them leads it), or when a group finishes. Callers answered
// together come back together: the first of them to arrive would
// otherwise find a free place and lead a group of one, and the others
// wait behind it.
type door[M seated] struct {
	mu      sync.Mutex
	waiting []M
	running int
	members int // in the groups being written, leaders included
}

// seat is a member's place at a door, embedded in the member.
type seat struct {
	lead chan struct{} // closed when this member is to lead the next group
	done chan struct{} // closed when the member's answer is final

	taken bool // under door.mu: in a group, or chosen to lead one
}

func newSeat() seat { return seat{lead: make(chan struct{}), done: make(chan struct{})} }

func (s *seat) place() *seat { return s }

// seated is a member with a seat.
type seated interface{ place() *seat }

// enter seats m and returns once its answer is final, having called
// lead(m) if m was to lead a group; or, if ctx ends before m is taken into
// a group or chosen to lead one, it returns ctx's error: m is then in no
// group and nothing was written for it.
func (d *door[M]) enter(ctx context.Context, m M, limit, quorum int, lead func(M)) error {
	s := m.place()
	d.mu.Lock()
	if d.running < limit && (quorum <= 1 || d.members == d.running) {
		d.running++
		d.members++
		s.taken = true
		d.mu.Unlock()
		lead(m)
		<-s.done
		return nil
	}
	d.waiting = append(d.waiting, m)
	if d.running < limit && len(d.waiting) >= quorum {
		d.running++
		d.wake()
	}
	d.mu.Unlock()
	select {
	case <-s.lead:
		lead(m)
	case <-s.done:
	case <-ctx.Done():
		d.mu.Lock()
		if !s.taken {
			d.waiting = slices.DeleteFunc(d.waiting, func(w M) bool { return w.place() == s })
			d.mu.Unlock()
			return ctx.Err()
		}
		d.mu.Unlock()
		// Already in a group, or chosen to lead one: see it through, so
		// that the answer says what happened.
		select {
		case <-s.lead:
			lead(m)
		case <-s.done:
		}
	}
	<-s.done
	return nil
}

// take removes from the front of the queue the members fit accepts, in
// order, stopping at the first it refuses, marks them taken and returns
// them: a leader's group, besides itself.
func (d *door[M]) take(fit func(M) bool) []M {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := 0
	for k < len(d.waiting) && fit(d.waiting[k]) {
		d.waiting[k].place().taken = true
		k++
	}
	d.members += k
	group := slices.Clone(d.waiting[:k])
	d.waiting = slices.Delete(d.waiting, 0, k)
	return group
}

// handOff ends the turn of a leader whose group had n members (itself
// included): the first member waiting leads next, or, with none waiting,
// the leader's place is freed.
func (d *door[M]) handOff(n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.members -= n
	if len(d.waiting) > 0 {
		d.wake()
		return
	}
	d.running--
}

// wake chooses the first member waiting to lead the next group (d.mu held;
// its place is already counted in running).
func (d *door[M]) wake() {
	next := d.waiting[0]
	d.waiting = slices.Delete(d.waiting, 0, 1)
	next.place().taken = true
	d.members++
	close(next.place().lead)
}

// sharedContext returns the context a group's transaction runs in: it
// keeps the first's values and ends only when every one of ctxs has ended,
// so that a caller who gives up does not fail the others.
func sharedContext(ctxs []context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctxs[0]))
	var left atomic.Int64
	left.Store(int64(len(ctxs)))
	stops := make([]func() bool, len(ctxs))
	for i, c := range ctxs {
		stops[i] = context.AfterFunc(c, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}
