// Package idempotency keeps the HTTP API's idempotency records in the
// idempotency_keys table: a request that carries an Idempotency-Key reserves
// the key before it runs and stores its response when it is done, so that a
// retry gets the first response instead of doing the work twice.
//
// A reservation is a lease held by a server instance. Each `mutual serve`
// process registers as an instance (Register) with a random id in the
// server_instances table and renews a heartbeat there about every second
// (RunHeartbeat): one small write per second per server, whatever the load.
// A reservation records its instance, so a retry can tell a request that is
// still running from one whose server died: a pending reservation whose
// instance's heartbeat is older than Config.TTL (5 s by default), or whose
// instance row is gone (Deregister, at a graceful shutdown), is taken over
// at once by the same request. A server killed with SIGKILL thus blocks its
// keys for at most the TTL, not for minutes; and a server that knows it is
// the database's only one (`mutual serve` in local mode) frees the keys of
// every earlier instance as it starts (ForgetInstances).
//
// Two live requests must never run under one key. Three rules see to it:
//
//   - A takeover deletes the lapsed instance's row in the transaction that
//     takes the reservation, and a renewal only updates a row that exists
//     and has not lapsed. The row is where the two meet, so either the
//     renewal wins (the instance lives on and nothing was taken) or the
//     takeover does (the instance can never renew that id again). An
//     instance whose renewal failed or found its row gone registers anew.
//   - An instance that could not renew for TTL minus a margin considers
//     itself lost: it cancels the contexts of its requests (LeaseContext)
//     and refuses new reservations (ErrInstanceLost). Its deadline runs on
//     its own monotonic clock from before the renewal was sent, so it passes
//     before any other server can see the heartbeat lapsed.
//   - Complete and Abandon act only on the lease they hold: a holder that
//     lost its reservation cannot overwrite the new holder's result
//     (ErrLeaseLost).
//
// Heartbeats are stamped and judged by the database's clock (now()), so the
// clocks of servers sharing a database need not agree: only the database's
// own clock matters (on CockroachDB its nodes stay within the cluster's
// maximum offset, which the margin covers). Tests pass Config.Now to stamp
// and judge with a clock they move instead.
//
// A time-based lease cannot stop a process that is frozen (a long GC pause,
// a stopped VM) between checking its lease and writing: it wakes up after
// its key was taken over and writes anyway. What the work writes is
// therefore fenced once more where it is written: the ledger's own
// idempotency keys and the resources' keyed ids make a repeat write nothing
// new, so a request run twice still moves value once.
//
// Why a heartbeat row: the shared dialect has no advisory locks, and tying
// liveness to a lock held by an open transaction would tie it to one
// connection (a half-open TCP connection keeps such a lock for minutes) and
// keep a transaction open for the server's life, which CockroachDB handles
// badly. A row renewed every second works the same on both databases, and
// its cost does not grow with the load.
//
// A Store that never registers (tools, tests) takes reservations that name
// no instance; like those made before instances existed, they are taken over
// only once older than Config.StaleAfter.
package idempotency

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
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
	// Instance is the server instance holding a pending reservation;
	// uuid.Nil when it names none.
	Instance uuid.UUID
}

// Response is what Complete stores.
type Response struct {
	Status      int // below 500: server errors are abandoned, not stored
	ContentType string
	Location    string
	Body        []byte
}

// ErrLeaseLost is returned by Complete and Abandon when the reservation is no
// longer the caller's: it was taken over (its instance lapsed, or it went
// stale), or is gone.
var ErrLeaseLost = errors.New("idempotency: the reservation was taken over or removed")

// Config configures a Store.
type Config struct {
	// Now is the clock that stamps records and heartbeats and judges their
	// age; nil means the database's clock (now()), which servers sharing the
	// database agree on. Tests pass a clock they move.
	Now func() time.Time
	// StaleAfter is how old a pending reservation that names no instance
	// must be before another request with the same content may take it
	// over; 0 means DefaultStaleAfter. It should exceed the longest a
	// request may run (the HTTP server's write timeout).
	StaleAfter time.Duration
	// TTL is how long an instance's heartbeat stays valid without a
	// renewal; 0 means DefaultTTL. Renew several times within it.
	TTL time.Duration
}

// DefaultStaleAfter is the default Config.StaleAfter.
const DefaultStaleAfter = 2 * time.Minute

// MaxKeyLength is the longest key the table accepts.
const MaxKeyLength = 255

