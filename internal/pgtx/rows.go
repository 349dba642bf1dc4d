package pgtx

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
)

// Rows is a multi-row statement that writes rows of one shape, for
// Tx.DeferRow: many writers in one transaction (the members of a group
// commit, each recording its own audit event) then pay for one statement
// instead of one each, which is most of what a small row costs PostgreSQL.
type Rows struct {
	// Width is the number of values in a row.
	Width int
	// Statement returns the statement that writes n rows, whose parameters
	// are the rows' values in order ($1…$Width the first row's, and so on).
	// It must write exactly one row per row given.
	Statement func(n int) string
}

// maxRowsChunk bounds the rows one statement of a Rows carries. The rows are
// sent in chunks of powers of two, largest first (37 rows: 32, 4, 1), so
// that a Rows has at most 8 statement texts for pgx to prepare and cache,
// whatever the number of rows.
const maxRowsChunk = 128

// DeferRow queues one row of r to be written with COMMIT, in the same round
// trip, as Defer does: every row given for r in this transaction is written
// by one statement (or a few for many rows, see maxRowsChunk), placed among
// the deferred writes where r's first row was queued. A statement that fails
// or writes another number of rows than it was given is that of Defer's
// check: nothing is written, or ErrCommittedAnyway for a wrong count.
func (tx *Tx) DeferRow(r *Rows, values ...any) {
	if len(values) != r.Width {
		panic(fmt.Sprintf("pgtx: DeferRow: %d values for rows %d wide", len(values), r.Width))
	}
	for i := range tx.final {
		if d := &tx.final[i]; d.rows == r {
			d.values = append(d.values, values...)
			return
		}
	}
	// Clipped, so that the next row's append never writes into the
	// caller's array.
	tx.final = append(tx.final, deferred{rows: r, values: slices.Clip(values)})
}

// batch returns the statements of a deferred write and the check of their
// results: Defer's own, or for DeferRow's rows one statement per chunk.
func (d deferred) batch() (*pgx.Batch, func(pgx.BatchResults) error) {
	if d.rows == nil {
		return d.b, d.check
	}
	b := &pgx.Batch{}
	var want []int
	vals := d.values
	for n := len(vals) / d.rows.Width; n > 0; {
		c := maxRowsChunk
		for c > n {
			c /= 2
		}
		b.Queue(d.rows.Statement(c), vals[:c*d.rows.Width]...)
		vals = vals[c*d.rows.Width:]
		want = append(want, c)
		n -= c
	}
	return b, func(br pgx.BatchResults) error {
		for _, w := range want {
			tag, err := br.Exec()
			if err != nil {
				return err
			}
			if got := tag.RowsAffected(); got != int64(w) {
				return fmt.Errorf("pgtx: a deferred statement wrote %d rows, expected %d", got, w)
			}
		}
		return nil
	}
}

// Values returns "($1::t1, $2::t2, …), (…)" for n rows of the given column
// types, numbering parameters from 1: the VALUES list of a multi-row
// statement, typed so that PostgreSQL and CockroachDB plan it alike. Texts
// are kept per shape (a few dozen in all).
func Values(types []string, n int) string {
	key := valuesKey{strings.Join(types, ","), n}
	if s, ok := valuesTexts.Load(key); ok {
		return s.(string)
	}
	var b strings.Builder
	p := 1
	for r := range n {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c, t := range types {
			if c > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "$%d::%s", p, t)
			p++
		}
		b.WriteByte(')')
	}
	s := b.String()
	valuesTexts.Store(key, s)
	return s
}

type valuesKey struct {
	types string
	n     int
}

var valuesTexts sync.Map // valuesKey → string
