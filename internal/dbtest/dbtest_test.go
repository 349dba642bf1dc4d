package dbtest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mutual-ledger/mutual/internal/dbtest"
)

func TestMain(m *testing.M) {
	dbtest.Main(m)
}

func hasAccounts(t *testing.T, pool *pgxpool.Pool) bool {
	t.Helper()
	var found bool
	if err := pool.QueryRow(context.Background(), "SELECT to_regclass('accounts') IS NOT NULL").Scan(&found); err != nil {
		t.Fatal(err)
	}
	return found
}

func countUnits(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM units").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDatabasesAreIndependent(t *testing.T) {
	a, b := dbtest.New(t), dbtest.New(t)
	if !hasAccounts(t, a) || !hasAccounts(t, b) {
		t.Fatal("a fresh database lacks the accounts table")
	}
	if _, err := a.Exec(context.Background(), "INSERT INTO units (code, scale, created_at) VALUES ('HOUR', 2, now())"); err != nil {
		t.Fatal(err)
	}
	if n := countUnits(t, a); n != 1 {
		t.Fatalf("a has %d units, want 1", n)
	}
	if n := countUnits(t, b); n != 0 {
		t.Fatalf("b has %d units after an insert into a, want 0", n)
	}
}

func TestParallelDatabases(t *testing.T) {
	for i := range 16 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			pool := dbtest.New(t)
			if n := countUnits(t, pool); n != 0 {
				t.Fatalf("a fresh database has %d units", n)
			}
		})
	}
}

func TestURL(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var version int64
	if err := conn.QueryRow(ctx, "SELECT max(version) FROM schema_migrations").Scan(&version); err != nil || version < 1 {
		t.Fatalf("schema version %d, %v; want a migrated database", version, err)
	}
}
