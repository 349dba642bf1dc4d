// Package dbtest gives each test a fresh, migrated PostgreSQL database. A
// package's TestMain calls Main, which starts one private server (pglocal) for
// the test binary and migrates a template database; New and URL then copy the
// template for each test, which takes milliseconds.
//
// The environment can make the tests run as they would on CockroachDB:
//
//   - MUTUAL_ISOLATION=serializable makes SERIALIZABLE the server's default
//     isolation, so that every statement outside a transaction, and every
//     transaction run by internal/pgtx (whose New honours that default), runs
//     SERIALIZABLE (make test-serializable).
//   - MUTUAL_FAULTS=0.2 is the share of injected failures InjectFaults turns
//     on in the tests that call it (make test-faults).
//   - MUTUAL_TEST_DB=cockroach, with COCKROACH_BINARY naming a cockroach
//     binary, runs the tests on a CockroachDB started by cockroach-go's
//     testserver instead (make test-cockroach).
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mutual-ledger/mutual/internal/pglocal"
	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/schema"
)

// templateName is the migrated database every test database is copied from.
const templateName = "mutual_template"

// env is the test binary's server. It is package state because New and URL
// take only a testing.TB, as test helpers do, and Main sets it before any
// test runs.
var env struct {
	url   func(database string) string // the URL of a database on the server
	admin *pgxpool.Pool                // on the "postgres" database, for CREATE/DROP DATABASE
	seq   atomic.Int64
	// cockroach says the server is CockroachDB, which has no template
	// databases: each database is migrated when it is made.
	cockroach bool
	// faults is the share of injected failures MUTUAL_FAULTS asks for.
	faults float64
}

// Main runs a test binary's tests against a private PostgreSQL: it starts a
// server in a temporary folder (non-durable for tests; with default durability
// when -test.bench is given), creates the template database
// migrated with schema.Migrate (and ANALYZEd), runs m, then stops the server,
// removes the folder and exits with m.Run's code. If the server cannot be
// started or the template cannot be built, Main prints why and exits 1: the
// tests never skip for want of a database. Call it from TestMain.
func Main(m *testing.M) {
	os.Exit(run(m))
}

// Run is Main without the exit: it returns m.Run's code (or 1), so that a
// TestMain can stop what else it started (a browser) before exiting.
func Run(m *testing.M) int { return run(m) }

func run(m *testing.M) int {
	flag.Parse()
	if v := os.Getenv(pgtx.EnvFaults); v != "" {
		rate, err := pgtx.ParseFaultRate(v)
		if err != nil {
			fmt.Fprintf(os.Stderr, "dbtest: %s=%q: %v\n", pgtx.EnvFaults, v, err)
			return 1
		}
		env.faults = rate
	}
	// The setting is the server's, not the tests', so that it reaches
	// every session: the pools of the stores, the servers that `run`
	// starts on URL, and the tests' own queries.
	settings, err := pgtx.IsolationSettings(os.Getenv(pgtx.EnvIsolation))
	if err != nil {
		fmt.Fprintf(os.Stderr, "dbtest: %v\n", err)
		return 1
	}
	if db := os.Getenv("MUTUAL_TEST_DB"); db != "" {
		if db != "cockroach" {
			fmt.Fprintf(os.Stderr, "dbtest: MUTUAL_TEST_DB=%q: the only other server the tests run on is \"cockroach\"\n", db)
			return 1
		}
		return runCockroach(m)
	}
	base, err := tempBase()
	if err != nil {
		fmt.Fprintf(os.Stderr, "dbtest: %v\n", err)
		return 1
	}
	dir, err := os.MkdirTemp(base, "mutual-dbtest-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "dbtest: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Tests run without fsync; benchmarks run with PostgreSQL's default
	// durability, as production and the reference pgbench figures do.
	durable := false
	if f := flag.Lookup("test.bench"); f != nil && f.Value.String() != "" {
		durable = true
	}
	srv, err := pglocal.Start(ctx, pglocal.Config{Dir: dir, Durable: durable, Settings: settings})
	if err != nil {
		fmt.Fprintf(os.Stderr, "dbtest: cannot start the test PostgreSQL server: %v\n", err)
		return 1
	}
	defer srv.Stop(context.Background())

	admin, err := pgxpool.New(ctx, srv.URL("postgres"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "dbtest: connecting to the test server: %v\n", err)
		return 1
	}
	defer admin.Close()
	if err := buildTemplate(ctx, srv, admin); err != nil {
		fmt.Fprintf(os.Stderr, "dbtest: building the template database: %v\n", err)
		return 1
	}
	env.url, env.admin = srv.URL, admin
	cancel() // the server and the pool outlive the setup's deadline
	return m.Run()
}

// Serializable reports whether the tests run with every transaction
// SERIALIZABLE (MUTUAL_ISOLATION=serializable, or CockroachDB).
func Serializable() bool {
	s, _ := pgtx.IsolationSettings(os.Getenv(pgtx.EnvIsolation))
	return s != nil || env.cockroach
}

// CockroachDB reports whether the tests run on CockroachDB
// (MUTUAL_TEST_DB=cockroach).
func CockroachDB() bool { return env.cockroach }

// InjectFaults turns on, on db, the injected failures MUTUAL_FAULTS asks for
// (pgtx.DB.InjectFaults), and at the end of the test logs what they did; it
// returns the rate, 0 when MUTUAL_FAULTS is unset, and then does nothing. A
// test calls it once its setup is done, and from then on must resolve every
// ambiguous outcome as a client would: by retrying with the same
// idempotency key.
func InjectFaults(t testing.TB, db *pgtx.DB) float64 {
	t.Helper()
	if env.faults == 0 {
		return 0
	}
	before := db.Stats()
	start := time.Now()
	db.InjectFaults(env.faults)
	t.Cleanup(func() {
		db.InjectFaults(0)
		s := db.Stats()
		t.Logf("faults %s: rate %.2f, %d transactions, %d injected failures (%d cut connections, %d of them after a commit), %d retries, %d ambiguous outcomes, in %v",
			t.Name(), env.faults, s.Transactions-before.Transactions, s.Injected-before.Injected,
			s.InjectedCuts-before.InjectedCuts, s.CutsCommitted-before.CutsCommitted,
			s.Retries-before.Retries, s.Ambiguous-before.Ambiguous, time.Since(start).Round(time.Millisecond))
	})
	return env.faults
}

// tempBase returns the folder to make the server's folder in: the system's
// temporary folder, unless we are root and it lies under a folder the
// server's unprivileged user cannot enter (TMPDIR under /root, say); then /tmp.
func tempBase() (string, error) {
	base := os.TempDir()
	if os.Geteuid() != 0 {
		return base, nil
	}
	for p := filepath.Clean(base); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return "/tmp", nil
		}
		if p == filepath.Dir(p) {
			return base, nil
		}
	}
}

