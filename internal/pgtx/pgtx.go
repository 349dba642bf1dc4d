// Package pgtx is Mutual's one way to run a read-write transaction: every
// attempt is a fresh transaction, the COMMIT's outcome is checked, and
// serialization failures and deadlocks are retried with jittered backoff, so
// that callers never see them and never get an acknowledgement for a
// transaction the database rolled back.
package pgtx

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/cockroachdb/cockroach-go/v2/crdb"
	crdbpgx "github.com/cockroachdb/cockroach-go/v2/crdb/crdbpgxv5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrAmbiguousCommit is returned when the connection failed while COMMIT was
// in flight: the transaction may or may not have committed. A caller that
// sent an idempotency key can safely retry with the same key.
var ErrAmbiguousCommit = errors.New("pgtx: the transaction's outcome is unknown (connection lost during COMMIT)")

// ErrRolledBack is returned when COMMIT answered ROLLBACK: the transaction had
// failed earlier and the function ignored that error. Nothing was written.
var ErrRolledBack = errors.New("pgtx: the transaction was rolled back at COMMIT")

// ErrCommittedAnyway is returned, wrapping the check's error, when a check
// given to Tx.Defer refused writes that had succeeded: COMMIT travelled with
// them, and the transaction committed. It means a bug, never a retry.
var ErrCommittedAnyway = errors.New("pgtx: a deferred check failed, but the transaction committed")

// ErrTooManyRetries is returned, wrapping the last failure, when a
// transaction still failed with a retryable error after MaxAttempts attempts.
var ErrTooManyRetries = errors.New("pgtx: transaction retried too many times")

// EnvIsolation names the environment variable that, set to
// "serializable", makes the programs and test targets that read it (mutual
// serve, the tests' database server) run every transaction SERIALIZABLE, by
// making it the sessions' default isolation, which New honours (see
// DB.MinIsolation).
const EnvIsolation = "MUTUAL_ISOLATION"

// IsolationSettings returns the session settings that the value v of
// MUTUAL_ISOLATION asks for: none for "" or "read committed" (PostgreSQL's
// default), default_transaction_isolation for "serializable", and an error
// naming the variable for anything else.
func IsolationSettings(v string) (map[string]string, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "read committed":
		return nil, nil
	case "serializable":
		return map[string]string{"default_transaction_isolation": "serializable"}, nil
	}
	return nil, fmt.Errorf(`%s=%q: want "serializable" or "read committed"`, EnvIsolation, v)
}

// Options set how one transaction runs.
type Options struct {
	// Isolation is the isolation level; the zero value is READ COMMITTED.
	Isolation pgx.TxIsoLevel
	// ReadOnly starts the transaction READ ONLY.
	ReadOnly bool
}

// Attempt describes one failed attempt, for metrics and tests.
type Attempt struct {
	N        int   // 1 for the first attempt
	Err      error // what failed
	AtCommit bool  // the failure was reported by COMMIT itself
}

// DB runs transactions on a pool. It is safe for concurrent use.
type DB struct {
	// Pool is the pool, for reads outside a transaction; its queries
	// report an unreachable database as ErrUnavailable.
	Pool *Pool

	// MaxAttempts bounds the attempts of one transaction (default 100). The
	// context's deadline bounds them too.
	MaxAttempts int
	// BaseDelay and MaxDelay shape the exponential, jittered backoff between
	// attempts (defaults 1 ms and 100 ms).
	BaseDelay, MaxDelay time.Duration
	// OnRetry, if set, is called after each attempt that failed with a
	// retryable error and will be tried again.
	OnRetry func(Attempt)
	// MinIsolation, if set, is the weakest isolation any transaction runs
	// at: a transaction that asks for less runs at MinIsolation instead.
	// New sets it to SERIALIZABLE when the server's
	// default_transaction_isolation is SERIALIZABLE, so that a database
	// (or a role) configured that way runs every transaction as
	// CockroachDB does; the code must be correct either way.
	MinIsolation pgx.TxIsoLevel

	cockroach bool
	faults    faults
	stats     counters
}

