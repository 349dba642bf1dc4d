package idempotency

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/internal/pgtx"
)

// ErrInstanceLost is returned by Begin when the store's server instance has
// lost its lease (its heartbeat could not be renewed in time, another server
// found it lapsed, or it was deregistered) and no new instance has been
// registered yet; Heartbeat registers one. It is also the cause of the
// contexts LeaseContext returned for the lost instance's reservations.
var ErrInstanceLost = errors.New("idempotency: this server instance lost its lease; its reservations may be taken over")

// DefaultTTL is the default Config.TTL.
const DefaultTTL = 5 * time.Second

// DefaultHeartbeatInterval is how often RunHeartbeat should renew the
// heartbeat for DefaultTTL: five tries before the instance lapses.
const DefaultHeartbeatInterval = time.Second

const (
	registerInstance = `
INSERT INTO server_instances (id, started_at, heartbeat)
VALUES ($1, COALESCE($2::TIMESTAMPTZ, now()), COALESCE($2::TIMESTAMPTZ, now()))`

	// Lapsed instances are dead for good (renewInstance will not revive
	// them), so their rows only tell retries what they would learn from a
	// missing row: forget them whenever an instance registers.
	forgetLapsed = `
DELETE FROM server_instances
WHERE heartbeat < COALESCE($1::TIMESTAMPTZ, now()) - $2::BIGINT * INTERVAL '1 microsecond'`

	// renewInstance renews a heartbeat that has not lapsed: once lapsed, a
	// retry may have taken the instance's reservations over, so the id
	// must never hold one again.
	renewInstance = `
UPDATE server_instances SET heartbeat = COALESCE($2::TIMESTAMPTZ, now())
WHERE id = $1 AND heartbeat >= COALESCE($2::TIMESTAMPTZ, now()) - $3::BIGINT * INTERVAL '1 microsecond'`

	// buryInstance deletes a lapsed instance before a retry takes one of its
	// reservations over. The row is where the retry and the instance's own
	// renewal meet: whichever writes it first wins, so a retry never takes
	// over from an instance whose renewal succeeded.
	buryInstance = `
DELETE FROM server_instances
WHERE id = $1 AND heartbeat < COALESCE($2::TIMESTAMPTZ, now()) - $3::BIGINT * INTERVAL '1 microsecond'`

	deregisterInstance = `DELETE FROM server_instances WHERE id = $1`

	forgetOthers = `DELETE FROM server_instances WHERE $1::UUID IS NULL OR id <> $1::UUID`
)

// instance is the server instance a Store holds reservations for, as this
// process sees it: alive until its local deadline, which each successful
// renewal moves to (the renewal's start + TTL - margin). The deadline runs
// on this process's monotonic clock and starts before the database stamped
// the heartbeat, so it passes before any other server can find the
// heartbeat lapsed; at the deadline the instance is lost and the contexts of
// its requests are cancelled, so they stop before a retry may take over.
type instance struct {
	id     uuid.UUID
	ctx    context.Context // cancelled, with ErrInstanceLost, once lost
	cancel context.CancelCauseFunc

	mu       sync.Mutex
	deadline time.Time
	timer    *time.Timer
}

func newInstance(id uuid.UUID, deadline time.Time) *instance {
	ctx, cancel := context.WithCancelCause(context.Background())
	in := &instance{id: id, ctx: ctx, cancel: cancel, deadline: deadline}
	in.timer = time.AfterFunc(time.Until(deadline), in.expire)
	return in
}

// live reports whether the instance may still take reservations.
func (in *instance) live() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.ctx.Err() == nil && time.Now().Before(in.deadline)
}

// extend moves the deadline after a successful renewal. It reports false
// when the instance was already lost: its requests were cancelled, and it
// must not come back.
func (in *instance) extend(deadline time.Time) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.ctx.Err() != nil {
		return false
	}
	// A renewal that succeeded proves no retry took anything over (a
	// takeover deletes the row first), even if it came back late.
	in.deadline = deadline
	in.timer.Reset(time.Until(deadline))
	return true
}

// expire is the timer's: the instance is lost unless a renewal moved the
// deadline meanwhile.
func (in *instance) expire() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if time.Now().Before(in.deadline) {
		return
	}
	in.cancel(ErrInstanceLost)
}

// lose marks the instance lost at once.
func (in *instance) lose() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.timer.Stop()
	in.cancel(ErrInstanceLost)
}

// deadlineAfter is the local deadline of a renewal that started at sent. The
// margin covers the time an instance takes to notice (at most the timer's
// latency) and clock disagreement between the database's nodes
// (CockroachDB's default maximum offset is 500 ms; PostgreSQL has one clock).
func (s *Store) deadlineAfter(sent time.Time) time.Time {
	return sent.Add(s.ttl - s.ttl/5)
}

