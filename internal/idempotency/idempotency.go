// Package idempotency keeps the HTTP API's idempotency records in the
// idempotency_keys table: a request that carries an Idempotency-Key reserves
// the key before it runs and stores its response when it is done, so that a
// retry gets the first response instead of doing the work twice.
//
// A reservation is a lease: a server that dies while holding one leaves it
// pending, and once it is older than Config.StaleAfter the same request may
// take it over. The work behind the key must therefore be safe to run again
// (the ledger makes transfers so by its own idempotency keys).
package idempotency

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mutual-ledger/mutual/internal/pgtx"
)

// State is where a record stands.
type State string

// The states of a record.
const (
	// Pending: a request holds the key and is running.
	Pending State = "pending"
	// Done: the response is stored.
	Done State = "done"
)

// Record is one idempotency key of one member.
type Record struct {
	MemberID    uuid.UUID
	Key         string
	RequestHash []byte
	State       State
	// The stored response, when State is Done.
	Status      int
	ContentType string
	Location    string
	Body        []byte
	// CreatedAt is when the key was reserved, or its reservation last taken
	// over.
	CreatedAt time.Time
	// Lease identifies the reservation: Complete and Abandon act only on
	// the reservation whose lease they present.
	Lease uuid.UUID
}

// Response is what Complete stores.
type Response struct {
	Status      int // below 500: server errors are abandoned, not stored
	ContentType string
	Location    string
	Body        []byte
}

// ErrLeaseLost is returned by Complete and Abandon when the reservation is no
// longer the caller's: it was taken over after going stale, or is gone.
var ErrLeaseLost = errors.New("idempotency: the reservation was taken over or removed")

// Config configures a Store.
type Config struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// StaleAfter is how old a pending reservation must be before another
	// request with the same content may take it over; 0 means
	// DefaultStaleAfter. It should exceed the longest a request may run
	// (the HTTP server's write timeout).
	StaleAfter time.Duration
}

// DefaultStaleAfter is the default Config.StaleAfter.
const DefaultStaleAfter = 2 * time.Minute

// MaxKeyLength is the longest key the table accepts.
const MaxKeyLength = 255

// Store keeps idempotency records. It is safe for concurrent use.
type Store struct {
	db    *pgtx.DB
	now   func() time.Time
	stale time.Duration
}

// New returns a Store that runs its transactions through db. The schema must
// be migrated (schema.Migrate).
func New(db *pgtx.DB, cfg Config) *Store {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = DefaultStaleAfter
	}
	return &Store{db: db, now: cfg.Now, stale: cfg.StaleAfter}
}

func (s *Store) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

const (
	reserve = `
INSERT INTO idempotency_keys (member_id, key, request_hash, state, lease, created_at)
VALUES ($1, $2, $3, 'pending', $5, $4)
ON CONFLICT (member_id, key) DO NOTHING`

	selectRecord = `
SELECT request_hash, state, COALESCE(status, 0), COALESCE(content_type, ''), COALESCE(location, ''), body, created_at, lease
FROM idempotency_keys WHERE member_id = $1 AND key = $2`

	takeOver = `
UPDATE idempotency_keys SET created_at = $4, lease = $5
WHERE member_id = $1 AND key = $2 AND state = 'pending' AND lease = $3`

	complete = `
UPDATE idempotency_keys SET state = 'done', status = $4, content_type = $5, location = $6, body = $7
WHERE member_id = $1 AND key = $2 AND state = 'pending' AND lease = $3`

	abandon = `
DELETE FROM idempotency_keys WHERE member_id = $1 AND key = $2 AND state = 'pending' AND lease = $3`

	purge = `DELETE FROM idempotency_keys WHERE created_at < $1 AND state = 'done'`

	// Whether a reservation's change took effect, asked when the commit's
	// answer was lost: the key is held with the lease written, completed
	// under it, or no longer held under it.
	isHeld      = `SELECT EXISTS (SELECT 1 FROM idempotency_keys WHERE member_id = $1 AND key = $2 AND lease = $3)`
	isCompleted = `SELECT EXISTS (SELECT 1 FROM idempotency_keys WHERE member_id = $1 AND key = $2 AND lease = $3 AND state = 'done')`
	isAbandoned = `SELECT NOT EXISTS (SELECT 1 FROM idempotency_keys WHERE member_id = $1 AND key = $2 AND lease = $3)`
)

