package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mutual-ledger/mutual/internal/pglocal"
	"github.com/mutual-ledger/mutual/internal/pgtx"
)

// localDatabase is the database mutual keeps its data in on the local
// PostgreSQL.
const localDatabase = "mutual"

// Timeouts for reaching a database.
const (
	connectTimeout = 10 * time.Second // one connection attempt, unless the URL sets connect_timeout
	reachTimeout   = 30 * time.Second // the first connection of a pool
)

// database is an open pool on Mutual's database and, in local mode, the
// private PostgreSQL server it lives on.
type database struct {
	pool   *pgxpool.Pool
	server *pglocal.Server // nil when DATABASE_URL names the database
}

// openDatabase opens the database every command works on. When DATABASE_URL
// (read through e.getenv) is set, it connects there. Otherwise it starts the
// private PostgreSQL in dataDir/postgres (initialising it on first use) and
// creates the database "mutual" in it if missing. Either way it checks the
// database answers before returning. Errors never quote a password.
//
// The caller must Close the database; on error nothing is left running.
//
// MUTUAL_ISOLATION=serializable makes SERIALIZABLE the sessions' default
// isolation, and so runs every transaction SERIALIZABLE, as CockroachDB does
// (internal/pgtx honours the default).
func openDatabase(ctx context.Context, e *env, dataDir string) (*database, error) {
	return openDatabaseSized(ctx, e, dataDir, dbSizes{})
}

// dbSizes say how large serve makes its database's resources: the pool's
// connections (0: DefaultPoolSize; a pool_max_conns in DATABASE_URL wins
// over both), and the local PostgreSQL's cache, its shared_buffers ("":
// pglocal.DefaultSharedBuffers; not used with DATABASE_URL).
type dbSizes struct {
	pool  int
	cache string
}

// openDatabaseSized is openDatabase with the sizes given.
func openDatabaseSized(ctx context.Context, e *env, dataDir string, sizes dbSizes) (*database, error) {
	poolSize := sizes.pool
	if poolSize <= 0 {
		poolSize = DefaultPoolSize()
	}
	params, err := pgtx.IsolationSettings(e.getenv(pgtx.EnvIsolation))
	if err != nil {
		return nil, err
	}
	if url := e.getenv("DATABASE_URL"); url != "" {
		pool, err := connect(ctx, url, "DATABASE_URL", params, poolSize)
		if err != nil {
			return nil, err
		}
		c := pool.Config().ConnConfig
		e.log.Info("using the database named by DATABASE_URL", "host", c.Host, "port", c.Port, "database", c.Database, "user", c.User)
		return &database{pool: pool}, nil
	}
	return openLocal(ctx, e.log, dataDir, params, poolSize, sizes.cache)
}

// openLocal starts the private server in dataDir/postgres, with a cache of
// cache ("": the launcher's default), and opens a pool on its database
// "mutual".
func openLocal(ctx context.Context, log *slog.Logger, dataDir string, params map[string]string, poolSize int, cache string) (*database, error) {
	dir, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, fmt.Errorf("data folder %s: %w", dataDir, err)
	}
	cfg := pglocal.Config{Dir: filepath.Join(dir, "postgres"), Durable: true, Logger: log}
	if cache != "" {
		cfg.Settings = map[string]string{"shared_buffers": cache}
	}
	srv, err := pglocal.Start(ctx, cfg)
	switch {
	case errors.Is(err, pglocal.ErrInUse):
		// ErrInUse's text says the folder is in use; name it and what to do.
		return nil, fmt.Errorf("%w: %s (is a `mutual serve` already running on it?); stop that process, or pass --data-dir to use another folder", pglocal.ErrInUse, dir)
	case errors.Is(err, pglocal.ErrNoPostgres):
		return nil, fmt.Errorf("cannot start the local PostgreSQL: %w; or set DATABASE_URL to use a PostgreSQL server of your own", err)
	case err != nil:
		return nil, fmt.Errorf("cannot start the local PostgreSQL in %s: %w", dir, err)
	}
	// A clean stop even when ctx is what made us give up.
	stopCtx := context.WithoutCancel(ctx)
	if err := ensureLocalDatabase(ctx, srv); err != nil {
		return nil, errors.Join(err, srv.Stop(stopCtx))
	}
	pool, err := connect(ctx, srv.URL(localDatabase), "the local PostgreSQL", params, poolSize)
	if err != nil {
		return nil, errors.Join(err, srv.Stop(stopCtx))
	}
	log.Info("using the local PostgreSQL", "dir", dir, "port", srv.Port(), "database", localDatabase)
	return &database{pool: pool, server: srv}, nil
}