// Register makes the store a new server instance: from then on its
// reservations name the instance, and a retry may take one over as soon as
// the instance's heartbeat lapses (Config.TTL without a renewal) or its row
// is deleted (Deregister). Call Heartbeat, or run RunHeartbeat, more often
// than the TTL. An instance registered before is lost. Register also
// forgets lapsed instances.
func (s *Store) Register(ctx context.Context) error {
	id, sent := uuid.New(), time.Now()
	err := s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		if _, err := tx.Exec(ctx, forgetLapsed, s.clockArg(), s.ttl.Microseconds()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, registerInstance, id, s.clockArg())
		return err
	})
	if err != nil {
		return fmt.Errorf("idempotency: registering the server instance: %w", err)
	}
	if old := s.inst.Swap(newInstance(id, s.deadlineAfter(sent))); old != nil {
		old.lose()
	}
	return nil
}

// ForgetInstances deletes every registered instance but the store's own,
// which frees their reservations at once, and returns how many it deleted.
// It is for a process that knows it is the only server on the database, so
// that every other instance is a dead predecessor: `mutual serve` in local
// mode, whose private PostgreSQL no other server reaches (the data folder's
// lock keeps a second one out). It must never be called on a database that
// servers share: their live requests would lose their keys.
func (s *Store) ForgetInstances(ctx context.Context) (int64, error) {
	var own any
	if in := s.inst.Load(); in != nil {
		own = in.id
	}
	var n int64
	err := s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		tag, err := tx.Exec(ctx, forgetOthers, own)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("idempotency: forgetting earlier instances: %w", err)
	}
	return n, nil
}

// Instance returns the id of the store's current instance (uuid.Nil when it
// never registered).
func (s *Store) Instance() uuid.UUID {
	if in := s.inst.Load(); in != nil {
		return in.id
	}
	return uuid.Nil
}

// Heartbeat renews the instance's heartbeat. If the instance is lost, or
// never registered, it registers a new one; when that replaces an instance
// that was lost it returns an error wrapping ErrInstanceLost (with the new
// registration done) to be logged. It returns the database's error when the
// renewal fails; the instance is then lost once its deadline passes.
func (s *Store) Heartbeat(ctx context.Context) error {
	in := s.inst.Load()
	if in == nil {
		return s.Register(ctx)
	}
	if !in.live() {
		return s.reregister(ctx, in)
	}
	sent := time.Now()
	var n int64
	err := s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		tag, err := tx.Exec(ctx, renewInstance, in.id, s.clockArg(), s.ttl.Microseconds())
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("idempotency: renewing the heartbeat of instance %s: %w", in.id, err)
	}
	if n == 0 || !in.extend(s.deadlineAfter(sent)) {
		// Lapsed in the database, or locally: a retry may have taken our
		// reservations over.
		in.lose()
		return s.reregister(ctx, in)
	}
	return nil
}

func (s *Store) reregister(ctx context.Context, lost *instance) error {
	if err := s.Register(ctx); err != nil {
		return fmt.Errorf("instance %s: %w; %w", lost.id, ErrInstanceLost, err)
	}
	return fmt.Errorf("instance %s: %w; registered again as instance %s", lost.id, ErrInstanceLost, s.Instance())
}

// RunHeartbeat calls Heartbeat every interval until ctx ends, passing its
// errors to onErr (which may be nil). Each call is given at most interval,
// so a stalled database delays the next try by no more than that.
func (s *Store) RunHeartbeat(ctx context.Context, interval time.Duration, onErr func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		hctx, cancel := context.WithTimeout(ctx, interval)
		err := s.Heartbeat(hctx)
		cancel()
		if err != nil && ctx.Err() == nil && onErr != nil {
			onErr(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Deregister ends the instance, as a graceful shutdown does once no request
// runs: its row is deleted, so any reservation it still holds may be taken
// over at once, and Begin returns ErrInstanceLost from then on. Stop
// RunHeartbeat first, or it registers a new instance.
func (s *Store) Deregister(ctx context.Context) error {
	in := s.inst.Load()
	if in == nil {
		return nil
	}
	in.lose()
	err := s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		_, err := tx.Exec(ctx, deregisterInstance, in.id)
		return err
	})
	if err != nil {
		return fmt.Errorf("idempotency: deregistering instance %s: %w", in.id, err)
	}
	return nil
}

// LeaseContext returns a context derived from ctx that is also cancelled,
// with cause ErrInstanceLost, when the instance holding rec's reservation
// is lost: the request stops rather than run beside a retry that may have
// taken the key over. A reservation that names no instance adds nothing to
// ctx. The caller must call the CancelFunc.
func (s *Store) LeaseContext(ctx context.Context, rec Record) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	if rec.Instance == uuid.Nil {
		return ctx, func() { cancel(context.Canceled) }
	}
	in := s.inst.Load()
	if in == nil || in.id != rec.Instance {
		cancel(ErrInstanceLost)
		return ctx, func() {}
	}
	stop := context.AfterFunc(in.ctx, func() { cancel(ErrInstanceLost) })
	return ctx, func() {
		stop()
		cancel(context.Canceled)
	}
}
