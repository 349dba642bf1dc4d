package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/mutual-ledger/mutual/schema"
)

const migrateSummary = `Applies the schema's migrations the database has not had yet (mutual serve
does too when it starts) and prints what it applied.

With --multi-region, on a CockroachDB cluster it then lays the database out
across the cluster's regions: the regions the organizations name (and the
primary region), GLOBAL units, categories and organizations, and every row
that belongs to an organization REGIONAL BY ROW in its home region (see
docs/multi-city.md). On PostgreSQL there is nothing to do (the region columns
are kept and indexed) and it says so. --dry-run prints the statements
instead of applying them, on either database.`

// migrate implements `mutual migrate`.
func migrate(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	dataDir := dataDirFlag(fs)
	var mr multiRegionFlags
	fs.BoolVar(&mr.on, "multi-region", false, "on CockroachDB, lay the database out across its regions (nothing to do on PostgreSQL)")
	fs.StringVar(&mr.primary, "primary-region", "", "with --multi-region: the primary region, where rows of no region live (default: the network organization's region)")
	fs.StringVar(&mr.survive, "survive", "zone", "with --multi-region: the failure the database survives, zone or region")
	fs.BoolVar(&mr.dryRun, "dry-run", false, "with --multi-region: print the statements, apply nothing")
	if help, err := parseFlags(fs, e, migrateSummary, args); help || err != nil {
		return err
	}
	if mr.survive != "zone" && mr.survive != "region" {
		return &usageError{fmt.Sprintf("migrate: --survive must be zone or region, not %q", mr.survive)}
	}
	if !mr.on && (mr.primary != "" || mr.dryRun || mr.survive != "zone") {
		return &usageError{"migrate: --primary-region, --survive and --dry-run go with --multi-region"}
	}
	db, err := openDatabase(ctx, e, *dataDir)
	if err != nil {
		return err
	}
	err = migrateDatabase(ctx, e, db)
	if err == nil && mr.on {
		err = multiRegion(ctx, e, db, mr)
	}
	return errors.Join(err, db.Close(context.WithoutCancel(ctx)))
}

func migrateDatabase(ctx context.Context, e *env, db *database) error {
	ms, err := schema.Migrations()
	if err != nil {
		return err
	}
	names := make(map[int64]string, len(ms))
	for _, m := range ms {
		names[m.Version] = m.Name
	}
	applied, err := schema.Migrate(ctx, db.pool)
	for _, v := range applied {
		fmt.Fprintf(e.stdout, "applied migration %s\n", names[v])
	}
	if err != nil {
		return err
	}
	version, err := schema.Version(ctx, db.pool)
	if err != nil {
		return fmt.Errorf("reading the schema version: %w", err)
	}
	if len(applied) == 0 {
		fmt.Fprintf(e.stdout, "schema is up to date at version %d\n", version)
	} else {
		fmt.Fprintf(e.stdout, "schema is now at version %d\n", version)
	}
	return nil
}

type multiRegionFlags struct {
	on, dryRun       bool
	primary, survive string
}

// multiRegion lays a CockroachDB database out across its regions (the
// statements of schema.MultiRegion, applied one by one), or prints them
// with --dry-run; on PostgreSQL, without --dry-run, it explains that there
// is nothing to do. The regions are those the organizations name, and the
// primary region: --primary-region, or the network organization's.
func multiRegion(ctx context.Context, e *env, db *database, f multiRegionFlags) error {
	var version string
	if err := db.pool.QueryRow(ctx, `SELECT version()`).Scan(&version); err != nil {
		return fmt.Errorf("reading the server's version: %w", err)
	}
	cockroach := strings.Contains(version, "CockroachDB")
	if !cockroach && !f.dryRun {
		fmt.Fprintln(e.stdout, "multi-region: this is PostgreSQL, which has nothing to do: the region columns of migration 0021 are kept and indexed,")
		fmt.Fprintln(e.stdout, "and the locality statements (GLOBAL, REGIONAL BY ROW) are CockroachDB's. --dry-run prints them.")
		return nil
	}
	plan := schema.MultiRegionPlan{SurviveRegion: f.survive == "region"}
	if err := db.pool.QueryRow(ctx, `SELECT current_database()`).Scan(&plan.Database); err != nil {
		return err
	}
	rows, err := db.pool.Query(ctx, `SELECT DISTINCT region FROM orgs WHERE region <> '' ORDER BY region`)
	if err != nil {
		return err
	}
	if plan.Regions, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return err
	}
	plan.Primary = f.primary
	if plan.Primary == "" {
		err := db.pool.QueryRow(ctx, `SELECT region FROM orgs WHERE kind = 'network'`).Scan(&plan.Primary)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
	}
	if plan.Primary == "" {
		return fmt.Errorf("multi-region: name the primary region with --primary-region (the network organization has no region); the organizations name %v", plan.Regions)
	}
	if cockroach {
		var n int
		if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns WHERE table_name = 'accounts' AND column_name = 'crdb_region'`).Scan(&n); err != nil {
			return err
		}
		plan.Relocate = n > 0
	}
	stmts, err := schema.MultiRegion(plan)
	if err != nil {
		return fmt.Errorf("multi-region: %w", err)
	}
	if f.dryRun {
		for _, s := range stmts {
			fmt.Fprintf(e.stdout, "%s;\n", s)
		}
		return nil
	}
	rows, err = db.pool.Query(ctx, `SELECT region FROM [SHOW REGIONS FROM CLUSTER]`)
	if err != nil {
		return fmt.Errorf("multi-region: reading the cluster's regions: %w", err)
	}
	cluster, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	var missing []string
	for _, r := range append([]string{plan.Primary}, plan.Regions...) {
		if !slices.Contains(cluster, r) && !slices.Contains(missing, r) {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("multi-region: the organizations name regions the cluster does not have: %v (it has %v); start nodes with --locality=region=... there, or move the organizations (PUT /v1/orgs/{id}/region)", missing, cluster)
	}
	for _, s := range stmts {
		if _, err := db.pool.Exec(ctx, s); err != nil {
			return fmt.Errorf("multi-region: %s: %w", s, err)
		}
		fmt.Fprintf(e.stdout, "applied: %s\n", s)
	}
	return nil
}
