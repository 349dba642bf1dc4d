package ledger

import (
	"context"
	"slices"
	"sync"

	"github.com/google/uuid"
)

// gate queues, inside this process, the small transactions that are about to
// lock the same accounts, so that a hot account (the community pool that half
// the transfers credit) has one transaction waiting on its row in the
// database instead of dozens.
//
// Without it every waiter sleeps on the row lock holder's transaction, and
// each commit wakes them all to race for the row again: on a small machine
// that herd, not the work, bounds a hot account's throughput. The gate hands
// each account over first come, first served, to one waiter at a time.
//
// It is only an admission queue: correctness still rests on the row locks
// taken in the database (other processes and batches do not pass through the
// gate). Accounts are acquired in id order, the same global order as the row
// locks, so gates cannot deadlock with each other or with the database.
//
// Single transfers take the gate's other door when group commit is on (the
// default; see group.go): instead of queueing per account, one transfer at a
// time, they queue together, and whoever finds a free slot leads everything
// queued at that moment into one transaction. That does for every account
// what the per-account queue did for the hot one (at most groups.max
// transactions at once, so at most that many ever wait on a row) and also
// shares one transaction's round trips and COMMIT among many transfers.
// Batches, holds posted or voided, and single transfers when group commit is
// off still use the per-account door.
type gate struct {
	mu   sync.Mutex
	busy map[uuid.UUID]*gateQueue

	groups groupQueue // the group-commit door; see group.go
}

type gateQueue struct {
	waiters []chan struct{}
}

// gateMaxAccounts is the most accounts a transaction may touch and still pass
// through the gate: large batches go straight to the database, where holding
// many gates at once would only serialize them.
const gateMaxAccounts = 8

func newGate(maxGroups int) *gate {
	return &gate{busy: make(map[uuid.UUID]*gateQueue), groups: groupQueue{max: maxGroups}}
}

// acquire waits until the caller holds every account of ids, in id order,
// and returns the function that releases them. It returns ctx's error if ctx
// ends first, holding nothing.
func (g *gate) acquire(ctx context.Context, ids []uuid.UUID) (func(), error) {
	ids = slices.Clone(ids)
	slices.SortFunc(ids, compareUUID)
	ids = slices.Compact(ids)
	held := 0
	release := func() {
		for i := held - 1; i >= 0; i-- {
			g.release(ids[i])
		}
	}
	for _, id := range ids {
		if err := g.take(ctx, id); err != nil {
			release()
			return nil, err
		}
		held++
	}
	return release, nil
}

func (g *gate) take(ctx context.Context, id uuid.UUID) error {
	g.mu.Lock()
	q, ok := g.busy[id]
	if !ok {
		g.busy[id] = &gateQueue{}
		g.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	q.waiters = append(q.waiters, ch)
	g.mu.Unlock()
	select {
	case <-ch:
		return nil // handed over by release
	case <-ctx.Done():
		g.mu.Lock()
		defer g.mu.Unlock()
		select {
		case <-ch:
			// Handed over just as ctx ended: pass it on.
			g.releaseLocked(id)
		default:
			q.waiters = slices.DeleteFunc(q.waiters, func(w chan struct{}) bool { return w == ch })
		}
		return ctx.Err()
	}
}

func (g *gate) release(id uuid.UUID) {
	g.mu.Lock()
	g.releaseLocked(id)
	g.mu.Unlock()
}

func (g *gate) releaseLocked(id uuid.UUID) {
	q := g.busy[id]
	if len(q.waiters) == 0 {
		delete(g.busy, id)
		return
	}
	next := q.waiters[0]
	q.waiters = q.waiters[1:]
	close(next)
}
