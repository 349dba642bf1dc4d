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
	return pageSQL(q, from, "d.relevance", true, []string{"d.relevance > " + arg(bound)}, after, n, arg)
}

// plain reports whether a term begins no word longer than itself in any
// listing: then each listing holds it in one row at most, whose weight
// gives its score (twice the weight), and the listings that hold it at one
// weight are one run of listing_words' (weight, word, listing_id, ...)
// index, in listing order.
func (st termStat) plain() bool {
	return st.longer == [4]bool{}
}

// findPair runs a search of two plain words (whole words that begin no
// longer word) when findTop could not find its page: it finds the
// listings holding both words with their relevance, in the page's order,
// but those holding both only in descriptions (relevance 4, found by the
// walk if need be). Those holding both above the description are grouped
// as in findTop; those holding one word above the description and the
// other only there are a join of the first word's rows there (two
// thousand for a common word) with the other's run in descriptions (ten
// thousand), which the planner runs by hashing or merging them, where the
// walk probed the second word once per listing of the first: the
// candidates of a page of "mañana bicicleta" take 460 index pages where
// the walk read 5,400. When the planner underestimates the first word's
// rows (a word in a few hundred titles, estimated at a few dozen), it may
// probe the other word's run once per listing instead, as the walk did:
// no worse than the walk. done says the listings returned are the
// search's page.
func (s *Store) findPair(ctx context.Context, q ListingQuery, terms []searchTerm, stats []termStat, after *SearchCursor, limit int) ([]Found, bool, error) {
	if len(terms) != 2 || !stats[0].plain() || !stats[1].plain() {
		return nil, false, nil
	}
	var bound int64 // the relevance of a listing holding both words in descriptions only
	if stats[0].whole[0] && stats[1].whole[0] {
		bound = 4
	}
	if after != nil && after.Relevance <= bound {
		return nil, false, nil
	}
	found, err := s.lookUpCandidates(ctx, q, after, limit, func(n int, arg func(any) string) (string, bool) {
		return pairSQL(q, terms, bound, after, n, arg), true
	})
	if err != nil {
		return nil, false, err
	}
	return found, len(found) > limit || bound == 0, nil
}

// pairSQL is the query of the first n+1 listings (listing_id, relevance,
// and with a point placeless and km, as levelSQL's) that hold both plain
// terms with a relevance above bound, after the cursor, in the page's
// order: those holding both above descriptions (grouped by listing as in
// topSQL), and those holding one above descriptions and the other only
// there (joined).
func pairSQL(q ListingQuery, terms []searchTerm, bound int64, after *SearchCursor, n int, arg func(any) string) string {
	a, b := arg(terms[0].word), arg(terms[1].word)
	above := func(w string, i int) string {
		cols := "2 * w.weight, NULL::BIGINT"
		if i == 1 {
			cols = "NULL::BIGINT, 2 * w.weight"
		}
		return "SELECT w.listing_id, " + cols + ", w.lat, w.lon FROM listing_words w WHERE w.weight IN (2, 3, 4) AND w.word = " + w
	}
	// One word above descriptions (x), the other in them (y).
	mixed := func(x, y string) string {
		return "SELECT x.listing_id, 2 * x.weight + 2, x.lat, x.lon FROM listing_words x JOIN listing_words y ON y.listing_id = x.listing_id" +
			" WHERE x.weight IN (2, 3, 4) AND x.word = " + x + " AND y.weight = 1 AND y.word = " + y
	}
	both := "SELECT u.listing_id, max(u.s0) + max(u.s1), min(u.lat), min(u.lon) FROM (" + above(a, 0) + " UNION ALL " + above(b, 1) +
		") u (listing_id, s0, s1, lat, lon) GROUP BY u.listing_id"
	from := "(" + both + " UNION ALL " + mixed(a, b) + " UNION ALL " + mixed(b, a) + ") d (listing_id, relevance, lat, lon)"
	return pageSQL(q, from, "d.relevance", true, []string{"d.relevance > " + arg(bound)}, after, n, arg)
}
