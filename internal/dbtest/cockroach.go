package dbtest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/cockroachdb/cockroach-go/v2/testserver"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mutual-ledger/mutual/schema"
)

// runCockroach is run for MUTUAL_TEST_DB=cockroach: it starts a single-node
// CockroachDB from the binary COCKROACH_BINARY names, with cockroach-go's
// testserver, and runs the tests on it. This path cannot be tried on the
// machines Mutual is developed on (no cockroach binary installs there), so it
// stays as small as it can: start, connect, run, stop.
func runCockroach(m *testing.M) int {
	binary := os.Getenv("COCKROACH_BINARY")
	if binary == "" {
		fmt.Fprintln(os.Stderr, "dbtest: MUTUAL_TEST_DB=cockroach needs COCKROACH_BINARY, the path of a cockroach binary")
		return 1
	}
	ts, err := testserver.NewTestServer(testserver.CockroachBinaryPathOpt(binary))
	if err != nil {
		fmt.Fprintf(os.Stderr, "dbtest: cannot start CockroachDB from %s: %v\n", binary, err)
		return 1
	}
	defer ts.Stop()
	base := ts.PGURL()
	url := func(database string) string {
		u := *base
		u.Path = "/" + database
		return u.String()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin, err := pgxpool.New(ctx, url("defaultdb"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "dbtest: connecting to CockroachDB: %v\n", err)
		return 1
	}
	defer admin.Close()
	env.url, env.admin, env.cockroach = url, admin, true
	cancel()
	return m.Run()
}

// cockroachURL makes a fresh database on CockroachDB and migrates it (there
// are no template databases to copy); it is dropped at t.Cleanup.
func cockroachURL(t testing.TB) string {
	t.Helper()
	name, err := newName()
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := env.admin.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		t.Fatalf("dbtest: creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if _, err := env.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" CASCADE"); err != nil {
			t.Errorf("dbtest: dropping database %s: %v", name, err)
		}
	})
	pool, err := pgxpool.New(ctx, env.url(name))
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	defer pool.Close()
	if _, err := schema.Migrate(ctx, pool); err != nil {
		t.Fatalf("dbtest: migrating database %s: %v", name, err)
	}
	return env.url(name)
}
