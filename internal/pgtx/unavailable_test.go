package pgtx_test

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mutual-ledger/mutual/internal/dbtest"
	"github.com/mutual-ledger/mutual/internal/pgtx"
)

// TestUnreachableDatabaseIsUnavailable: while the database is away (its
// sessions ended, new connections refused), transactions and the pool's
// reads fail with ErrUnavailable, having written nothing; once it is back,
// the same DB and pool work again without being rebuilt.
func TestUnreachableDatabaseIsUnavailable(t *testing.T) {
	ctx := context.Background()
	dbURL := dbtest.URL(t)
	direct, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	if _, err := direct.Exec(ctx, `CREATE TABLE notes (id BIGINT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, dbURL)
	db := newDB(t, p.pool(t, dbURL))
	insert := func(id int) error {
		return db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO notes VALUES ($1)`, id)
			return err
		})
	}
	// endSessions ends every session of the pool, as a server shutting down
	// does (SQLSTATE 57P01 on each).
	endSessions := func() {
		t.Helper()
		if _, err := direct.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
			t.Fatal(err)
		}
	}
	if err := insert(1); err != nil {
		t.Fatal(err)
	}

	// Sessions ended while the server still accepts: the transaction that
	// meets a dead connection runs again on a new one.
	endSessions()
	if err := insert(2); err != nil {
		t.Fatalf("insert after the sessions were ended: %v; want it retried on a new connection", err)
	}

	p.refuse.Store(true)
	endSessions()
	if err := insert(3); !errors.Is(err, pgtx.ErrUnavailable) || errors.Is(err, pgtx.ErrAmbiguousCommit) {
		t.Errorf("Run with the database away: %v; want ErrUnavailable", err)
	}
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM notes`).Scan(&n); !errors.Is(err, pgtx.ErrUnavailable) {
		t.Errorf("QueryRow with the database away: %v; want ErrUnavailable", err)
	}
	if _, err := db.Pool.Query(ctx, `SELECT id FROM notes`); !errors.Is(err, pgtx.ErrUnavailable) {
		t.Errorf("Query with the database away: %v; want ErrUnavailable", err)
	}
	if _, err := db.Pool.Exec(ctx, `SELECT 1`); !errors.Is(err, pgtx.ErrUnavailable) {
		t.Errorf("Exec with the database away: %v; want ErrUnavailable", err)
	}
	if err := db.Pool.Ping(ctx); !errors.Is(err, pgtx.ErrUnavailable) {
		t.Errorf("Ping with the database away: %v; want ErrUnavailable", err)
	}

	p.refuse.Store(false)
	if err := insert(4); err != nil {
		t.Fatalf("insert once the database is back: %v", err)
	}
	rows, err := db.Pool.Query(ctx, `SELECT id FROM notes ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	for rows.Next() {
		var id int
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 3 || ids[0] != 1 || ids[1] != 2 || ids[2] != 4 {
		t.Errorf("notes %v; want [1 2 4]: the insert refused while away wrote nothing", ids)
	}
}

// TestClassify: what is and is not "unavailable". A closed pool is; a
// refused password or a database that does not exist is a configuration
// error a retry does not cure, and an SQL error is the statement's.
func TestClassify(t *testing.T) {
	ctx := context.Background()
	dbURL := dbtest.URL(t)

	closed, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	db := pgtx.Open(closed)
	closed.Close()
	if err := db.Run(ctx, pgtx.Options{}, func(*pgtx.Tx) error { return nil }); !errors.Is(err, pgtx.ErrUnavailable) {
		t.Errorf("Run on a closed pool: %v; want ErrUnavailable", err)
	}

	for what, change := range map[string]func(*url.URL){
		"a wrong password":   func(u *url.URL) { u.User = url.UserPassword(u.User.Username(), "wrong") },
		"a missing database": func(u *url.URL) { u.Path = "/no_such_database" },
	} {
		u, err := url.Parse(dbURL)
		if err != nil {
			t.Fatal(err)
		}
		change(u)
		pool, err := pgxpool.New(ctx, u.String())
		if err != nil {
			t.Fatal(err)
		}
		err = pgtx.Open(pool).Pool.Ping(ctx)
		pool.Close()
		if err == nil || errors.Is(err, pgtx.ErrUnavailable) {
			t.Errorf("connecting with %s: %v; want an error that is not ErrUnavailable", what, err)
		}
	}

	pool := dbtest.New(t)
	_, err = pgtx.Open(pool).Pool.Exec(ctx, `SELECT * FROM no_such_table`)
	if err == nil || errors.Is(err, pgtx.ErrUnavailable) {
		t.Errorf("an SQL error: %v; want an error that is not ErrUnavailable", err)
	}
	if pgtx.Classify(nil) != nil {
		t.Error("Classify(nil) is not nil")
	}
}
