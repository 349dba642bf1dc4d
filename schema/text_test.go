package schema_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mutual-ledger/mutual/internal/dbtest"
)

// refusedEverywhere are characters no text column may hold (see migration
// 0012): C0 and C1 controls, DEL, bidirectional overrides and isolates,
// invisible format characters.
var refusedEverywhere = []string{"\a", "\x1b[31m", "\x7f", "\u0085", "\u009b", "\u202e", "\u202a", "\u2066", "\u2069",
	"\u200b", "\u2028", "\u2029", "\u2060", "\u206a", "\ufeff", "\ufff9"}

// lineBreaks are refused in one-line columns only.
var lineBreaks = []string{"\n", "\r", "\t"}

// allowed are characters every text column takes: letters of many scripts,
// emoji with zero-width joiners, the direction marks.
var allowed = []string{"Ana María", "Café «Le Pain»", "שלום\u200f", "مرحبا\u061c", "नमस्ते", "می\u200cخواهم", "👩\u200d👩\u200d👧", "日本語"}

// textColumns are the columns migration 0012 constrains, and whether they
// may hold several lines.
var textColumns = []struct {
	table, column string
	multiline     bool
}{
	{"units", "name", false}, {"accounts", "name", false}, {"orgs", "name", false}, {"orgs", "city", false},
	{"orgs", "region", false}, {"members", "name", false}, {"members", "email", false}, {"tokens", "name", false},
	{"categories", "name", false}, {"listings", "title", false}, {"listings", "city", false},
	{"listings", "neighborhood", false}, {"listing_tags", "tag", false}, {"funds", "name", false},
	{"fund_movements", "source", false}, {"invitations", "name", false}, {"invitations", "email", false},
	{"invitations", "phone", false},
	{"transfers", "memo", true}, {"listings", "description", true}, {"agreements", "message", true},
	{"agreements", "reason", true}, {"trades", "memo", true}, {"grant_requests", "purpose", true},
	{"grant_requests", "decision_note", true}, {"fund_movements", "memo", true},
	{"fund_rule_changes", "reason", true},
	{"obligations", "reference", false}, {"obligations", "memo", true}, {"obligations", "dispute_reason", true},
	{"accounts", "region", false}, {"listings", "region", false}, {"agreements", "region", false},
	{"trades", "region", false}, {"memberships", "region", false}, {"grant_requests", "region", false},
}

// TestTextConstraintsRefuseControls inserts rows with raw SQL: into the
// units, organizations and members tables themselves, and, for every
// constrained column, into a scratch copy of its table that keeps its CHECK
// constraint on the column (and drops its NOT NULLs, so that one column
// can be inserted alone). Every refused character is refused with a check violation of the
// column's _text constraint; line breaks only in one-line columns; text of
// many scripts is taken.
func TestTextConstraintsRefuseControls(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.New(t)

	t.Run("real tables", func(t *testing.T) {
		for i, bad := range append(append([]string{}, refusedEverywhere...), lineBreaks...) {
			checkRefused(t, pool, "units_name_text",
				`INSERT INTO units (code, scale, name, created_at) VALUES ($1, 2, $2, now())`, fmt.Sprintf("U%d", i), "Hours"+bad)
			checkRefused(t, pool, "orgs_name_text",
				`INSERT INTO orgs (id, name, kind, created_at) VALUES (gen_random_uuid(), $1, 'network', now())`, "Net"+bad+"work")
			checkRefused(t, pool, "members_name_text",
				`INSERT INTO members (id, name, created_at) VALUES (gen_random_uuid(), $1, now())`, bad+"Ana")
		}
		for i, good := range allowed {
			if _, err := pool.Exec(ctx, `INSERT INTO members (id, name, created_at) VALUES (gen_random_uuid(), $1, now())`, good); err != nil {
				t.Errorf("member %d named %q: %v", i, good, err)
			}
		}
	})

	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_constraint WHERE conname LIKE '%\_text'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(textColumns) {
		t.Errorf("%d _text constraints in the schema, %d listed here", n, len(textColumns))
	}
	for _, c := range textColumns {
		t.Run(c.table+"."+c.column, func(t *testing.T) {
			conn, err := pool.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Release()
			// Identifiers from the list above, never from input.
			probe := "probe_" + c.table
			setup := fmt.Sprintf(`CREATE TEMP TABLE %s (LIKE %s INCLUDING CONSTRAINTS)`, probe, c.table)
			if _, err := conn.Exec(ctx, setup); err != nil {
				t.Fatal(err)
			}
			defer conn.Exec(ctx, `DROP TABLE `+probe)
			rows, err := conn.Query(ctx, `SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND attnotnull`, probe)
			if err != nil {
				t.Fatal(err)
			}
			cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			for _, col := range cols {
				if _, err := conn.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s ALTER COLUMN %s DROP NOT NULL`, probe, col)); err != nil {
					t.Fatal(err)
				}
			}
			// Only the constraint under test stays: the table's other
			// checks tie columns together that are NULL here.
			constraint := c.table + "_" + c.column + "_text"
			rows, err = conn.Query(ctx, `SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass AND conname <> $2`, probe, constraint)
			if err != nil {
				t.Fatal(err)
			}
			others, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range others {
				if _, err := conn.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s DROP CONSTRAINT %s`, probe, o)); err != nil {
					t.Fatal(err)
				}
			}
			insert := fmt.Sprintf(`INSERT INTO %s (%s) VALUES ($1)`, probe, c.column)
			for _, bad := range refusedEverywhere {
				checkRefused(t, conn, constraint, insert, "a"+bad+"b")
			}
			for _, br := range lineBreaks {
				text := "first line" + br + "second line"
				_, err := conn.Exec(ctx, insert, text)
				switch {
				case c.multiline && err != nil:
					t.Errorf("%q refused in multi-line text: %v", text, err)
				case !c.multiline:
					checkRefused(t, conn, constraint, insert, text)
				}
			}
			for _, good := range allowed {
				if _, err := conn.Exec(ctx, insert, good); err != nil {
					t.Errorf("%q refused: %v", good, err)
				}
			}
		})
	}
}

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

var _ execer = (*pgxpool.Pool)(nil)

// checkRefused runs an insert that must fail on constraint.
func checkRefused(t *testing.T, db execer, constraint, sql string, args ...any) {
	t.Helper()
	_, err := db.Exec(context.Background(), sql, args...)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23514" || pe.ConstraintName != constraint {
		t.Errorf("%s with %q: want a check violation of %s, got %v", strings.Fields(sql)[2], args, constraint, err)
	}
}
