package pgtx_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mutual-ledger/mutual/internal/dbtest"
	"github.com/mutual-ledger/mutual/internal/pgtx"
)

// TestInjectedFaults races clients that each make one change under a key,
// with half of all round trips and COMMITs failing on purpose. The faults
// must be real (the server's 40001, the transaction rolled back; a connection
// really cut, sometimes after COMMIT succeeded and sometimes before it was
// sent), retried where they can be, and reported as ambiguous where the
// outcome is unknown; a client that retries an ambiguous change with the same
// key makes it exactly once. This is the protocol the ledger's idempotency
// keys follow, at its smallest. PostgreSQL only: injection is off on
// CockroachDB, which fails transactions by itself.
func TestInjectedFaults(t *testing.T) {
	if dbtest.CockroachDB() {
		t.Fatal("fault injection applies to PostgreSQL only; this test is not run on CockroachDB (make test-cockroach skips ./internal/pgtx)")
	}
	ctx := context.Background()
	pool := dbtest.New(t)
	if _, err := pool.Exec(ctx, `CREATE TABLE done (key TEXT PRIMARY KEY); CREATE TABLE total (id BIGINT PRIMARY KEY, n BIGINT NOT NULL); INSERT INTO total VALUES (1, 0)`); err != nil {
		t.Fatal(err)
	}
	db := newDB(t, pool)
	db.InjectFaults(0.5)
	var (
		mu              sync.Mutex
		seen40001       int
		otherErrs       []error
		ambiguous       = map[string]bool{} // key → whether it turned out committed
		unexpectedFinal []error
	)
	change := func(key string) error {
		return db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
			tag, err := tx.Exec(ctx, `INSERT INTO done VALUES ($1) ON CONFLICT DO NOTHING`, key)
			if err == nil && tag.RowsAffected() == 1 {
				_, err = tx.Exec(ctx, `UPDATE total SET n = n + 1 WHERE id = 1`)
			}
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) {
				mu.Lock()
				if pgErr.Code == "40001" {
					seen40001++
				} else {
					otherErrs = append(otherErrs, err)
				}
				mu.Unlock()
			}
			return err
		})
	}
	const clients, each = 8, 40
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				key := fmt.Sprintf("c%d-%d", c, i)
				err := change(key)
				if errors.Is(err, pgtx.ErrAmbiguousCommit) {
					// Find out what happened, as a person would, then
					// retry with the same key until the outcome is known.
					var committed bool
					if qerr := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM done WHERE key = $1)`, key).Scan(&committed); qerr != nil {
						t.Error(qerr)
					}
					mu.Lock()
					ambiguous[key] = committed
					mu.Unlock()
					for errors.Is(err, pgtx.ErrAmbiguousCommit) {
						err = change(key)
					}
				}
				if err != nil {
					mu.Lock()
					unexpectedFinal = append(unexpectedFinal, err)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	db.InjectFaults(0)
	for _, err := range append(otherErrs, unexpectedFinal...) {
		t.Errorf("unexpected error: %v", err)
	}
	var n, keys int64
	if err := pool.QueryRow(ctx, `SELECT (SELECT n FROM total), (SELECT count(*) FROM done)`).Scan(&n, &keys); err != nil {
		t.Fatal(err)
	}
	if n != clients*each || keys != clients*each {
		t.Errorf("total %d over %d keys; want each of the %d changes made exactly once", n, keys, clients*each)
	}
	committed, lost := 0, 0
	for _, c := range ambiguous {
		if c {
			committed++
		} else {
			lost++
		}
	}
	s := db.Stats()
	t.Logf("%+v; ambiguous outcomes: %d committed, %d not", s, committed, lost)
	if seen40001 == 0 || s.Retries == 0 || s.Injected == 0 {
		t.Errorf("no injected 40001 reached the function or was retried: %+v", s)
	}
	if committed == 0 || lost == 0 {
		t.Errorf("ambiguous outcomes: %d committed, %d not; want both kinds", committed, lost)
	}
	if s.Ambiguous < int64(len(ambiguous)) {
		t.Errorf("Stats counted %d ambiguous outcomes; the clients saw at least %d", s.Ambiguous, len(ambiguous))
	}
}

// TestReadOnlyTransactionsSurviveCutCommits: a read-only transaction whose
// COMMIT is lost wrote nothing, so Run runs it again instead of reporting an
// outcome that is not in doubt.
func TestReadOnlyTransactionsSurviveCutCommits(t *testing.T) {
	ctx := context.Background()
	db := newDB(t, dbtest.New(t))
	db.InjectFaults(0.5)
	for i := range 50 {
		var got int
		err := db.Run(ctx, pgtx.Options{Isolation: pgx.RepeatableRead, ReadOnly: true}, func(tx *pgtx.Tx) error {
			return tx.QueryRow(ctx, `SELECT $1::int`, i).Scan(&got)
		})
		if err != nil || got != i {
			t.Fatalf("read %d: got %d, %v", i, got, err)
		}
	}
	if s := db.Stats(); s.InjectedCuts == 0 || s.Ambiguous != 0 {
		t.Errorf("%+v; want cut connections, and no ambiguous outcome reported", s)
	}
}

// TestSessionDefaultSerializableMakesEveryTransactionSerializable: when the
// sessions' default isolation is SERIALIZABLE, as MUTUAL_ISOLATION makes it,
// a transaction that asks for READ COMMITTED or REPEATABLE READ runs
// SERIALIZABLE; otherwise each runs at the level it asks for.
func TestSessionDefaultSerializableMakesEveryTransactionSerializable(t *testing.T) {
	ctx := context.Background()
	url := dbtest.URL(t)
	for _, serializable := range []bool{false, true} {
		cfg, err := pgxpool.ParseConfig(url)
		if err != nil {
			t.Fatal(err)
		}
		cfg.ConnConfig.RuntimeParams["default_transaction_isolation"] = "read committed"
		if serializable {
			cfg.ConnConfig.RuntimeParams["default_transaction_isolation"] = "serializable"
		}
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		db := newDB(t, pool)
		for _, opts := range []pgtx.Options{{}, {Isolation: pgx.RepeatableRead, ReadOnly: true}, {Isolation: pgx.Serializable}} {
			want := "serializable"
			if !serializable {
				want = map[pgx.TxIsoLevel]string{"": "read committed", pgx.RepeatableRead: "repeatable read", pgx.Serializable: "serializable"}[opts.Isolation]
			}
			if got := isolationIn(t, db, opts); got != want {
				t.Errorf("default serializable %v, options %+v: ran at %q, want %q", serializable, opts, got, want)
			}
		}
	}
}

// isolationIn returns the isolation a transaction run with opts sees.
func isolationIn(t *testing.T, db *pgtx.DB, opts pgtx.Options) string {
	t.Helper()
	var got string
	err := db.Run(context.Background(), opts, func(tx *pgtx.Tx) error {
		return tx.QueryRow(context.Background(), `SHOW transaction_isolation`).Scan(&got)
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestIsolationFollowsTheSetting checks that the tests really run as
// MUTUAL_ISOLATION says, in the transactions of a store built the usual way
// (pgtx.New on a dbtest pool) and outside them: with
// MUTUAL_ISOLATION=serializable (make test-serializable) every transaction
// is SERIALIZABLE; without it, a read-write transaction is READ COMMITTED.
func TestIsolationFollowsTheSetting(t *testing.T) {
	pool := dbtest.New(t)
	db := newDB(t, pool)
	want := "read committed"
	if dbtest.Serializable() {
		want = "serializable"
	}
	for _, opts := range []pgtx.Options{{}, {Isolation: pgx.RepeatableRead, ReadOnly: true}} {
		got := isolationIn(t, db, opts)
		if opts.Isolation == pgx.RepeatableRead && want != "serializable" {
			if got != "repeatable read" {
				t.Errorf("a REPEATABLE READ transaction ran at %q", got)
			}
			continue
		}
		if got != want {
			t.Errorf("options %+v: ran at %q, want %q (%s=%q)", opts, got, want, pgtx.EnvIsolation, os.Getenv(pgtx.EnvIsolation))
		}
	}
	var outside string
	if err := pool.QueryRow(context.Background(), `SHOW transaction_isolation`).Scan(&outside); err != nil {
		t.Fatal(err)
	}
	if outside != want {
		t.Errorf("a statement outside a transaction ran at %q, want %q", outside, want)
	}
}
