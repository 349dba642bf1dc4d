// Package ledger is Mutual's double-entry core: units, accounts with bounds,
// transfers of one or more postings (possibly in several units), holds that
// reserve amounts until posted, voided or expired, reversals, batches, the
// per-account journal of entries, and the invariants that tie them together.
//
// Every movement of value is a balanced transfer: for every unit, the sum of
// all posted balances is zero; no account leaves its bounds (pending debits
// counted); an acknowledged transfer is never lost; a retried request with the
// same idempotency key never moves value twice. The Store keeps them on
// PostgreSQL or CockroachDB with the shared SQL dialect of package schema, and
// Verify checks them.
//
// The ledger knows nothing of members, listings or HTTP: an account's owner
// is an opaque string.
package ledger