// New returns a DB on pool. It asks the server once for its version, to learn
// whether it is CockroachDB, whose transactions are run by crdbpgxv5, and for
// the sessions' default isolation: when that is SERIALIZABLE (set on the
// database, the role or the server, or in the connection string's options),
// every transaction runs SERIALIZABLE (see MinIsolation).
func New(ctx context.Context, pool *pgxpool.Pool) (*DB, error) {
	db := Open(pool)
	var version, isolation string
	err := db.Pool.QueryRow(ctx, `SELECT version(), current_setting('default_transaction_isolation')`).Scan(&version, &isolation)
	if err != nil {
		return nil, fmt.Errorf("pgtx: asking the server version: %w", err)
	}
	db.cockroach = strings.Contains(version, "CockroachDB")
	if strings.EqualFold(isolation, "serializable") {
		db.MinIsolation = pgx.Serializable
	}
	return db, nil
}

// Open returns a DB on pool without asking the server anything, taking it
// for PostgreSQL with READ COMMITTED sessions; New finds out.
func Open(pool *pgxpool.Pool) *DB {
	return &DB{Pool: &Pool{Pool: pool}}
}

// CockroachDB reports whether the server is CockroachDB.
func (db *DB) CockroachDB() bool { return db.cockroach }

// Retries returns how many attempts have been retried since the DB was made.
func (db *DB) Retries() int64 { return db.stats.retries.Load() }

// Run runs fn in a transaction and commits it. fn may be called several
// times, each time in a fresh transaction, so it must not have effects outside
// the transaction other than ones it is safe to repeat. Run returns nil only
// when COMMIT succeeded. It returns fn's error (after rollback) when that error
// is not retryable; ErrAmbiguousCommit when the commit's outcome is unknown;
// ErrRolledBack when the transaction had already failed; ErrTooManyRetries
// when retryable failures persisted; or the context's error. An error that
// says the database could not be reached (fn's included) matches
// ErrUnavailable; see Classify.
//
// On PostgreSQL it never uses crdbpgxv5.ExecuteTx: that retries with
// ROLLBACK TO SAVEPOINT, which does not clear a serialization failure on
// PostgreSQL, and ignores COMMIT's error, which there can acknowledge a
// transaction that was rolled back.
//
// A read-only transaction whose COMMIT is lost is run again rather than
// reported as ambiguous: it wrote nothing, so its outcome is not in doubt.
func (db *DB) Run(ctx context.Context, opts Options, fn func(*Tx) error) error {
	db.stats.transactions.Add(1)
	err := db.run(ctx, opts, fn)
	if errors.Is(err, ErrAmbiguousCommit) {
		db.stats.ambiguous.Add(1)
	}
	return Classify(err)
}

func (db *DB) run(ctx context.Context, opts Options, fn func(*Tx) error) error {
	txOpts := pgx.TxOptions{IsoLevel: stronger(opts.Isolation, db.MinIsolation), AccessMode: pgx.ReadWrite}
	if opts.ReadOnly {
		txOpts.AccessMode = pgx.ReadOnly
	}
	if db.cockroach {
		return db.runCockroach(ctx, txOpts, fn)
	}
	maxAttempts := db.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = 100
	}
	var last error
	for n := 1; n <= maxAttempts; n++ {
		atCommit, err := db.attempt(ctx, txOpts, fn)
		if err == nil {
			return nil
		}
		if !retryable(err) && !(opts.ReadOnly && errors.Is(err, ErrAmbiguousCommit)) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		last = err
		db.stats.retries.Add(1)
		if db.OnRetry != nil {
			db.OnRetry(Attempt{N: n, Err: err, AtCommit: atCommit})
		}
		if err := sleep(ctx, db.backoff(n)); err != nil {
			return err
		}
	}
	return fmt.Errorf("%w: %d attempts, last: %w", ErrTooManyRetries, maxAttempts, last)
}

