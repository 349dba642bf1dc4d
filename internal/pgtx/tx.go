package pgtx

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Tx is one attempt of a transaction run by DB.Run. On PostgreSQL it saves
// round trips: BEGIN travels with the first statement, and the writes given to
// Defer travel with COMMIT, so a read-lock-decide-write transaction costs two
// round trips instead of four. It is not safe for concurrent use.
type Tx struct {
	conn  *pgx.Conn // PostgreSQL: the connection, with the transaction begun lazily
	ptx   pgx.Tx    // CockroachDB: the transaction crdbpgxv5 runs
	begin string    // the BEGIN statement, until it is sent
	final []deferred
	// faults, when not nil, makes round trips fail on purpose (faults.go).
	faults *injector
}

type deferred struct {
	b     *pgx.Batch
	check func(pgx.BatchResults) error
	// Or, from DeferRow: rows of one Rows, their values one after another.
	rows   *Rows
	values []any
}

// Exec runs one statement in the transaction.
func (tx *Tx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if tx.ptx != nil {
		return tx.ptx.Exec(ctx, sql, args...)
	}
	if tx.faults.statement() {
		return pgconn.CommandTag{}, tx.fail(ctx)
	}
	return tx.exec(ctx, sql, args...)
}

func (tx *Tx) exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if tx.begin == "" {
		return tx.conn.Exec(ctx, sql, args...)
	}
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	br := tx.sendBatch(ctx, b)
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

// Query runs a query in the transaction. The rows must be closed before the
// transaction is used again.
func (tx *Tx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if tx.ptx != nil {
		return tx.ptx.Query(ctx, sql, args...)
	}
	if tx.faults.statement() {
		return nil, tx.fail(ctx)
	}
	if tx.begin == "" {
		return tx.conn.Query(ctx, sql, args...)
	}
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	br := tx.sendBatch(ctx, b)
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

// QueryRow runs a query expected to return at most one row.
func (tx *Tx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := tx.Query(ctx, sql, args...)
	return &row{rows: rows, err: err}
}

// SendBatch sends a batch of statements in one round trip (with BEGIN in
// front if the transaction has not begun yet).
func (tx *Tx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if tx.ptx != nil {
		return tx.ptx.SendBatch(ctx, b)
	}
	if tx.faults.statement() {
		return &failedBatch{err: tx.fail(ctx)}
	}
	return tx.sendBatch(ctx, b)
}

func (tx *Tx) sendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if tx.begin == "" {
		return tx.conn.SendBatch(ctx, b)
	}
	withBegin := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(b.QueuedQueries)+1)}
	withBegin.Queue(tx.begin)
	withBegin.QueuedQueries = append(withBegin.QueuedQueries, b.QueuedQueries...)
	tx.begin = ""
	br := tx.conn.SendBatch(ctx, withBegin)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return &failedBatch{err: err}
	}
	return br
}

// Defer queues writes to be sent with COMMIT, in the same round trip, once
// the function given to Run has returned nil. check reads their results, in
// order. A write that fails (an SQL error) makes the server skip the rest and
// COMMIT, so nothing is written; check returns that error, or Retry(err) to
// run the transaction again. Because COMMIT is already on its way, check must
// not refuse writes that succeeded: an error it returns for those (a sanity
// check that found a bug) is reported as ErrCommittedAnyway, wrapping it.
// Deferred batches are sent in the order given.
func (tx *Tx) Defer(b *pgx.Batch, check func(pgx.BatchResults) error) {
	tx.final = append(tx.final, deferred{b: b, check: check})
}

// commit sends the deferred writes and COMMIT together and reports whether
// COMMIT really committed. It is called only on PostgreSQL.
func (tx *Tx) commit(ctx context.Context) (sent bool, err error) {
	if tx.begin != "" && len(tx.final) == 0 {
		return false, nil // nothing was ever sent: there is nothing to commit
	}
	fault := tx.faults.commit()
	if fault == cutBeforeCommit {
		// The connection dies with COMMIT on its way: the server rolls
		// the transaction back when the connection closes.
		tx.conn.Close(ctx)
		return true, errInjectedCut
	}
	b := &pgx.Batch{}
	checks := make([]func(pgx.BatchResults) error, len(tx.final))
	for i, d := range tx.final {
		db, check := d.batch()
		b.QueuedQueries = append(b.QueuedQueries, db.QueuedQueries...)
		checks[i] = check
	}
	if fault == commitFails {
		b.Queue(faultSQL)
	}
	var commitTag pgconn.CommandTag
	b.Queue("COMMIT").Exec(func(ct pgconn.CommandTag) error {
		commitTag = ct
		return nil
	})
	br := tx.sendBatch(ctx, b)
	var checkErr error
	for _, check := range checks {
		if checkErr = check(br); checkErr != nil {
			break
		}
	}
	if fault == commitFails && checkErr == nil {
		// The injected 40001, from the server, after the deferred
		// writes succeeded; COMMIT then answers ROLLBACK.
		_, checkErr = br.Exec()
	}
	// Close reads what is left, COMMIT's answer among it (through the
	// callback above, which runs only if the server executed COMMIT).
	closeErr := br.Close()
	switch committed := commitTag.String() == "COMMIT"; {
	case checkErr != nil && committed:
		return true, fmt.Errorf("%w: %w", ErrCommittedAnyway, checkErr)
	case checkErr != nil:
		return true, checkErr
	case closeErr != nil:
		return true, closeErr
	case !committed:
		// COMMIT in a failed transaction answers ROLLBACK, with no error.
		return true, ErrRolledBack
	case fault == cutAfterCommit:
		// Committed, but the answer is lost with the connection.
		tx.faults.stats.cutsCommitted.Add(1)
		tx.conn.Close(ctx)
		return true, errInjectedCut
	}
	return true, nil
}

// flushDeferred sends deferred writes on CockroachDB, where crdbpgxv5 commits.
func (tx *Tx) flushDeferred(ctx context.Context) error {
	for _, d := range tx.final {
		b, check := d.batch()
		br := tx.ptx.SendBatch(ctx, b)
		err := check(br)
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// batchRows closes the batch its rows came from when they are closed.
type batchRows struct {
	pgx.Rows
	br  pgx.BatchResults
	err error
}

func (r *batchRows) Close() {
	r.Rows.Close()
	if r.br != nil {
		r.err = r.br.Close()
		r.br = nil
	}
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

type row struct {
	rows pgx.Rows
	err  error
}

func (r *row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	rows := r.rows
	defer rows.Close()
	if !rows.Next() {
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := rows.Scan(dest...); err != nil {
		return err
	}
	rows.Close()
	return rows.Err()
}

// failedBatch is the result of a batch whose BEGIN failed.
type failedBatch struct{ err error }

func (f *failedBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, f.err }
func (f *failedBatch) Query() (pgx.Rows, error)         { return nil, f.err }
func (f *failedBatch) QueryRow() pgx.Row                { return &row{err: f.err} }
func (f *failedBatch) Close() error                     { return f.err }
func (f *failedBatch) Tx() pgx.Tx                       { return nil }

func beginSQL(opts pgx.TxOptions) string {
	s := "BEGIN ISOLATION LEVEL " + string(opts.IsoLevel)
	if opts.AccessMode == pgx.ReadOnly {
		s += " READ ONLY"
	}
	return s
}
