package ledger

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mutual-ledger/mutual/internal/pgtx"
)

// Store is the ledger on PostgreSQL or CockroachDB. It is safe for concurrent
// use; all its state is in the database but for a cache of units, whose scale
// never changes once created.
type Store struct {
	db  *pgtx.DB
	now func() time.Time
	log *slog.Logger

	mu    sync.RWMutex
	units map[string]Unit

	gate    *gate
	batches batchGate
	merge   batchQueue // see batchmerge.go
	noMerge bool

	refsMu sync.RWMutex
	refs   map[uuid.UUID]AccountRef // immutable, so safe to keep
}

// Config configures a Store.
type Config struct {
	// Now is the clock; nil means time.Now. Tests fix it to test expiry and
	// balances at past instants.
	Now func() time.Time
	// Logger receives the store's logs; nil discards them.
	Logger *slog.Logger
	// NoGroupCommit turns group commit off: each single transfer then runs
	// in a transaction of its own. Group commit (see group.go) is on unless
	// this is set.
	NoGroupCommit bool
	// Groups is how many group transactions may run at once; 0 means
	// DefaultGroups.
	Groups int
	// BatchWriters is how many large batches write at once (see
	// batchGate); 0 means the number of CPUs, and at least 2.
	BatchWriters int
	// NoMergeBatches turns off the merging of queued large batches into
	// one transaction (see batchmerge.go): each then runs in its own.
	NoMergeBatches bool
}

// NewStore returns a Store that runs its transactions through db. The schema
// must already be migrated (schema.Migrate).
func NewStore(db *pgtx.DB, cfg Config) *Store {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	groups := cfg.Groups
	if groups <= 0 {
		groups = DefaultGroups
	}
	if cfg.NoGroupCommit {
		groups = 0
	}
	return &Store{db: db, now: cfg.Now, log: cfg.Logger, units: make(map[string]Unit), gate: newGate(groups),
		batches: newBatchGate(cfg.BatchWriters), noMerge: cfg.NoMergeBatches, refs: make(map[uuid.UUID]AccountRef)}
}

// Open is a shorthand for pgtx.New followed by NewStore.
func Open(ctx context.Context, pool *pgxpool.Pool, cfg Config) (*Store, error) {
	db, err := pgtx.New(ctx, pool)
	if err != nil {
		return nil, err
	}
	return NewStore(db, cfg), nil
}

// DB returns the transaction runner the store uses.
func (s *Store) DB() *pgtx.DB { return s.db }

func (s *Store) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// run runs fn in a read-write transaction at READ COMMITTED: every decision
// of the ledger rests on rows it has locked.
func (s *Store) run(ctx context.Context, fn func(*pgtx.Tx) error) error {
	return s.translate(s.db.Run(ctx, pgtx.Options{}, fn))
}

// read runs fn in a read-only transaction, so that a multi-statement read
// sees one snapshot.
func (s *Store) read(ctx context.Context, fn func(*pgtx.Tx) error) error {
	return s.translate(s.db.Run(ctx, pgtx.Options{Isolation: pgx.RepeatableRead, ReadOnly: true}, fn))
}

// translate turns database errors that reach the caller into ledger errors.
// Errors the ledger raised itself pass through unchanged. A CHECK constraint
// firing means a bug or a path around the ledger's own checks: it is reported
// as bounds violated rather than as an internal error with SQL text.
func (s *Store) translate(err error) error {
	if err == nil {
		return nil
	}
	var le *Error
	if errors.As(err, &le) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23514": // check_violation
			e := newError(EREFUSED, ReasonBoundsViolated, "the change would break constraint %s", pgErr.ConstraintName)
			return e
		case "23503": // foreign_key_violation
			return newError(ENOTFOUND, ReasonUnknownAccount, "a referenced row does not exist (%s)", pgErr.ConstraintName)
		}
	}
	return err
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}
