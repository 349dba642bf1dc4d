package ledger

import (
	"context"
	"runtime"
)

// batchGate bounds how many large batches (those touching more accounts than
// the hot-account gate takes, gateMaxAccounts) are in the database at once.
//
// Each batch of a hundred transfers locks about two hundred accounts, so two
// batches at once almost always want a row the other holds: past a few, more
// concurrent batches do not write more, they only wait on each other's row
// locks, and every commit wakes a herd of waiters. Measured on 2 cores with
// 32 callers of batches of 100, PostgreSQL spent 237-259 µs of CPU per
// transfer without this bound and 66-97 µs with it (two or four at a
// time), for as many transfers written or more. Four let slightly more
// through than two at 32 callers (3594 and 4619 transfers/s against 3137
// and 2445, alternated, load 9-11), so the default is twice the CPUs: while
// one batch holds its rows and commits, the others prepare and queue for
// them in the database. Like the hot-account gate it is only an admission
// queue inside this process: correctness rests on the row locks. A lone
// batch is never delayed: it waits only for batches already writing.
type batchGate chan struct{}

// newBatchGate returns a gate admitting n batches at once; n <= 0 means
// twice the number of CPUs this process may use, and at least 4.
func newBatchGate(n int) batchGate {
	if n <= 0 {
		n = max(4, 2*runtime.GOMAXPROCS(0))
	}
	return make(batchGate, n)
}

// acquire waits for a place and returns the function that frees it, or
// ctx's error if ctx ends first.
func (g batchGate) acquire(ctx context.Context) (func(), error) {
	select {
	case g <- struct{}{}:
		return func() { <-g }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