// Store keeps idempotency records. It is safe for concurrent use.
type Store struct {
	db    *pgtx.DB
	now   func() time.Time // nil: the database's clock
	stale time.Duration
	ttl   time.Duration
	inst  atomic.Pointer[instance] // nil until Register
}

// New returns a Store that runs its transactions through db. The schema must
// be migrated (schema.Migrate).
func New(db *pgtx.DB, cfg Config) *Store {
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = DefaultStaleAfter
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	return &Store{db: db, now: cfg.Now, stale: cfg.StaleAfter, ttl: cfg.TTL}
}

// clockArg is the time a statement stamps and judges with, as its argument:
// nil (NULL) for the database's clock, which the statements then read with
// COALESCE($n, now()).
func (s *Store) clockArg() any {
	if s.now == nil {
		return nil
	}
	return s.now().UTC().Truncate(time.Microsecond)
}

// The statements take the clock as COALESCE($n::TIMESTAMPTZ, now()) (see
// clockArg) and durations in microseconds.
const (
	// reserve inserts the reservation, unless the key exists or the
	// reserving instance is not alive (registered and not lapsed).
	reserve = `
INSERT INTO idempotency_keys (member_id, key, request_hash, state, lease, created_at, instance)
SELECT $1::UUID, $2::TEXT, $3::BYTEA, 'pending', $5::UUID, COALESCE($4::TIMESTAMPTZ, now()), $6::UUID
WHERE $6::UUID IS NULL OR EXISTS (
    SELECT 1 FROM server_instances
    WHERE id = $6::UUID AND heartbeat >= COALESCE($4::TIMESTAMPTZ, now()) - $7::BIGINT * INTERVAL '1 microsecond')
ON CONFLICT (member_id, key) DO NOTHING
RETURNING created_at`

	// selectRecord reads the key's record and judges its holder: whether
	// the holding instance is registered, whether its heartbeat lapsed,
	// whether the reservation is older than StaleAfter (for one that names
	// no instance), and whether the reading instance is itself alive.
	selectRecord = `
SELECT k.request_hash, k.state, COALESCE(k.status, 0), COALESCE(k.content_type, ''), COALESCE(k.location, ''), k.body,
       k.created_at, k.lease, k.instance,
       i.id IS NOT NULL,
       COALESCE(i.heartbeat < COALESCE($3::TIMESTAMPTZ, now()) - $4::BIGINT * INTERVAL '1 microsecond', false),
       k.created_at < COALESCE($3::TIMESTAMPTZ, now()) - $5::BIGINT * INTERVAL '1 microsecond',
       $6::UUID IS NULL OR EXISTS (
           SELECT 1 FROM server_instances
           WHERE id = $6::UUID AND heartbeat >= COALESCE($3::TIMESTAMPTZ, now()) - $4::BIGINT * INTERVAL '1 microsecond')
FROM idempotency_keys k LEFT JOIN server_instances i ON i.id = k.instance
WHERE k.member_id = $1 AND k.key = $2`

	ownAlive = `
SELECT $1::UUID IS NULL OR EXISTS (
    SELECT 1 FROM server_instances
    WHERE id = $1::UUID AND heartbeat >= COALESCE($2::TIMESTAMPTZ, now()) - $3::BIGINT * INTERVAL '1 microsecond')`

	takeOver = `
UPDATE idempotency_keys SET created_at = COALESCE($4::TIMESTAMPTZ, now()), lease = $5, instance = $6
WHERE member_id = $1 AND key = $2 AND state = 'pending' AND lease = $3
RETURNING created_at`

	complete = `
UPDATE idempotency_keys SET state = 'done', status = $4, content_type = $5, location = $6, body = $7
WHERE member_id = $1 AND key = $2 AND state = 'pending' AND lease = $3`

	abandon = `
DELETE FROM idempotency_keys WHERE member_id = $1 AND key = $2 AND state = 'pending' AND lease = $3`

	// purge also deletes the pending reservations of dead instances, which
	// no request will ever complete; those that name no instance cannot be
	// told from a running request and stay.
	purge = `
DELETE FROM idempotency_keys
WHERE created_at < $1 AND (state = 'done' OR (instance IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM server_instances i
    WHERE i.id = idempotency_keys.instance
      AND i.heartbeat >= COALESCE($2::TIMESTAMPTZ, now()) - $3::BIGINT * INTERVAL '1 microsecond')))`

	// Whether a change took effect, asked when its commit's answer was
	// lost: the key is held with the lease written, completed under it,
	// or no longer held under it.
	isHeld      = `SELECT EXISTS (SELECT 1 FROM idempotency_keys WHERE member_id = $1 AND key = $2 AND lease = $3)`
	isCompleted = `SELECT EXISTS (SELECT 1 FROM idempotency_keys WHERE member_id = $1 AND key = $2 AND lease = $3 AND state = 'done')`
	isAbandoned = `SELECT NOT EXISTS (SELECT 1 FROM idempotency_keys WHERE member_id = $1 AND key = $2 AND lease = $3)`
)

