// Package schema owns Mutual's SQL migrations: numbered files embedded in the
// binary, written in the dialect PostgreSQL and CockroachDB share, and applied
// in order by Migrate.
package schema

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mutual-ledger/mutual/internal/pgtx"
)

//go:embed migrations/*.sql
var files embed.FS

// Migration is one numbered step of the schema.
type Migration struct {
	Version int64
	Name    string
	SQL     string
}

// Migrations returns every embedded migration in version order.
func Migrations() ([]Migration, error) {
	names, err := fs.Glob(files, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("schema: migration %q is not named NNNN_name.sql", base)
		}
		body, err := files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: strings.TrimSuffix(base, ".sql"), SQL: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i := 1; i < len(ms); i++ {
		if ms[i].Version == ms[i-1].Version {
			return nil, fmt.Errorf("schema: two migrations numbered %d", ms[i].Version)
		}
	}
	return ms, nil
}

const createVersionTable = `
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    BIGINT      PRIMARY KEY,
    name       TEXT        NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)`

// Migrate applies, in order, every migration the database has not recorded in
// schema_migrations, each in its own transaction together with its version
// row. Two processes migrating at once cannot both apply a step: the second
// one's insert of the version row waits for the first transaction and then
// fails on the primary key, and the step is skipped (no advisory lock is
// needed, which CockroachDB would ignore). It returns the versions it applied.
func Migrate(ctx context.Context, pool *pgxpool.Pool) ([]int64, error) {
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	if err := createTable(ctx, pool); err != nil {
		return nil, err
	}
	db, err := pgtx.New(ctx, pool)
	if err != nil {
		return nil, err
	}
	var applied []int64
	for _, m := range ms {
		ok, err := apply(ctx, db, m)
		if err != nil {
			return applied, fmt.Errorf("schema: migration %s: %w", m.Name, err)
		}
		if ok {
			applied = append(applied, m.Version)
		}
	}
	return applied, nil
}

// createTable creates the version table. Two concurrent CREATE TABLE IF NOT
// EXISTS can still collide in PostgreSQL's catalog; the loser tries again.
func createTable(ctx context.Context, pool *pgxpool.Pool) error {
	var err error
	for range 5 {
		if _, err = pool.Exec(ctx, createVersionTable); err == nil || !isCatalogRace(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("schema: creating schema_migrations: %w", err)
	}
	return nil
}

// errApplied says another process applied the migration first.
var errApplied = errors.New("schema: applied by another process")

// StepMarker, alone on a line, splits a migration into steps, each committed
// in a transaction of its own, the last one with the migration's version
// row. CockroachDB does not let a transaction write to a column it added,
// nor change the schema after it wrote: a migration that adds columns and
// then fills them puts the two in separate steps. Every step but the last
// may run again (after a crash between steps, or beside a concurrent
// migrator), so it must be idempotent: ADD COLUMN IF NOT EXISTS, CREATE
// INDEX IF NOT EXISTS.
const StepMarker = "-- mutual:step"

func apply(ctx context.Context, db *pgtx.DB, m Migration) (bool, error) {
	var done bool
	err := db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.Version).Scan(&done)
	if err != nil || done {
		return false, err
	}
	steps := StepsFor(m.SQL, db.CockroachDB())
	for _, step := range steps[:len(steps)-1] {
		if strings.TrimSpace(step) == "" {
			continue
		}
		// One query of several statements, which both databases run as one
		// implicit transaction. These steps change the schema only; if one
		// fails, the next migrate runs it again. Two migrators running one
		// at once can collide in PostgreSQL's catalog (two CREATE INDEX IF
		// NOT EXISTS both find no index) or deadlock on the tables' locks;
		// the loser runs it again, and finds the winner's work done.
		var err error
		for range 10 {
			if _, err = db.Pool.Exec(ctx, step); err == nil || !(isCatalogRace(err) || isConflict(err)) {
				break
			}
		}
		if err != nil {
			return false, err
		}
	}
	last := steps[len(steps)-1]
	err = db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		// The version row first: a concurrent migrator blocks here until
		// this transaction ends, then fails on the key and skips the step.
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
			if isUniqueViolation(err) {
				return errApplied
			}
			return err
		}
		if strings.TrimSpace(last) == "" {
			return nil // a PostgreSQL-only step on CockroachDB
		}
		_, err := tx.Exec(ctx, last)
		return err
	})
	if errors.Is(err, errApplied) {
		return false, nil
	}
	return err == nil, err
}

// PostgresOnly, alone on a line of a step (see StepMarker), makes the
// step PostgreSQL's only: on CockroachDB it is left out (the last step
// then commits the version row alone). It is for settings that only tune
// PostgreSQL's planner, which CockroachDB's does not read, never for the
// schema's meaning: tables, columns, constraints and indexes are written
// in the dialect both share.
const PostgresOnly = "-- mutual:postgres-only"

// StepsFor splits a migration's SQL at its StepMarker lines, and on
// CockroachDB empties the steps marked PostgresOnly.
func StepsFor(sql string, cockroach bool) []string {
	var steps []string
	var cur strings.Builder
	end := func() {
		step := cur.String()
		if cockroach && slices.ContainsFunc(strings.Split(step, "\n"), func(l string) bool { return strings.TrimSpace(l) == PostgresOnly }) {
			step = ""
		}
		steps = append(steps, step)
		cur.Reset()
	}
	for _, line := range strings.SplitAfter(sql, "\n") {
		if strings.TrimSpace(line) == StepMarker {
			end()
			continue
		}
		cur.WriteString(line)
	}
	end()
	return steps
}

// Version returns the highest migration version recorded in the database, or
// 0 when none is.
func Version(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	var v *int64
	err := pool.QueryRow(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
		return 0, nil
	}
	if err != nil || v == nil {
		return 0, err
	}
	return *v, nil
}

// isCatalogRace reports the errors PostgreSQL gives the loser of two
// concurrent CREATE TABLE IF NOT EXISTS: a duplicate catalog key or type.
func isCatalogRace(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "23505" || pgErr.Code == "42710" || pgErr.Code == "42P07")
}

// isConflict reports a deadlock or a serialization failure, after which the
// statement may simply run again.
func isConflict(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001")
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}
