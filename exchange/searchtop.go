package exchange

import (
	"context"
	"strconv"
	"strings"
)

// A search of several words that are all common first tries the listings
// that hold every word in a field above the description (findTop), before
// walking the driver's levels (findLevel). Its common words are each in a
// thousand or two titles, and the listings holding two of them in their
// titles are often a page already; the walk found them by probing the
// other word once per listing of the driver's first level (two thousand
// probes, most of a search of "ninos with"). findTop reads instead each
// word's top rows, those scoring 3 or more (its whole word in titles, tags
// and category names, a longer word it begins in titles and tags: a few
// thousand rows, read in index order), and groups them by listing in one
// statement that has no join for the planner to get wrong: a listing
// holding every word among those rows has its relevance exact (no row
// left unread can score more in it), and every other listing lacks some
// word there, so it scores at most that word's best low score (2 for the
// whole word in descriptions or a longer one in category names, 1 for a
// longer one in descriptions) plus the other words' best. The listings
// found above that bound are the head of the search's order: when more
// than a page of them pass the filters, they are the page.

// topScore is the least score of the rows findTop reads.
const topScore = 3

// topBound returns the most relevance a listing can have that lacks some
// term among the rows scoring topScore or more (0 when every listing that
// holds the terms holds each there too), and whether findTop can find
// anything (each term has such rows in some listing).
func topBound(stats []termStat) (int64, bool) {
	var bound, best int64
	for _, st := range stats {
		if st.levels[0] < topScore {
			return 0, false
		}
		best += st.levels[0]
	}
	for _, st := range stats {
		var low int64
		switch {
		case st.whole[0] || st.longer[1]:
			low = 2
		case st.longer[0]:
			low = 1
		}
		if low > 0 {
			bound = max(bound, best-st.levels[0]+low)
		}
	}
	return bound, bound < best
}

// findTop returns the first limit+1 listings after the cursor, in the
// page's order, that hold every term at a score of topScore or more, rank
// above what any other listing can reach and pass q's filters; done says
// they are the search's page (more than limit of them, or no listing can
// rank otherwise), and when not the caller walks the levels instead.
func (s *Store) findTop(ctx context.Context, q ListingQuery, terms []searchTerm, stats []termStat, after *SearchCursor, limit int) ([]Found, bool, error) {
	bound, ok := topBound(stats)
	if !ok || after != nil && after.Relevance <= bound {
		return nil, false, nil
	}
	found, err := s.lookUpCandidates(ctx, q, after, limit, func(n int, arg func(any) string) (string, bool) {
		return topSQL(q, terms, bound, after, n, arg), true
	})
	if err != nil {
		return nil, false, err
	}
	return found, len(found) > limit || bound == 0, nil
}

// topSQL is the query of the first n+1 listings (listing_id, relevance,
// and with a point placeless and km, as levelSQL's) that hold every term
// at a score of topScore or more, with a relevance above bound, after the
// cursor, in the page's order. Each term's rows are two ranges of
// listing_words' (weight, word, listing_id, lat, lon) index: the words it
// begins in titles and tags (weights 3 and 4: the whole word scores 8 or
// 6, a longer one 4 or 3), and the whole word in category names (4). The
// text depends only on the number of terms and on q's point and cursor,
// so that it is prepared once per connection.
func topSQL(q ListingQuery, terms []searchTerm, bound int64, after *SearchCursor, n int, arg func(any) string) string {
	var parts, sums []string
	for i, t := range terms {
		w, u := arg(t.word), arg(t.upper)
		cols := func(score string) string {
			c := make([]string, len(terms))
			for j := range c {
				c[j] = "NULL::BIGINT"
			}
			c[i] = score
			return strings.Join(c, ", ")
		}
		parts = append(parts,
			"SELECT w.listing_id, "+cols(wordScore("w", w))+", w.lat, w.lon FROM listing_words w WHERE w.weight IN (3, 4) AND w.word >= "+w+" AND w.word < "+u,
			"SELECT w.listing_id, "+cols("4::BIGINT")+", w.lat, w.lon FROM listing_words w WHERE w.weight = 2 AND w.word = "+w)
		sums = append(sums, "max(u.s"+strconv.Itoa(i)+")")
	}
	var names []string
	for i := range terms {
		names = append(names, "s"+strconv.Itoa(i))
	}
	// The sum of the maxima is NULL for a listing that lacks a term here.
	from := "(SELECT u.listing_id, " + strings.Join(sums, " + ") + " AS relevance, min(u.lat) AS lat, min(u.lon) AS lon FROM (" +
		strings.Join(parts, " UNION ALL ") + ") u (listing_id, " + strings.Join(names, ", ") + ", lat, lon) GROUP BY u.listing_id) d"
	where := []string{"d.relevance > " + arg(bound)}
	order := []string{"d.relevance DESC"}
	km := "NULL::FLOAT8"
	if q.Near != nil {
		km = distanceOf("d", *q.Near, arg)
		order = append(order, "(d.lat IS NULL) DESC", km)
	}
	order = append(order, "d.listing_id")
	if after != nil {
		cond := afterSQL(after, "d.relevance", km, "d.listing_id", q.Near != nil, arg)
		if q.Near != nil {
			cond = "(d.lat IS NULL OR " + cond + ")"
		}
		where = append(where, cond)
	}
	sql := "SELECT d.listing_id, d.relevance"
	if q.Near != nil {
		sql += ", (d.lat IS NULL) AS placeless, " + km + " AS km"
	}
	return sql + " FROM " + from + " WHERE " + strings.Join(where, " AND ") +
		" ORDER BY " + strings.Join(order, ", ") + " LIMIT " + arg(n+1)
}
