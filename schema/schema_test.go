package schema_test

import (
	"context"
	"strings"
	"testing"

	"github.com/mutual-ledger/mutual/internal/dbtest"
	"github.com/mutual-ledger/mutual/schema"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// TestConcurrentMigrateAppliesEachStepOnce empties a database and migrates it
// from several processes' worth of pools at once: every step is applied by
// exactly one of them, none deadlocks, and the result is the full schema.
func TestConcurrentMigrateAppliesEachStepOnce(t *testing.T) {
	ctx := context.Background()
	admin := databaseBefore(t, 0)
	ms, err := schema.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	migrateTogether(t, admin, ms, 0, "from an empty database")
	v, err := schema.Version(ctx, admin)
	if err != nil || v != ms[len(ms)-1].Version {
		t.Errorf("version = %d, %v; want %d", v, err, ms[len(ms)-1].Version)
	}
	again, err := schema.Migrate(ctx, admin)
	if err != nil || len(again) != 0 {
		t.Errorf("migrating a migrated database applied %v (%v)", again, err)
	}
}

// StepsFor leaves a step marked PostgresOnly out on CockroachDB, and keeps
// it, as every other step, on PostgreSQL.
func TestStepsForCockroachDB(t *testing.T) {
	sql := "CREATE TABLE a (x BIGINT);\n" + schema.StepMarker + "\n-- tuning\n" + schema.PostgresOnly +
		"\nALTER TABLE a ALTER COLUMN x SET STATISTICS 1000;\n" + schema.StepMarker + "\nCREATE INDEX a_x ON a (x);\n"
	pg, crdb := schema.StepsFor(sql, false), schema.StepsFor(sql, true)
	if len(pg) != 3 || len(crdb) != 3 {
		t.Fatalf("steps: %d on PostgreSQL, %d on CockroachDB; want 3 each", len(pg), len(crdb))
	}
	if !strings.Contains(pg[1], "SET STATISTICS") || crdb[1] != "" {
		t.Errorf("the PostgreSQL-only step: %q on PostgreSQL, %q on CockroachDB", pg[1], crdb[1])
	}
	for _, i := range []int{0, 2} {
		if pg[i] != crdb[i] || pg[i] == "" {
			t.Errorf("step %d differs: %q on PostgreSQL, %q on CockroachDB", i, pg[i], crdb[i])
		}
	}
}

// On PostgreSQL, listing_words' word column keeps a thousand most common
// values for the planner (migration 0026); CockroachDB records the
// migration without its PostgreSQL-only step.
func TestWordStatisticsTarget(t *testing.T) {
	pool := dbtest.New(t)
	if dbtest.CockroachDB() {
		var recorded bool
		if err := pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = 26)`).Scan(&recorded); err != nil || !recorded {
			t.Errorf("migration 0026 recorded: %v, %v", recorded, err)
		}
		return
	}
	var target int
	if err := pool.QueryRow(context.Background(), `SELECT attstattarget FROM pg_attribute WHERE attrelid = 'listing_words'::regclass AND attname = 'word'`).Scan(&target); err != nil {
		t.Fatal(err)
	}
	if target != 1000 {
		t.Errorf("listing_words.word statistics target %d, want 1000", target)
	}
}
