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
	// Words without a point: first among the best topWords matches by
	// relevance alone (an index-only read of listing_words), which holds
	// the page whenever enough of them pass the other filters; else, or
	// with a point, over every match.
	if len(terms) > 0 && q.Near == nil {
		if found, err = s.find(ctx, q, terms, after, limit, topWords); err != nil {
			return nil, nil, err
		}
	}
	if len(found) <= limit {
		if found, err = s.find(ctx, q, terms, after, limit, 0); err != nil {
			return nil, nil, err
		}
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
	ls := make([]Listing, len(found))
	for i, f := range found {
		ls[i] = f.Listing
	}
	if err := loadTags(ctx, s.db.Pool, ls); err != nil {
		return nil, nil, err
	}
	for i := range found {
		found[i].Listing = ls[i]
	}
	if found == nil {
		found = []Found{}
	}
	return found, next, nil
}

// topWords is how many of the best matches by relevance a word search
// looks at first (see FindListings).
const topWords = 400

// find runs one query of FindListings: the first limit+1 listings after
// the cursor; with top > 0, only among the top best matches of the terms
// by relevance and id.
func (s *Store) find(ctx context.Context, q ListingQuery, terms []searchTerm, after *SearchCursor, limit, top int) ([]Found, error) {
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
	if q.Text != "" && len(terms) == 0 { // only punctuation: no word to find
		where = append(where, "FALSE")
	}

	from := "listings l"
	relevance, km := "0", "NULL::FLOAT8"
	if len(terms) > 0 {
		ranked := relevanceSQL(terms, arg)
		if top > 0 {
			ranked = "SELECT * FROM (" + ranked + ") r0"
			if after != nil {
				r := arg(after.Relevance) + "::BIGINT"
				ranked += " WHERE r0.relevance < " + r + " OR (r0.relevance = " + r + " AND r0.listing_id > " + arg(after.ID) + ")"
			}
			ranked += " ORDER BY r0.relevance DESC, r0.listing_id LIMIT " + arg(top)
		}
		from += " JOIN (" + ranked + ") r ON r.listing_id = l.id"
		relevance = "r.relevance"
	}
	if point != nil {
		km = distanceSQL(*point, arg)
	}
	var order []string
	if len(terms) > 0 {
		order = append(order, relevance+" DESC")
	}
	if point != nil {
		order = append(order, km)
	}
	order = append(order, "l.id")
	if after != nil {
		// Keyset: the rows that sort after the cursor, in the same order.
		cond := "l.id > " + arg(after.ID)
		if point != nil {
			k := arg(after.Km) + "::FLOAT8"
			cond = "(" + km + " > " + k + " OR (" + km + " = " + k + " AND " + cond + "))"
		}
		if len(terms) > 0 {
			r := arg(after.Relevance) + "::BIGINT"
			cond = "(" + relevance + " < " + r + " OR (" + relevance + " = " + r + " AND " + cond + "))"
		}
		where = append(where, cond)
	}
	sql := `SELECT ` + listingColumns + `, ` + relevance + `, ` + km + ` FROM ` + from +
		"\nWHERE " + strings.Join(where, "\n  AND ") +
		"\nORDER BY " + strings.Join(order, ", ") + " LIMIT " + arg(limit+1)
	rows, err := s.db.Pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Found, error) {
		var f Found
		var rel int64
		var dist *float64
		l, err := scanListing(rowWithTail{r, []any{&rel, &dist}})
		f.Listing, f.Relevance, f.Km = l, rel, dist
		return f, err
	})
}

// relevanceSQL is the relevance of the listings that hold every term: per
// term the best weight of a word it begins (doubled for the whole word),
// each term a range scan of listing_words' primary key.
func relevanceSQL(terms []searchTerm, arg func(any) string) string {
	parts := make([]string, len(terms))
	for i, t := range terms {
		w := arg(t.word)
		parts[i] = "SELECT w.listing_id, max(w.weight * CASE WHEN w.word = " + w + " THEN 2 ELSE 1 END) AS best" +
			" FROM listing_words w WHERE w.word >= " + w + " AND w.word < " + arg(t.upper) + " GROUP BY w.listing_id"
	}
	return "SELECT h.listing_id, sum(h.best)::BIGINT AS relevance FROM (" + strings.Join(parts, " UNION ALL ") +
		") h GROUP BY h.listing_id HAVING count(*) = " + arg(int64(len(terms)))
}

// rowWithTail scans a row whose first columns are a listing's and whose
// last ones go into tail.
type rowWithTail struct {
	r    pgx.Row
	tail []any
}

func (t rowWithTail) Scan(dest ...any) error { return t.r.Scan(append(dest, t.tail...)...) }
