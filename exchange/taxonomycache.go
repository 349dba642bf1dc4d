package exchange

import (
	"slices"
	"sync"
	"time"
)

// taxonomyCache remembers the taxonomy (the categories, and how they
// relate) for a short while: every page of offers and needs, and every
// listing's matches, read it, and it changes only when the admin edits
// it. An edit made through this Store empties it at once; one made by
// another process shows within the TTL, as for the authentication cache.
// Expiry follows the wall clock, not the Store's (tests fix that one).
type taxonomyCache struct {
	ttl             time.Duration
	mu              sync.Mutex
	categories      []Category
	categoriesUntil time.Time
	relations       []CategoryRelation
	relationsUntil  time.Time
	// forgotten is when the cache was last emptied.
	forgotten time.Time
}

func newTaxonomyCache(ttl time.Duration) *taxonomyCache { return &taxonomyCache{ttl: ttl} }

// cached returns what load returns, from the cache while it is fresh.
func cached[T any](c *taxonomyCache, held *[]T, until *time.Time, load func() ([]T, error)) ([]T, error) {
	if c.ttl <= 0 {
		return load()
	}
	c.mu.Lock()
	if time.Now().Before(*until) {
		v := slices.Clone(*held)
		c.mu.Unlock()
		return v, nil
	}
	c.mu.Unlock()
	start := time.Now()
	v, err := load()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	// What was read before an edit emptied the cache is not kept: it may
	// be older than the edit.
	if !c.forgotten.After(start) {
		*held, *until = slices.Clone(v), start.Add(c.ttl)
	}
	c.mu.Unlock()
	return v, nil
}

// forget empties the cache: the process changed the taxonomy.
func (c *taxonomyCache) forget() {
	c.mu.Lock()
	c.categories, c.relations = nil, nil
	c.categoriesUntil, c.relationsUntil = time.Time{}, time.Time{}
	c.forgotten = time.Now()
	c.mu.Unlock()
}
