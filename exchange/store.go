package exchange

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/ledger"
)

// Store keeps organizations, members, memberships and tokens on PostgreSQL or
// CockroachDB, next to the ledger whose accounts they own. It is safe for
// concurrent use; its only state is a short-lived cache of authentications.
type Store struct {
	db   *pgtx.DB
	led  *ledger.Store
	now  func() time.Time
	auth *authCache
	// taxonomy remembers the categories and their relations for as long
	// as auth remembers a token.
	taxonomy *taxonomyCache
	// words holds where a word search changes its way (rareCount and
	// probeMax); tests lower them to reach every way on a few listings.
	words wordLimits
}

// Config configures a Store.
type Config struct {
	// Now is the clock; nil means time.Now. Tests fix it to test token expiry.
	Now func() time.Time
	// AuthCacheTTL is how long Authenticate remembers a token in this
	// process: 0 means DefaultAuthCacheTTL, a negative value turns the cache
	// off. Revocations and role changes made through this Store take effect
	// at once; those made by another process within the TTL. The taxonomy
	// (categories and their relations) is remembered as long, and edits
	// to it likewise.
	AuthCacheTTL time.Duration
}

// NewStore returns a Store that runs its transactions through db and opens
// accounts in led. The schema must already be migrated (schema.Migrate).
func NewStore(db *pgtx.DB, led *ledger.Store, cfg Config) *Store {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ttl := cfg.AuthCacheTTL
	if ttl == 0 {
		ttl = DefaultAuthCacheTTL
	}
	return &Store{db: db, led: led, now: cfg.Now, auth: newAuthCache(ttl), taxonomy: newTaxonomyCache(ttl),
		words: wordLimits{rare: rareCount, probe: probeMax, join: joinMax, begun: begunMax}}
}

func (s *Store) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// Page asks for one page of a list ordered by id: at most Limit items (0
// means DefaultLimit) whose ids come after After (uuid.Nil: from the start).
type Page struct {
	Limit int
	After uuid.UUID
}

// Page sizes.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

func (p Page) limit() (int, error) {
	switch {
	case p.Limit == 0:
		return DefaultLimit, nil
	case p.Limit < 0 || p.Limit > MaxLimit:
		return 0, invalid("limit", "limit must be between 1 and %d, not %d", MaxLimit, p.Limit)
	}
	return p.Limit, nil
}

// checkText trims s and checks it is valid UTF-8 of min to max characters.
func checkText(field, s string, min, max int) (string, error) {
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		return "", invalid(field, "%s is not valid text", field)
	}
	n := utf8.RuneCountInString(s)
	if n < min {
		return "", invalid(field, "%s is required", field)
	}
	if n > max {
		return "", invalid(field, "%s is longer than %d characters", field, max)
	}
	return s, nil
}

func newID() uuid.UUID { return uuid.Must(uuid.NewV7()) }

// collectAll scans every row with scan, returning an empty slice rather
// than nil for none (lists are written as [] in JSON, never null).
func collectAll[T any](rows pgx.Rows, scan func(pgx.Row, *T) error) ([]T, error) {
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) {
		var v T
		err := scan(r, &v)
		return v, err
	})
	if out == nil && err == nil {
		out = []T{}
	}
	return out, err
}
