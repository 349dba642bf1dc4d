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
// time), for as many transfers written or more.
//
// Since large batches write their transfer rows before taking their locks
// (engine.writeEarly), one batch inside its locked window and one more
// writing its transfers and queueing for the rows keep the database busy:
// a third or fourth in the database only holds the first rows of its own
// set while it waits, and the batch next in line then waits for it too.
// Measured on 2 shared cores (load 5-8, 100-transfer batches, alternated
// in one run, 8 pairs at 8 and 32 callers), two at once against four:
// PostgreSQL's CPU per transfer 81-90 µs against 85-120 µs, and
// transfers/s higher with two in six pairs, within 1% in one, lower in
// one (the machine's load moved throughput by up to 3 times between runs).
// So the default is the number of CPUs, at least 2; not measured on more
// cores. Like the hot-account gate it is only an admission queue inside
// this process: correctness rests on the row locks. A lone batch is never
// delayed: it waits only for batches already writing.
type batchGate chan struct{}

// newBatchGate returns a gate admitting n batches at once; n <= 0 means
// the number of CPUs this process may use, and at least 2.
func newBatchGate(n int) batchGate {
	if n <= 0 {
		n = max(2, runtime.GOMAXPROCS(0))
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