// attempt runs fn once in a new transaction and commits. atCommit says that
// the error came from COMMIT (or from the writes deferred to travel with it).
func (db *DB) attempt(ctx context.Context, txOpts pgx.TxOptions, fn func(*Tx) error) (atCommit bool, err error) {
	pc, err := db.Pool.Acquire(ctx)
	if err != nil {
		return false, err
	}
	conn := pc.Conn()
	defer func() {
		// A connection left inside a transaction (an error before or at
		// COMMIT) is rolled back; if even that fails it is closed, and the
		// pool drops it. Nothing was committed either way.
		if conn.PgConn().TxStatus() != 'I' && !conn.IsClosed() {
			if _, rerr := conn.Exec(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil {
				conn.Close(context.WithoutCancel(ctx))
			}
		}
		pc.Release()
	}()
	tx := &Tx{conn: conn, begin: beginSQL(txOpts), faults: db.faults.injector(&db.stats)}
	if err := fn(tx); err != nil {
		if conn.IsClosed() && ctx.Err() == nil && (!isPgError(err) || unreachable(err)) {
			// The connection died before COMMIT was sent (under the
			// network, or ended by the server: an administrator's
			// pg_terminate_backend, a shutdown): nothing can have
			// committed, so the whole transaction may run again.
			return false, &connLostError{err}
		}
		return false, err
	}
	sent, err := tx.commit(ctx)
	switch {
	case err == nil:
		return sent, nil
	case errors.Is(err, ErrRolledBack):
		return true, err
	case isPgError(err) || !conn.IsClosed():
		// The server answered (for instance 40001 at SERIALIZABLE, or a
		// deferred write failed and COMMIT was skipped): the transaction did
		// not commit.
		return true, err
	default:
		// The connection broke with COMMIT on its way. Whatever the error
		// claims (pgconn can report a connection closed under it as safe to
		// retry after COMMIT was written to the socket, as this package's
		// tests show), the server may have committed.
		return true, fmt.Errorf("%w: %w", ErrAmbiguousCommit, err)
	}
}

// runCockroach delegates to crdbpgxv5, whose savepoint protocol is correct on
// CockroachDB (there RELEASE SAVEPOINT cockroach_restart is the commit).
func (db *DB) runCockroach(ctx context.Context, txOpts pgx.TxOptions, fn func(*Tx) error) error {
	err := crdbpgx.ExecuteTx(ctx, db.Pool, txOpts, func(ptx pgx.Tx) error {
		tx := &Tx{ptx: ptx}
		if err := fn(tx); err != nil {
			return err
		}
		return tx.flushDeferred(ctx)
	})
	var amb *crdb.AmbiguousCommitError
	if errors.As(err, &amb) {
		return fmt.Errorf("%w: %w", ErrAmbiguousCommit, err)
	}
	return err
}

// stronger returns the stronger of two isolation levels; the empty level is
// READ COMMITTED, PostgreSQL's default.
func stronger(a, b pgx.TxIsoLevel) pgx.TxIsoLevel {
	rank := func(l pgx.TxIsoLevel) int {
		switch l {
		case pgx.Serializable:
			return 3
		case pgx.RepeatableRead:
			return 2
		case pgx.ReadUncommitted:
			return 0
		}
		return 1
	}
	if a == "" {
		a = pgx.ReadCommitted
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}

func (db *DB) backoff(n int) time.Duration {
	base, ceiling := db.BaseDelay, db.MaxDelay
	if base <= 0 {
		base = time.Millisecond
	}
	if ceiling <= 0 {
		ceiling = 100 * time.Millisecond
	}
	d := base << min(n-1, 20)
	if d > ceiling || d <= 0 {
		d = ceiling
	}
	// Full jitter in [d/2, d*3/2) spreads the retries of colliding callers.
	return d/2 + rand.N(d)
}

// retryable reports whether a failed attempt can be run again from scratch:
// serialization failures and deadlocks, and connection failures that happened
// before COMMIT was sent (the transaction then cannot have committed).
func retryable(err error) bool {
	if errors.Is(err, ErrAmbiguousCommit) || errors.Is(err, ErrRolledBack) || errors.Is(err, ErrCommittedAnyway) {
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var again *retryError
	var lost *connLostError
	if errors.As(err, &again) || errors.As(err, &lost) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return IsRetryableCode(pgErr.Code)
	}
	return pgconn.SafeToRetry(err)
}

// Retry wraps err so that Run rolls the attempt back and runs the whole
// transaction again, as it does for a serialization failure. fn uses it when
// it learns that a concurrent transaction changed what it decided on (a unique
// key another transaction committed first, say).
func Retry(err error) error { return &retryError{err} }

type retryError struct{ err error }

func (e *retryError) Error() string { return "retry: " + e.err.Error() }
func (e *retryError) Unwrap() error { return e.err }

// connLostError marks a failure whose connection closed before COMMIT.
type connLostError struct{ err error }

func (e *connLostError) Error() string { return "connection lost before commit: " + e.err.Error() }
func (e *connLostError) Unwrap() error { return e.err }

// IsRetryableCode reports whether SQLSTATE code means the transaction can be
// retried as a whole: 40001 serialization_failure, 40P01 deadlock_detected.
func IsRetryableCode(code string) bool {
	return code == "40001" || code == "40P01"
}

func isPgError(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