// buildTemplate creates and migrates the template, then closes every
// connection to it: PostgreSQL copies a database only while nobody is
// connected to it.
func buildTemplate(ctx context.Context, srv *pglocal.Server, admin *pgxpool.Pool) error {
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+templateName); err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, srv.URL(templateName))
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := schema.Migrate(ctx, pool); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, "ANALYZE"); err != nil {
		return err
	}
	pool.Close()
	// No one may connect to the template any more, so copying it cannot fail
	// on a stray session.
	_, err = admin.Exec(ctx, "ALTER DATABASE "+templateName+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false")
	return err
}

// New returns a pool on a fresh database copied from the migrated template:
// empty, with the whole schema. Each call makes a new database; the pool is
// closed and the database dropped at t.Cleanup. It is safe to call from
// parallel tests. New fails the test if Main is not running the binary or the
// database cannot be made.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	url := URL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatalf("dbtest: opening a pool: %v", err)
	}
	t.Cleanup(pool.Close) // runs before URL's cleanup drops the database
	return pool
}

// PoolVia returns a pool on the database url names that connects through
// addr instead (a test's proxy, which cuts or holds back what passes),
// with configure's changes to its configuration; it is closed at
// t.Cleanup.
func PoolVia(t testing.TB, url string, addr *net.TCPAddr, configure func(*pgxpool.Config)) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Host, cfg.ConnConfig.Port = addr.IP.String(), uint16(addr.Port)
	if configure != nil {
		configure(cfg)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// URL is like New but returns the connection URL of the fresh database
// instead of a pool, for code that opens its own pool (e.g. the server's run
// function). The database is dropped at t.Cleanup, ending any session still
// connected to it.
func URL(t testing.TB) string {
	t.Helper()
	if env.url == nil {
		t.Fatal("dbtest: no test database server: call dbtest.Main(m) from the package's TestMain")
	}
	if env.cockroach {
		return cockroachURL(t)
	}
	name, err := newName()
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ident := pgx.Identifier{name}.Sanitize()
	// Copies of one template may be made concurrently: CREATE DATABASE only
	// requires that no session be connected to the template, and none can be.
	_, err = env.admin.Exec(ctx, "CREATE DATABASE "+ident+" TEMPLATE "+templateName)
	if err != nil {
		t.Fatalf("dbtest: creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if _, err := env.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("dbtest: dropping database %s: %v", name, err)
		}
	})
	return env.url(name)
}

// newName returns a database name unique within the server: a counter, and a
// random suffix in case two binaries ever share a server.
func newName() (string, error) {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return fmt.Sprintf("t_%d_%s", env.seq.Add(1), hex.EncodeToString(b)), nil
}