// settle runs change and, while its commit's outcome is unknown
// (pgtx.ErrAmbiguousCommit), asks the question took (isHeld, isCompleted or
// isAbandoned) about the lease the attempt wrote: if the change took effect it
// returns nil, and otherwise runs it again. A record carries its lease, so the
// question has an exact answer; when the answer cannot be had, the ambiguous
// error is returned. Without this a lost answer would leave a key pending
// until it went stale, and a retried Complete would find its lease gone.
func (s *Store) settle(ctx context.Context, change func() error, took string, member uuid.UUID, key string, lease *uuid.UUID) error {
	for {
		err := change()
		if !errors.Is(err, pgtx.ErrAmbiguousCommit) {
			return err
		}
		var done bool
		if qerr := s.db.Pool.QueryRow(ctx, took, member, key, *lease).Scan(&done); qerr != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

// errGone says the conflicting record was deleted between the insert and the
// read (its request failed and was abandoned): the transaction runs again.
var errGone = errors.New("idempotency: the record went away")

// Begin reserves key for member, for a request whose content hashes to hash.
// When reserved is true the caller holds the key and must end with Complete
// or Abandon, presenting the returned record; this is also the case when a
// stale reservation of the same request was taken over. Otherwise rec is the
// key's existing record, pending or done, whose RequestHash the caller
// compares with its own. It returns an error only when the database fails.
func (s *Store) Begin(ctx context.Context, member uuid.UUID, key string, hash []byte) (rec Record, reserved bool, err error) {
	if key == "" || len(key) > MaxKeyLength {
		return Record{}, false, fmt.Errorf("idempotency: key must be 1 to %d bytes", MaxKeyLength)
	}
	var lease uuid.UUID // the lease the last attempt wrote, if it reserved the key
	err = s.settle(ctx, func() error {
		return s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
			return s.begin(ctx, tx, member, key, hash, &lease, &rec, &reserved)
		})
	}, isHeld, member, key, &lease)
	if err != nil {
		return Record{}, false, err
	}
	return rec, reserved, nil
}

// begin is one attempt of Begin, setting its results; lease is the one it
// writes (in rec, when it reserves the key).
func (s *Store) begin(ctx context.Context, tx *pgtx.Tx, member uuid.UUID, key string, hash []byte, leaseOut *uuid.UUID, recOut *Record, reservedOut *bool) (err error) {
	var (
		rec      Record
		reserved bool
	)
	defer func() { *recOut, *reservedOut = rec, reserved }()
	now, lease := s.clock(), uuid.New()
	*leaseOut = uuid.Nil
	rec = Record{MemberID: member, Key: key, RequestHash: hash, State: Pending, CreatedAt: now, Lease: lease}
	tag, err := tx.Exec(ctx, reserve, member, key, hash, now, lease)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 1 {
		reserved, *leaseOut = true, lease
		return nil
	}
	// At READ COMMITTED the insert waited for a concurrent reservation
	// of the key to commit or roll back; this read sees the outcome.
	reserved = false
	rec = Record{MemberID: member, Key: key}
	var status int64
	err = tx.QueryRow(ctx, selectRecord, member, key).
		Scan(&rec.RequestHash, &rec.State, &status, &rec.ContentType, &rec.Location, &rec.Body, &rec.CreatedAt, &rec.Lease)
	if errors.Is(err, pgx.ErrNoRows) {
		return pgtx.Retry(errGone)
	}
	if err != nil {
		return err
	}
	rec.Status = int(status)
	if rec.State != Pending || !bytes.Equal(rec.RequestHash, hash) || now.Sub(rec.CreatedAt) < s.stale {
		return nil
	}
	// A stale reservation of the same request: its server died or
	// gave up. Take the lease over, unless someone else just did.
	tag, err = tx.Exec(ctx, takeOver, member, key, rec.Lease, now, lease)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 1 {
		rec.CreatedAt, rec.Lease, reserved, *leaseOut = now, lease, true, lease
	}
	return nil
}

// Complete stores the response of the request that holds rec's reservation.
// It returns ErrLeaseLost when the reservation is no longer the caller's,
// and an error for a status of 500 or more, which must be abandoned instead.
func (s *Store) Complete(ctx context.Context, rec Record, resp Response) error {
	if resp.Status < 100 || resp.Status >= 500 {
		return fmt.Errorf("idempotency: a %d response is not stored; abandon the reservation", resp.Status)
	}
	body := resp.Body
	if body == nil {
		body = []byte{}
	}
	return s.endLease(ctx, complete, isCompleted, rec.MemberID, rec.Key, rec.Lease, resp.Status, resp.ContentType, resp.Location, body)
}

// Abandon deletes the reservation rec holds, so that the key can be used
// again (after a server error, say). It returns ErrLeaseLost when the
// reservation is no longer the caller's.
func (s *Store) Abandon(ctx context.Context, rec Record) error {
	return s.endLease(ctx, abandon, isAbandoned, rec.MemberID, rec.Key, rec.Lease)
}

// endLease runs sql, whose arguments begin with the member, the key and the
// lease, and took asks whether it took effect when the answer was lost.
func (s *Store) endLease(ctx context.Context, sql, took string, member uuid.UUID, key string, lease uuid.UUID, more ...any) error {
	var n int64
	err := s.settle(ctx, func() error {
		return s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
			tag, err := tx.Exec(ctx, sql, append([]any{member, key, lease}, more...)...)
			n = tag.RowsAffected()
			return err
		})
	}, took, member, key, &lease)
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrLeaseLost
	}
	return nil
}

// Purge deletes the completed records created before before, and returns how
// many it deleted. A key purged can be used again for another request.
func (s *Store) Purge(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		tag, err := tx.Exec(ctx, purge, before)
		n = tag.RowsAffected()
		return err
	})
	return n, err
}