// errGone says the conflicting record changed between the insert and the
// takeover (its request was abandoned, its instance renewed or was buried,
// or another retry took it over first): the transaction runs again and sees
// the outcome.
var errGone = errors.New("idempotency: the record changed under the reservation")

// settle runs change and, while its commit's outcome is unknown
// (pgtx.ErrAmbiguousCommit), asks the question took (isHeld, isCompleted or
// isAbandoned) about the lease the attempt wrote: if the change took effect it
// returns nil, and otherwise runs it again. A record carries its lease, so the
// question has an exact answer; when the answer cannot be had, the ambiguous
// error is returned (and Begin releases what it may have reserved; the
// callers of Complete and Abandon retry them). Without this a lost answer
// would leave a key pending (held by a live instance, for as long as it
// lives), and a retried Complete would find its lease gone.
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

// errOwnGone says the reserving instance is not alive in the database.
var errOwnGone = errors.New("idempotency: the reserving instance is not alive")

// Begin reserves key for member, for a request whose content hashes to hash.
// When reserved is true the caller holds the key and must end with Complete
// or Abandon, presenting the returned record; this is also the case when a
// reservation of the same request was taken over, because its instance is
// dead (heartbeat lapsed, or row gone) or, for one that names no instance,
// because it is older than StaleAfter. Otherwise rec is the key's existing
// record, pending or done, whose RequestHash the caller compares with its
// own; a pending reservation of a live instance is never taken over.
//
// Begin returns ErrInstanceLost when the store registered an instance that
// is no longer alive (see Heartbeat), and otherwise an error only when the
// database fails. When it returns an error it holds no reservation: if the
// COMMIT of its reservation lost its answer and the database could not be
// asked whether it took effect (ctx ended, say), it releases the
// reservation on a context of its own and returns an error matching
// pgtx.ErrAmbiguousCommit, or, when even that fails, an *UnreleasedError
// that the caller must act on.
func (s *Store) Begin(ctx context.Context, member uuid.UUID, key string, hash []byte) (rec Record, reserved bool, err error) {
	if key == "" || len(key) > MaxKeyLength {
		return Record{}, false, fmt.Errorf("idempotency: key must be 1 to %d bytes", MaxKeyLength)
	}
	in := s.inst.Load()
	var own any // NULL: the reservation names no instance
	ownID := uuid.Nil
	if in != nil {
		if !in.live() {
			return Record{}, false, ErrInstanceLost
		}
		own, ownID = in.id, in.id
	}
	ttl, staleAfter := s.ttl.Microseconds(), s.stale.Microseconds()
	var written uuid.UUID // the lease the last attempt wrote, if it reserved the key
	err = s.settle(ctx, func() error {
		return s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
			now, lease := s.clockArg(), uuid.New()
			written = uuid.Nil
			rec = Record{MemberID: member, Key: key, RequestHash: hash, State: Pending, Lease: lease, Instance: ownID}
			err := tx.QueryRow(ctx, reserve, member, key, hash, now, lease, own, ttl).Scan(&rec.CreatedAt)
			if err == nil {
				reserved, written = true, lease
				return nil
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			// The key exists, or this instance is not alive. At READ
			// COMMITTED the insert waited for a concurrent reservation of the
			// key to commit or roll back; this read sees the outcome.
			reserved = false
			rec = Record{MemberID: member, Key: key}
			var (
				status                               int64
				holder                               *uuid.UUID
				registered, lapsed, stale, ownIsLive bool
			)
			err = tx.QueryRow(ctx, selectRecord, member, key, now, ttl, staleAfter, own).
				Scan(&rec.RequestHash, &rec.State, &status, &rec.ContentType, &rec.Location, &rec.Body, &rec.CreatedAt, &rec.Lease,
					&holder, &registered, &lapsed, &stale, &ownIsLive)
			if errors.Is(err, pgx.ErrNoRows) {
				if err := tx.QueryRow(ctx, ownAlive, own, now, ttl).Scan(&ownIsLive); err != nil {
					return err
				}
				if !ownIsLive {
					return errOwnGone
				}
				return pgtx.Retry(errGone) // abandoned between the insert and the read
			}
			if err != nil {
				return err
			}
			if !ownIsLive {
				return errOwnGone
			}
			rec.Status = int(status)
			if holder != nil {
				rec.Instance = *holder
			}
			if rec.State != Pending || !bytes.Equal(rec.RequestHash, hash) {
				return nil
			}
			switch {
			case holder == nil && !stale:
				return nil // an instance-less reservation, maybe still running
			case holder == nil || !registered:
				// Stale, or its instance deregistered or was buried: dead.
			case lapsed:
				// Bury the instance first: if it renewed meanwhile, nothing
				// is deleted and the record is read again.
				tag, err := tx.Exec(ctx, buryInstance, *holder, now, ttl)
				if err != nil {
					return err
				}
				if tag.RowsAffected() == 0 {
					return pgtx.Retry(errGone)
				}
			default:
				return nil // its instance is alive: the request is running
			}
			err = tx.QueryRow(ctx, takeOver, member, key, rec.Lease, now, lease, own).Scan(&rec.CreatedAt)
			if errors.Is(err, pgx.ErrNoRows) {
				return pgtx.Retry(errGone) // completed, abandoned or taken over meanwhile
			}
			if err != nil {
				return err
			}
			rec.Lease, rec.Instance, reserved, written = lease, ownID, true, lease
			return nil
		})
	}, isHeld, member, key, &written)
	if errors.Is(err, errOwnGone) {
		in.lose()
		return Record{}, false, ErrInstanceLost
	}
	if errors.Is(err, pgtx.ErrAmbiguousCommit) && written != uuid.Nil {
		// The reservation may have committed, and asking failed (most
		// often because ctx ended: the client went away with the COMMIT
		// on the wire). No request will run under it, so free the key
		// rather than leave it in progress for as long as this instance
		// lives.
		return Record{}, false, s.release(ctx, member, key, written, ownID, err)
	}
	if err != nil {
		return Record{}, false, err
	}
	return rec, reserved, nil
}

