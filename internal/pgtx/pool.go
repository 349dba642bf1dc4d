package pgtx

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Pool is the pgxpool.Pool the stores read through outside transactions.
// Its Exec, Query, QueryRow and Ping report a database that cannot be
// reached as ErrUnavailable (through Classify), as Run does, so that every
// read and write answers an outage the same way; the rows of Query do so
// too, from Err and Scan. Its other methods are pgxpool's own.
//
// The pool itself keeps no broken state: a connection that failed is
// closed and dropped, one that sat idle is pinged before reuse, and new ones
// are dialled as needed, so the pool recovers by itself once the database
// is back.
type Pool struct {
	*pgxpool.Pool
}

// Exec runs one statement on a connection from the pool.
func (p *Pool) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	tag, err := p.Pool.Exec(ctx, sql, args...)
	return tag, Classify(err)
}

// Query runs a query on a connection from the pool, released when the rows
// are closed.
func (p *Pool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	rows, err := p.Pool.Query(ctx, sql, args...)
	if rows != nil {
		rows = &classifiedRows{Rows: rows}
	}
	return rows, Classify(err)
}

// QueryRow runs a query expected to return at most one row; its error, if
// any, comes from Scan.
func (p *Pool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return classifiedRow{p.Pool.QueryRow(ctx, sql, args...)}
}

// Ping checks that a connection answers.
func (p *Pool) Ping(ctx context.Context) error {
	return Classify(p.Pool.Ping(ctx))
}

// classifiedRows classifies the errors of the rows it wraps.
type classifiedRows struct {
	pgx.Rows
}

func (r *classifiedRows) Err() error { return Classify(r.Rows.Err()) }

func (r *classifiedRows) Scan(dest ...any) error { return Classify(r.Rows.Scan(dest...)) }

// classifiedRow classifies the error of the row it wraps.
type classifiedRow struct {
	row pgx.Row
}

func (r classifiedRow) Scan(dest ...any) error { return Classify(r.row.Scan(dest...)) }
