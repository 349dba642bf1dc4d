package schema_test

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mutual-ledger/mutual/internal/dbtest"
	"github.com/mutual-ledger/mutual/schema"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// TestConcurrentMigrateAppliesEachStepOnce empties a database and migrates it
// from several processes' worth of pools at once: every step is applied by
// exactly one of them, and the result is the full schema.
func TestConcurrentMigrateAppliesEachStepOnce(t *testing.T) {
	ctx := context.Background()
	admin := dbtest.New(t)
	if _, err := admin.Exec(ctx, `DROP SCHEMA public CASCADE; CREATE SCHEMA public`); err != nil {
		t.Fatal(err)
	}
	ms, err := schema.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	url := admin.Config().ConnString()
	const migrators = 6
	applied := make([][]int64, migrators)
	errs := make([]error, migrators)
	var wg sync.WaitGroup
	for i := range migrators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pool, err := pgxpool.New(ctx, url)
			if err != nil {
				errs[i] = err
				return
			}
			defer pool.Close()
			applied[i], errs[i] = schema.Migrate(ctx, pool)
		}()
	}
	wg.Wait()
	count := make(map[int64]int)
	for i := range migrators {
		if errs[i] != nil {
			t.Fatalf("migrator %d: %v", i, errs[i])
		}
		for _, v := range applied[i] {
			count[v]++
		}
	}
	for _, m := range ms {
		if count[m.Version] != 1 {
			t.Errorf("migration %s applied %d times", m.Name, count[m.Version])
		}
	}
	v, err := schema.Version(ctx, admin)
	if err != nil || v != ms[len(ms)-1].Version {
		t.Errorf("version = %d, %v; want %d", v, err, ms[len(ms)-1].Version)
	}
	again, err := schema.Migrate(ctx, admin)
	if err != nil || len(again) != 0 {
		t.Errorf("migrating a migrated database applied %v (%v)", again, err)
	}
}