// ensureLocalDatabase creates the database "mutual" on the private server if
// it does not exist yet. Only the process holding the data folder's lock
// gets here, so two cannot race to create it.
func ensureLocalDatabase(ctx context.Context, srv *pglocal.Server) error {
	ctx, cancel := context.WithTimeout(ctx, reachTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, srv.URL("postgres"))
	if err != nil {
		return fmt.Errorf("connecting to the local PostgreSQL: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	err = conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, localDatabase).Scan(&exists)
	if err != nil {
		return fmt.Errorf("looking for database %s: %w", localDatabase, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{localDatabase}.Sanitize()); err != nil {
		return fmt.Errorf("creating database %s: %w", localDatabase, err)
	}
	return nil
}

// noJIT turns PostgreSQL's JIT compilation off for a new connection, as
// the local server runs (see pglocal): a word search's statement whose
// generic plan is estimated over thousands of rows spent 130 ms compiling
// for 15 ms of work. CockroachDB, which says its version in crdb_version,
// has no such setting.
func noJIT(ctx context.Context, conn *pgx.Conn) error {
	if conn.PgConn().ParameterStatus("crdb_version") != "" {
		return nil
	}
	_, err := conn.Exec(ctx, "SET jit = off")
	return err
}

// connect opens a pool on connString and checks that the database answers.
// what names the database in errors ("DATABASE_URL"); neither connString nor
// its password appears in them. params are session settings for every
// connection. The pool holds at most poolSize connections, unless
// connString sets pool_max_conns. On PostgreSQL, every connection runs
// without JIT (noJIT).
func connect(ctx context.Context, connString, what string, params map[string]string, poolSize int) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		// The parser's message may quote the string, password and all.
		return nil, fmt.Errorf("%s is not a valid PostgreSQL connection string (expected postgres://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=...); its value is not shown because it may hold a password", what)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	for k, v := range params {
		cfg.ConnConfig.RuntimeParams[k] = v
	}
	cfg.AfterConnect = noJIT
	if poolSize > 0 && !setsPoolMaxConns(connString) {
		cfg.MaxConns = int32(poolSize)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, redact(err, cfg.ConnConfig.Password))
	}
	pingCtx, cancel := context.WithTimeout(ctx, reachTimeout)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("cannot reach the database named by %s (%s): %w", what, describe(cfg.ConnConfig), redact(err, cfg.ConnConfig.Password))
	}
	return pool, nil
}

// describe names a database without its password: user@host:port/database.
func describe(c *pgx.ConnConfig) string {
	return c.User + "@" + net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port))) + "/" + c.Database
}

// redact returns err with every occurrence of password in its text masked.
// pgx does not put passwords in its connection errors; this makes sure.
func redact(err error, password string) error {
	if password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	return &redactedError{err: err, password: password}
}

type redactedError struct {
	err      error
	password string
}

func (e *redactedError) Error() string { return strings.ReplaceAll(e.err.Error(), e.password, "xxxxx") }
func (e *redactedError) Unwrap() error { return e.err }

