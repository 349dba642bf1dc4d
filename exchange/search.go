package exchange

import (
	"context"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Found is a listing a search found, with what ranked it.
type Found struct {
	Listing
	// Relevance is how well the listing answers the search's words: for
	// each word, the weight of the most telling field holding a word it
	// begins (title 4, tags 3, category name 2, description 1), doubled
	// when it is the whole word; summed over the words. 0 without words.
	Relevance int64
	// Km is the distance from the search's point, in km; nil without one.
	Km *float64
}

// SearchCursor is where a page of FindListings ended: pass it back for the
// next page of the same search.
type SearchCursor struct {
	Relevance int64
	Km        float64
	ID        uuid.UUID
}

// FindListings is the search people use: the listings that match q and
// that pr may see (q.Viewer is set to ViewerOf(pr); a zero Principal sees
// public listings only), most relevant first when q has words, then
// nearest first when q has a point (q.Near; RadiusKm 0 means any
// distance), then by id; each with its relevance and its distance from the
// point. It returns one page of at most p.Limit listings after the cursor
// (nil for the first page), and the cursor of the next page (nil after the
// last). It returns the errors of SearchListings, and
// ledger.ErrInvalidRequest (Field "radius_km") for a negative radius.
func (s *Store) FindListings(ctx context.Context, pr Principal, q ListingQuery, after *SearchCursor, p Page) ([]Found, *SearchCursor, error) {
	if !pr.system {
		q.Viewer = ViewerOf(pr)
	}
	limit, err := p.limit()
	if err != nil {
		return nil, nil, err
	}
	var terms []searchTerm
	if q.Text != "" {
		// The words rank the listings rather than filter them.
		if terms, err = searchTerms(q.Text); err != nil {
			return nil, nil, err
		}
	}
	if q.Near != nil {
		if err := q.Near.check("near"); err != nil {
			return nil, nil, err
		}
		if q.RadiusKm < 0 {
			return nil, nil, invalid("radius_km", "radius must be between 0 and %d km, not %v", maxSearchRadius, q.RadiusKm)
		}
	}
	var found []Found
	if len(terms) > 0 {
		found, err = s.findWords(ctx, q, terms, after, limit)
	} else {
		found, err = s.find(ctx, q, after, limit)
	}
	if err != nil {
		return nil, nil, err
	}
	var next *SearchCursor
	if len(found) > limit {
		found = found[:limit]
		last := found[limit-1]
		next = &SearchCursor{Relevance: last.Relevance, ID: last.ID}
		if last.Km != nil {
			next.Km = *last.Km
		}
	}
	if found == nil {
		found = []Found{}
	}
	return found, next, nil
}

// find runs FindListings without words: the first limit+1 listings after
// the cursor, nearest first when q has a point, then by id.
func (s *Store) find(ctx context.Context, q ListingQuery, after *SearchCursor, limit int) ([]Found, error) {
	args := []any{s.clock()}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	filter := q
	filter.Text = ""
	point := q.Near
	if point != nil && q.RadiusKm == 0 {
		filter.Near = nil
	}
	where, err := listingFilter(filter, arg)
	if err != nil {
		return nil, err
	}
	if q.Text != "" { // only punctuation: no word to find
		where = append(where, "FALSE")
	}
	km := "NULL::FLOAT8"
	var order []string
	if point != nil {
		km = distanceSQL(*point, arg)
		order = append(order, km)
	}
	order = append(order, "l.id")
	if after != nil {
		where = append(where, afterSQL(after, "", km, "l.id", point != nil, arg))
	}
	sql := `SELECT ` + listingColumns + `, ` + listingTags + `, 0, ` + km + ` FROM listings l` +
		"\nWHERE " + strings.Join(where, "\n  AND ") +
		"\nORDER BY " + strings.Join(order, ", ") + " LIMIT " + arg(limit+1)
	return s.queryFound(ctx, sql, args)
}

// afterSQL is the keyset condition of a page after the cursor: the rows
// that sort after it by relevance (when rel is not ""), distance (when
// near) and id.
func afterSQL(after *SearchCursor, rel, km, id string, near bool, arg func(any) string) string {
	cond := id + " > " + arg(after.ID)
	if near {
		k := arg(after.Km) + "::FLOAT8"
		cond = "(" + km + " > " + k + " OR (" + km + " = " + k + " AND " + cond + "))"
	}
	if rel != "" {
		r := arg(after.Relevance) + "::BIGINT"
		cond = "(" + rel + " < " + r + " OR (" + rel + " = " + r + " AND " + cond + "))"
	}
	return cond
}

// queryFound runs a search's query, whose columns are a listing's with its
// tags, its relevance and its distance.
func (s *Store) queryFound(ctx context.Context, sql string, args []any) ([]Found, error) {
	rows, err := s.db.Pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Found, error) {
		var f Found
		var rel int64
		var dist *float64
		l, err := scanTagged(r, &rel, &dist)
		f.Listing, f.Relevance, f.Km = l, rel, dist
		return f, err
	})
}

// rowWithTail scans a row whose first columns are a listing's and whose
// last ones go into tail.
type rowWithTail struct {
	r    pgx.Row
	tail []any
}

func (t rowWithTail) Scan(dest ...any) error { return t.r.Scan(append(dest, t.tail...)...) }
