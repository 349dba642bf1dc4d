package pgtx

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
)

// Fault injection makes PostgreSQL behave the way CockroachDB does under
// contention, so that the code above this package is exercised on the paths
// CockroachDB takes far more often: a transaction asked to restart (SQLSTATE
// 40001) at any statement or at COMMIT, and a connection lost while COMMIT
// was in flight, leaving the outcome unknown. It is off unless
// DB.InjectFaults turns it on, and applies to PostgreSQL only (CockroachDB
// produces these failures by itself).
//
// Every injected failure is real, not simulated: a 40001 is raised by the
// server (a DO block that raises serialization_failure), so the transaction
// really is aborted and the caller sees the server's *pgconn.PgError; a cut
// connection is really closed, either after COMMIT succeeded or before it
// was sent, so both outcomes of an ambiguous commit occur.

// faultSQL makes the server fail the transaction with serialization_failure,
// as a concurrent transaction would.
const faultSQL = `DO $$BEGIN RAISE EXCEPTION USING ERRCODE = 'serialization_failure', MESSAGE = 'pgtx: injected serialization failure (fault injection is on)'; END$$`

// errInjectedCut is the cause of an injected ambiguous commit.
var errInjectedCut = errors.New("pgtx: connection cut by fault injection while COMMIT was in flight")

// EnvFaults names the environment variable that holds the share of
// injected failures for the programs and test targets that read it (mutual
// serve, make test-faults); this package does not read the environment.
const EnvFaults = "MUTUAL_FAULTS"

// ParseFaultRate parses a share of injected failures such as "0.2": a
// number from 0 (off) up to, but not including, 1.
func ParseFaultRate(s string) (float64, error) {
	r, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(r) || r < 0 || r >= 1 {
		return 0, errors.New("the share of injected failures must be a number from 0 up to (not including) 1, e.g. 0.2")
	}
	return r, nil
}

// InjectFaults turns fault injection on at rate (0 turns it off): each round
// trip a transaction makes to the server (a statement or a batch) fails with
// 40001 with probability rate, and so does each COMMIT; a COMMIT that draws
// a failure fails in one of three ways with equal odds: 40001 (nothing
// committed), the connection cut before COMMIT was sent (nothing committed,
// reported as ErrAmbiguousCommit), or the connection cut after COMMIT
// succeeded (committed, reported as ErrAmbiguousCommit). It may be called at
// any time, also while transactions run; those running may see either rate.
func (db *DB) InjectFaults(rate float64) {
	db.faults.rate.Store(math.Float64bits(max(0, min(rate, 1))))
}

// Stats counts what a DB did since it was made.
type Stats struct {
	// Transactions is the number of calls of Run.
	Transactions int64
	// Retries is the number of attempts that failed and were run again.
	Retries int64
	// Ambiguous is the number of calls of Run that returned
	// ErrAmbiguousCommit.
	Ambiguous int64
	// Injected is the number of failures fault injection caused: 40001s
	// at statements and at COMMIT, and cut connections.
	Injected int64
	// InjectedCuts is how many of those were cut connections, and
	// CutsCommitted how many of the cuts came after a COMMIT that succeeded.
	InjectedCuts, CutsCommitted int64
}

// Stats returns the DB's counters.
func (db *DB) Stats() Stats {
	c := &db.stats
	return Stats{
		Transactions: c.transactions.Load(), Retries: c.retries.Load(), Ambiguous: c.ambiguous.Load(),
		Injected: c.injected.Load(), InjectedCuts: c.cuts.Load(), CutsCommitted: c.cutsCommitted.Load(),
	}
}

type counters struct {
	transactions, retries, ambiguous, injected, cuts, cutsCommitted atomic.Int64
}

// faults holds the rate of injected failures (a float64's bits; 0 is off).
type faults struct {
	rate atomic.Uint64
}

// injector returns what one attempt uses to inject failures, or nil when
// injection is off.
func (f *faults) injector(c *counters) *injector {
	rate := math.Float64frombits(f.rate.Load())
	if rate <= 0 {
		return nil
	}
	return &injector{rate: rate, stats: c}
}

// injector decides, for one attempt, which round trips fail.
type injector struct {
	rate  float64
	stats *counters
}

// commitFault is what happens to a COMMIT.
type commitFault int

const (
	commitNormally  commitFault = iota
	commitFails                 // 40001 raised just before COMMIT, in its round trip
	cutBeforeCommit             // the connection closed instead of sending COMMIT
	cutAfterCommit              // the connection closed after COMMIT succeeded
)

// statement reports whether the next round trip fails.
func (in *injector) statement() bool {
	if in == nil || rand.Float64() >= in.rate {
		return false
	}
	in.stats.injected.Add(1)
	return true
}

// commit draws the fate of a COMMIT.
func (in *injector) commit() commitFault {
	if in == nil || rand.Float64() >= in.rate {
		return commitNormally
	}
	in.stats.injected.Add(1)
	f := commitFault(1 + rand.IntN(3))
	if f != commitFails {
		in.stats.cuts.Add(1)
	}
	return f
}

// fail makes the server abort the transaction with 40001 and returns the
// server's error, beginning the transaction first if it has not begun.
func (tx *Tx) fail(ctx context.Context) error {
	_, err := tx.exec(ctx, faultSQL)
	if err == nil {
		return errors.New("pgtx: the injected serialization failure did not fail")
	}
	return err
}