// collectors returns the metrics of the local PostgreSQL's supervision
// (pglocal.Server.Stats) for /metrics; none when DATABASE_URL names the
// database.
func (d *database) collectors() []prometheus.Collector {
	if d.server == nil {
		return nil
	}
	counter := func(name, help string, stat func(pglocal.Stats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(stat(d.server.Stats())) })
	}
	return []prometheus.Collector{
		counter("mutual_local_postgres_exits_total", "Times the local PostgreSQL exited without being asked to (killed or crashed).",
			func(s pglocal.Stats) int64 { return s.Exits }),
		counter("mutual_local_postgres_restarts_total", "Times the local PostgreSQL was started again after such an exit.",
			func(s pglocal.Stats) int64 { return s.Restarts }),
		counter("mutual_local_postgres_restart_failures_total", "Attempts to start the local PostgreSQL again that failed (each is retried after a backoff of up to 5 s).",
			func(s pglocal.Stats) int64 { return s.FailedRestarts }),
	}
}

// Close closes the pool and, in local mode, stops the server. ctx cuts the
// wait for a clean stop short, so pass one that is not cancelled (e.g.
// context.WithoutCancel of a signal context).
func (d *database) Close(ctx context.Context) error {
	d.pool.Close()
	if d.server == nil {
		return nil
	}
	if err := d.server.Stop(ctx); err != nil {
		return fmt.Errorf("stopping the local PostgreSQL: %w", err)
	}
	return nil
}

// DefaultPoolSize is how many database connections the pool holds unless
// --db-pool or DATABASE_URL's pool_max_conns says otherwise: 8 per CPU, at
// least 4 and at most 64 (16 on a 2-core machine; pgxpool's own default is
// max(4, CPUs), and PostgreSQL allows 100 connections unless configured).
//
// A request holds a connection for each of its short reads and for its
// write transaction, and a backend spends much of a round trip waiting on
// the client and on the WAL flush, so a few connections per CPU keep the
// CPUs busy. With group commit (the default), single transfers use at most
// ledger.DefaultGroups connections at once whatever the load, and the pool
// size made no difference that this shared machine could resolve; without
// it, and for the paths group commit does not take (batches, holds posted
// or voided, the exchange's transactions), more connections help: the
// issue's measurement found 16 did 24% more than 4 at 32 workers.
//
// Measured on 2 shared cores, mutual bench at 32 workers, uniform transfers,
// 10 s each, three rounds (SERVE_ARGS="--db-pool N --group-commit=B"
// WORKERS=32 MODES=uniform scripts/loadtest.sh 10); transfers/s and p99,
// with the load average (other work on the machine) at the start:
//
//	                  pool 4             pool 8             pool 16
//	group commit on   885/s  113 ms      1544/s  48 ms      2257/s  40 ms   (load 8.2-9.1)
//	                  1156/s  83 ms       904/s  96 ms       831/s 124 ms   (load 8.4-9.0)
//	                  441/s  179 ms       522/s 241 ms       494/s 249 ms   (load 16.2-18.7)
//	group commit off  842/s   82 ms       835/s  85 ms       782/s 111 ms   (load 7.0-7.8)
//	                  243/s  264 ms       320/s 250 ms       376/s 289 ms   (load 9.6-15.0)
//	                  253/s  338 ms       373/s 354 ms       430/s 303 ms   (load 16.2-19.2)
//
// and, in an earlier single pass (load 8.0-9.1, group commit on, 15 s):
// pool 4 1299/s p99 64 ms, 8 818/s 185 ms, 16 1050/s 133 ms, 32 978/s
// 117 ms. The load of the machine moved the figures more than the pool did.
func DefaultPoolSize() int { return max(4, min(8*runtime.NumCPU(), 64)) }

// setsPoolMaxConns reports whether a connection string (a URL or
// keyword/value pairs) sets pool_max_conns itself.
func setsPoolMaxConns(connString string) bool {
	if u, err := url.Parse(connString); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		return u.Query().Has("pool_max_conns")
	}
	for _, f := range strings.Fields(connString) {
		if k, _, ok := strings.Cut(f, "="); ok && strings.TrimSpace(k) == "pool_max_conns" {
			return true
		}
	}
	return false
}
