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

// lockAccountsValues is lockAccounts for n accounts listed one per row: the
// VALUES list is read in its order, and each id is one primary-key lookup
// made and locked in that order.
func lockAccountsValues(n int) string {
	return `
SELECT a.id, a.unit, a.status, a.lower_bound, a.upper_bound, a.balance, a.pending_debits, a.pending_credits, a.entry_seq, a.last_entry_at, a.region
FROM (VALUES ` + pgtx.Values(uuidType, n) + `) AS k(id),
     LATERAL (SELECT id, unit, status, lower_bound, upper_bound, balance, pending_debits, pending_credits, entry_seq, last_entry_at, region
              FROM accounts WHERE accounts.id = k.id FOR UPDATE) AS a`
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