// UnreleasedError is returned by Begin when its reservation's commit lost
// its answer (pgtx.ErrAmbiguousCommit), whether it took effect could not be
// learned, and releasing it failed too: the key may be held by a
// reservation no request runs under. The caller must release Record with
// Abandon, retrying until that returns nil or ErrLeaseLost, as it would end
// a reservation whose request failed; until then a retry of the request is
// told the key is in progress. Err matches pgtx.ErrAmbiguousCommit and the
// release's error.
type UnreleasedError struct {
	Record Record
	Err    error
}

func (e *UnreleasedError) Error() string {
	return "idempotency: a reservation whose commit was lost could not be released: " + e.Err.Error()
}

func (e *UnreleasedError) Unwrap() error { return e.Err }

// releaseTimeout bounds Begin's release of a reservation whose commit's
// answer was lost; it runs even when Begin's context has ended.
const releaseTimeout = 5 * time.Second

// release abandons the reservation under lease, which Begin may have written
// but cannot tell (see Begin), on a context that outlives ctx, and returns
// cause, or an *UnreleasedError when the release fails too. Abandoning is
// safe whether or not the reservation was written: no request runs under
// the lease, and a record that is done, or held under another lease, is
// left alone.
func (s *Store) release(ctx context.Context, member uuid.UUID, key string, lease, instance uuid.UUID, cause error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	err := s.endLease(ctx, abandon, isAbandoned, member, key, lease)
	if err == nil || errors.Is(err, ErrLeaseLost) {
		return cause
	}
	return &UnreleasedError{
		Record: Record{MemberID: member, Key: key, State: Pending, Lease: lease, Instance: instance},
		Err:    fmt.Errorf("%w; releasing the reservation: %w", cause, err),
	}
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

// Purge deletes the completed records created before before, and the
// reservations taken before it by instances that are dead, and returns how
// many it deleted. A key purged can be used again for another request.
func (s *Store) Purge(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		tag, err := tx.Exec(ctx, purge, before, s.clockArg(), s.ttl.Microseconds())
		n = tag.RowsAffected()
		return err
	})
	return n, err
}
