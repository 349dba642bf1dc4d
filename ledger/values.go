package ledger

import (
	"github.com/mutual-ledger/mutual/internal/pgtx"
)

// Small writes (a single transfer: one transfer row, a few entries, two or
// three accounts) are sent as plain multi-row VALUES lists rather than
// unnest() over arrays: PostgreSQL does less work per row for them, and pgx
// encodes scalars more cheaply than arrays. Large batches keep unnest(), one
// statement text whatever their size.
const maxValuesRows = 8

// maxLockValues bounds the accounts locked through a VALUES list (see
// Store.lockStatement): the accounts of a group of single transfers from
// a few dozen callers.
const maxLockValues = 64

var (
	transferTypes = []string{"uuid", "text", "bytea", "text", "jsonb", "text", "jsonb", "uuid", "uuid", "timestamptz", "timestamptz", "text"}
	entryTypes    = []string{"uuid", "bigint", "uuid", "bigint", "numeric", "numeric", "timestamptz", "text"}
	accountTypes  = []string{"uuid", "numeric", "numeric", "numeric", "bigint", "timestamptz"}
	uuidType      = []string{"uuid"}
)

// lockAccountsValues is lockAccounts for n accounts listed one per row of a
// VALUES list, which is read in its order.
func lockAccountsValues(n int) string {
	return lockAccountsIn(`(VALUES ` + pgtx.Values(uuidType, n) + `)`)
}

func insertTransfersValues(n int) string {
	return `INSERT INTO transfers (id, idempotency_key, request_hash, state, postings, memo, metadata, pending_id, reverses, expires_at, created_at, region) VALUES ` +
		pgtx.Values(transferTypes, n)
}

func insertEntriesValues(n int) string {
	return `INSERT INTO entries (account_id, seq, transfer_id, posting, amount, balance_after, posted_at, region) VALUES ` +
		pgtx.Values(entryTypes, n)
}

func updateAccountsValues(n int) string {
	return `UPDATE accounts SET balance = a.balance, pending_debits = a.pd, pending_credits = a.pc, entry_seq = a.seq, last_entry_at = a.last
FROM (VALUES ` + pgtx.Values(accountTypes, n) + `) AS a(id, balance, pd, pc, seq, last)
WHERE accounts.id = a.id`
}
