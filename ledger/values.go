package ledger

import (
	"fmt"
	"strings"
	"sync"
)

// Small writes (a single transfer: one transfer row, a few entries, two or
// three accounts) are sent as plain multi-row VALUES lists rather than
// unnest() over arrays: PostgreSQL does less work per row for them, and pgx
// encodes scalars more cheaply than arrays. Large batches keep unnest(), one
// statement text whatever their size.
const maxValuesRows = 8

// valuesRows returns "($1::t1, $2::t2, …), (…)" for n rows of the given
// column types, numbering parameters from 1. Texts are cached per shape.
func valuesRows(types []string, n int) string {
	key := valuesKey{strings.Join(types, ","), n}
	if s, ok := valuesCache.Load(key); ok {
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
	valuesCache.Store(key, s)
	return s
}

type valuesKey struct {
	types string
	n     int
}

var valuesCache sync.Map // valuesKey → string; a few dozen shapes at most

var (
	transferTypes = []string{"uuid", "text", "bytea", "text", "jsonb", "text", "jsonb", "uuid", "uuid", "timestamptz", "timestamptz", "text"}
	entryTypes    = []string{"uuid", "bigint", "uuid", "bigint", "numeric", "numeric", "timestamptz", "text"}
	accountTypes  = []string{"uuid", "numeric", "numeric", "numeric", "bigint", "timestamptz"}
)

func insertTransfersValues(n int) string {
	return `INSERT INTO transfers (id, idempotency_key, request_hash, state, postings, memo, metadata, pending_id, reverses, expires_at, created_at, region) VALUES ` +
		valuesRows(transferTypes, n)
}

func insertEntriesValues(n int) string {
	return `INSERT INTO entries (account_id, seq, transfer_id, posting, amount, balance_after, posted_at, region) VALUES ` +
		valuesRows(entryTypes, n)
}

func updateAccountsValues(n int) string {
	return `UPDATE accounts SET balance = a.balance, pending_debits = a.pd, pending_credits = a.pc, entry_seq = a.seq, last_entry_at = a.last
FROM (VALUES ` + valuesRows(accountTypes, n) + `) AS a(id, balance, pd, pc, seq, last)
WHERE accounts.id = a.id`
}
