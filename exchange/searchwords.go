package exchange

import (
	"bytes"
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// A word search ranks by relevance, the sum over the search's terms of each
// term's level in a listing: the score of the listing's best word the term
// begins, its weight (title 4, tags 3, category name 2, description 1)
// doubled when the term is the whole word. A term's levels, best first:
var levels = []int64{8, 6, 4, 3, 2, 1}

// rareCount bounds how many of a term's words termStats counts: past it,
// a term is common, whichever.
const rareCount = 3000

// findWords runs FindListings with words: the first limit+1 listings after
// the cursor, most relevant first, then nearest when q has a point, then by
// id.
//
// It does not score every listing that holds the words, which for a common
// word is a tenth of a city and took a hundred milliseconds to sort. First
// one query learns which levels each term has in some listing (termStats).
// When the rarest term is rare and there are other terms, findRare reads
// it whole and learns the others' scores in Go as far as the page needs.
// When there are several terms, all common, findTop first groups their
// rows above descriptions by listing, which often holds the page, and for
// two words findPair then adds the listings holding one of them only in
// descriptions (see searchtop.go). Otherwise, or when neither finds
// the page, it walks one term, the driver (between common ones, the one
// with the best top level, whose first levels then hold the page more
// often), level by level from its best: each level reads the driver's
// listings at that level from listing_words' (weight, word, listing_id,
// lat, lon) index, scores the other terms of each by a probe of
// listing_words per listing (probeSQL), and keeps the best few in the page's
// order; only those are looked up in listings, with the other filters
// (findLevel). A listing at driver level v has relevance at most v plus
// the best level of every other term, so the walk stops once limit+1
// listings are held whose last ranks above anything a lower level could
// give. With one term each level's listings all have that level's
// relevance, and the first levels that hold a page are the page: for a
// word in a thousand titles, one read of the first few of them in id
// order.
func (s *Store) findWords(ctx context.Context, q ListingQuery, terms []searchTerm, after *SearchCursor, limit int) ([]Found, error) {
	stats, err := s.termStats(ctx, terms)
	if err != nil {
		return nil, err
	}
	driver := 0
	for i, st := range stats {
		if len(st.levels) == 0 {
			return nil, nil // a word no listing holds
		}
		d := stats[driver]
		if st.common < d.common || st.common == d.common && st.levels[0] > d.levels[0] {
			driver = i
		}
	}
	// What the other terms add to a listing of the driver: at least the
	// sum of their worst levels, at most the sum of their best.
	d := driverTerm{terms[driver], stats[driver]}
	var multi *wordWalk // nil for one word
	var others []otherTerm
	var least, best int64
	for i, st := range stats {
		if i != driver {
			others = append(others, otherTerm{terms[i], st.levels[0], st.levels[len(st.levels)-1]})
			if multi == nil {
				multi = &wordWalk{driver: d}
			}
			multi.others = append(multi.others, &otherWord{
				otherTerm: others[len(others)-1],
				termStat:  st, from: 5, score: map[uuid.UUID]int64{}, probed: map[uuid.UUID]int64{},
			})
			least += st.levels[len(st.levels)-1]
			best += st.levels[0]
		}
	}
	if multi != nil && d.common < s.words.rare {
		return s.findRare(ctx, q, multi, after, limit)
	}
	if multi != nil {
		found, done, err := s.findTop(ctx, q, terms, stats, after, limit)
		if err != nil || done {
			return found, err
		}
		found, done, err = s.findPair(ctx, q, terms, stats, after, limit)
		if err != nil || done {
			return found, err
		}
	}
	var found []Found
	walk := stats[driver].levels
	for i, v := range walk {
		if after != nil && v+least > after.Relevance {
			continue // the whole level ranks before the cursor
		}
		// Once a page is held, a listing must reach its last to count.
		var floor int64
		if len(found) > limit {
			floor = found[limit].Relevance
		}
		page, err := s.findLevel(ctx, q, d, others, v, floor, after, limit)
		if err != nil {
			return nil, err
		}
		found = append(found, page...)
		slices.SortFunc(found, q.foundOrder)
		found = found[:min(len(found), limit+1)]
		if len(found) > limit && (i+1 == len(walk) || found[limit].Relevance > walk[i+1]+best) {
			break
		}
	}
	return found, nil
}

// foundOrder is the order of a word search's results, as its queries sort
// them: by relevance, best first, then by distance when q has a point,
// then by id (as the database compares UUIDs, byte by byte).
func (q ListingQuery) foundOrder(a, b Found) int {
	if c := cmp.Compare(b.Relevance, a.Relevance); c != 0 {
		return c
	}
	if q.Near != nil && a.Km != nil && b.Km != nil {
		if c := cmp.Compare(*a.Km, *b.Km); c != 0 {
			return c
		}
	}
	return bytes.Compare(a.ID[:], b.ID[:])
}

// termStat is what findWords needs to know of a term before it walks: the
// levels it has in some listing, best first, and how many words of
// listings it begins (up to rareCount).
type termStat struct {
	levels []int64
	common int64
	// whole[w-1] and longer[w-1] say whether some listing holds the
	// whole word, or a longer word the term begins, at weight w.
	whole, longer [4]bool
}

// termStats reads, in one query, each term's levels (whether a row of each
// weight holds the whole word, and whether one holds a longer word it
// begins: short reads of the (weight, word, ...) index) and how common it
// is; and in a search of several terms, it sets each term's begun when
// the term begins few words.
func (s *Store) termStats(ctx context.Context, terms []searchTerm) ([]termStat, error) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	listed := 0 // the words listed per term: one more than wordLimits.begun
	if s.words.begun > 0 && len(terms) > 1 {
		listed = s.words.begun + 1
	}
	var cols []string
	for _, t := range terms {
		w, u := arg(t.word), arg(t.upper)
		for weight := 4; weight >= 1; weight-- {
			k := strconv.Itoa(weight)
			cols = append(cols,
				"EXISTS (SELECT 1 FROM listing_words w WHERE w.weight = "+k+" AND w.word = "+w+")",
				"EXISTS (SELECT 1 FROM listing_words w WHERE w.weight = "+k+" AND w.word > "+w+" AND w.word < "+u+")")
		}
		cols = append(cols, "(SELECT count(*) FROM (SELECT 1 FROM listing_words w WHERE w.word >= "+w+
			" AND w.word < "+u+" LIMIT "+arg(s.words.rare)+") c)")
		// The words the term begins, listed at most: each the first of
		// the primary key past the one before (a read of a page or two
		// each), so that a common word's thousands of rows are not read
		// to list its few words. A search of one word probes only its
		// own rows, seldom: it does without.
		next := "w.word >= " + w
		for range listed {
			first := "(SELECT w.word FROM listing_words w WHERE " + next + " AND w.word < " + u + " ORDER BY w.word LIMIT 1)"
			cols = append(cols, first)
			next = "w.word > " + first
		}
	}
	whole, longer := make([][4]bool, len(terms)), make([][4]bool, len(terms))
	words := make([][][]byte, len(terms))
	stats := make([]termStat, len(terms))
	const perTerm = 9 // the levels' columns and the count
	dest := make([]any, 0, (perTerm+listed)*len(terms))
	for i := range terms {
		for weight := 4; weight >= 1; weight-- {
			dest = append(dest, &whole[i][weight-1], &longer[i][weight-1])
		}
		dest = append(dest, &stats[i].common)
		words[i] = make([][]byte, listed)
		for k := range words[i] {
			dest = append(dest, &words[i][k])
		}
	}
	if err := s.db.Pool.QueryRow(ctx, "SELECT "+strings.Join(cols, ", "), args...).Scan(dest...); err != nil {
		return nil, err
	}
	for i := range terms {
		stats[i].whole, stats[i].longer = whole[i], longer[i]
		if n := slices.IndexFunc(words[i], func(b []byte) bool { return b == nil }); n > 0 {
			terms[i].begun = words[i][:n] // the last is NULL: no more than wordLimits.begun
		}
		for _, v := range levels {
			// Level v: the whole word at weight v/2, or a longer word at
			// weight v.
			if v%2 == 0 && v/2 <= 4 && whole[i][v/2-1] || v <= 4 && longer[i][v-1] {
				stats[i].levels = append(stats[i].levels, v)
			}
		}
	}
	return stats, nil
}

// findLevel is one step of findWords: the first limit+1 listings after the
// cursor, in the page's order, among those at level v of the driver term
// that hold every other term, reach floor and pass q's filters. One query
// reads the level from listing_words alone, in the page's order
// (relevance from the probes, distance from the place kept with the
// words), and looks up in listings only the first few, four pages' worth,
// saying of each whether it passes the filters; more are read only when
// too few of those pass.
func (s *Store) findLevel(ctx context.Context, q ListingQuery, driver driverTerm, others []otherTerm, v, floor int64, after *SearchCursor, limit int) ([]Found, error) {
	return s.lookUpCandidates(ctx, q, after, limit, func(n int, arg func(any) string) (string, bool) {
		return levelSQL(q, driver, others, v, floor, after, n, arg)
	})
}

// lookUpCandidates returns the first limit+1 listings after the cursor, in
// the page's order, among the candidates that pass q's filters:
// candidates(n, arg) is the query of the first n+1 of them (as levelSQL's:
// listing_id, relevance, and placeless and km with a point, in the page's
// order), false when there are none. It looks up in listings the first
// four pages' worth, and more only when too few of those pass.
//
// The database keeps the page: it says of each listing whether it passes
// the filters and comes after the cursor, orders those first and in the
// page's order (relevance, the distance measured from the listing, id),
// and sends the first limit+1 only, each with its tags, along with how
// many candidates there were. Go once received all four pages' worth and
// kept a page, and read the tags in a round trip of their own.
func (s *Store) lookUpCandidates(ctx context.Context, q ListingQuery, after *SearchCursor, limit int, candidates func(n int, arg func(any) string) (string, bool)) ([]Found, error) {
	for n := 4 * (limit + 1); ; n *= 8 {
		args := []any{s.clock()}
		arg := func(x any) string {
			args = append(args, x)
			return "$" + strconv.Itoa(len(args))
		}
		where, km, order, err := pageLookup(q, after, arg)
		if err != nil {
			return nil, err
		}
		// The first n candidates: a count of n says there may be more.
		cands, ok := candidates(n-1, arg)
		if !ok {
			return nil, nil
		}
		pass := "COALESCE((" + strings.Join(where, ") AND (") + "), FALSE)"
		sql := "SELECT " + listingColumns + ", " + listingTags + ", c.relevance, " + km + ", " + pass + ", c.total" +
			" FROM (SELECT cc.*, count(*) OVER () AS total FROM (" + cands + ") AS cc) AS c JOIN listings l ON l.id = c.listing_id" +
			" ORDER BY " + pass + " DESC, " + order + " LIMIT " + arg(limit+1)
		rows, err := s.db.Pool.Query(ctx, sql, args...)
		if err != nil {
			return nil, err
		}
		var found []Found
		var total int64
		_, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (struct{}, error) {
			var f Found
			var passes bool
			l, err := scanTagged(r, &f.Relevance, &f.Km, &passes, &total)
			f.Listing = l
			if passes {
				found = append(found, f)
			}
			return struct{}{}, err
		})
		if err != nil {
			return nil, err
		}
		if len(found) > limit || total < int64(n) {
			return found, nil
		}
	}
}

// pageLookup is what a lookup of a search's candidates (c: listing_id,
// relevance) in listings (l) needs to keep a page: the conditions a listing
// must meet (q's filters but its words, and coming after the cursor), its
// distance from q's point measured from the listing (NULL without one),
// and the page's order (relevance, that distance, id).
func pageLookup(q ListingQuery, after *SearchCursor, arg func(any) string) (where []string, km, order string, err error) {
	filter := q
	filter.Text = ""
	if q.Near != nil && q.RadiusKm == 0 {
		filter.Near = nil
	}
	if where, err = listingFilter(filter, arg); err != nil {
		return nil, "", "", err
	}
	km, order = "NULL::FLOAT8", "c.relevance DESC, "
	if q.Near != nil {
		km = distanceSQL(*q.Near, arg)
		order += km + ", "
	}
	if after != nil {
		where = append(where, afterSQL(after, "c.relevance", km, "l.id", q.Near != nil, arg))
	}
	return where, km, order + "l.id", nil
}

// driverTerm is the term findWords walks, with what termStats learned of
// it.
type driverTerm struct {
	searchTerm
	termStat
}

// outscorable reports whether a row of the driver scoring v may be
// outscored in its listing by another of the listing's rows: only if
// some listing holds the whole word at a weight scoring more (whole says
// the row is the whole word's, the listing's only one), or a longer word
// at a weight above v.
func (d driverTerm) outscorable(v int64, whole bool) bool {
	for w := int64(1); w <= 4; w++ {
		if !whole && d.whole[w-1] && 2*w > v || d.longer[w-1] && w > v {
			return true
		}
	}
	return false
}

// otherTerm is a term of a search other than the driver, with its best
// and worst levels in any listing.
type otherTerm struct {
	searchTerm
	best, least int64
}

// levelSQL is the query of the first n+1 listings (listing_id,
// relevance) of level v of the driver term that hold every other term,
// with a relevance of at least floor, after the cursor, in the page's order
// as listing_words gives it; false when no listing of the level can reach
// floor. A row written without its listing's place (by a server older than
// migration 0025) is a candidate whatever the distance.
func levelSQL(q ListingQuery, driver driverTerm, others []otherTerm, v, floor int64, after *SearchCursor, n int, arg func(any) string) (string, bool) {
	level := strconv.FormatInt(v, 10)

	// A listing reaches the floor only if each other term's level in it
	// is at least the floor less v and the best of the others: when that
	// rules out some of the term's levels, the level's listings are
	// narrowed to those holding the term at a level high enough (a
	// semi-join the planner may run as one read of those, rather than a
	// probe per listing), before anything is probed.
	var narrow []string
	for j, t := range others {
		need := floor - v
		for k, u := range others {
			if k != j {
				need -= u.best
			}
		}
		if need <= t.least {
			continue
		}
		ow := arg(t.word)
		var sets []string
		if ws := weightsFrom((need + 1) / 2); ws != "" {
			sets = append(sets, "SELECT x.listing_id FROM listing_words x WHERE x.weight IN ("+ws+") AND x.word = "+ow)
		}
		if ws := weightsFrom(need); ws != "" {
			sets = append(sets, "SELECT x.listing_id FROM listing_words x WHERE x.weight IN ("+ws+") AND x.word > "+ow+" AND x.word < "+arg(t.upper))
		}
		if len(sets) == 0 {
			return "", false // beyond the term's best: nothing can reach the floor
		}
		narrow = append(narrow, " AND w.listing_id IN ("+strings.Join(sets, " UNION ALL ")+")")
	}

	// The driver's listings at level v: a word it begins scores v, and
	// none scores more. Each part reads one weight of listing_words'
	// (weight, word, listing_id, lat, lon) index: the whole word (one row
	// per listing, as the key is word and listing), then the longer words
	// it begins (several may be one listing's). Whether another of the
	// listing's words outscores the row is a probe (probeSQL),
	// written as a scalar subquery so that the planner runs it
	// once per row by the listing's id (as an anti-join it guessed a range
	// of longer words to hold one row, and scanned the range for each of
	// thousands), and after the narrowing (OFFSET 0 keeps it there); and
	// only when some listing holds a row of the term that could outscore
	// it (termStats says: a term typed in part, whose best is a longer
	// word in titles, reads those without a probe each, and so does a
	// whole word in descriptions when no longer word is in any title).
	w := arg(driver.word)
	var upper string
	part := func(cond string, check bool) string {
		sql := "SELECT w.listing_id, w.lat, w.lon FROM listing_words w WHERE " + cond + strings.Join(narrow, "")
		if !check {
			return sql
		}
		return "SELECT p.listing_id, p.lat, p.lon FROM (" + sql + " OFFSET 0) p WHERE " + probeSQL(driver.searchTerm, "p.listing_id", w, upper, arg) + " = " + level
	}
	if v <= 4 {
		upper = arg(driver.upper)
	}
	var parts []string
	if v%2 == 0 && v/2 <= 4 {
		parts = append(parts, part("w.weight = "+strconv.FormatInt(v/2, 10)+" AND w.word = "+w, driver.outscorable(v, true)))
	}
	if v <= 4 {
		parts = append(parts, part("w.weight = "+level+" AND w.word > "+w+" AND w.word < "+upper, driver.outscorable(v, false)))
	}
	atLevel := parts[0]
	if len(parts) > 1 {
		atLevel = strings.Join(parts, " UNION ")
	} else if v <= 4 {
		atLevel = "SELECT DISTINCT d.listing_id, d.lat, d.lon FROM (" + atLevel + ") d"
	}
	from := "(" + atLevel + ") d"
	var where []string

	// Each other term's level in the listing, by a probe (probeSQL):
	// NULL when the listing lacks the term. OFFSET 0 keeps
	// the probes from being run again for the WHERE and ORDER BY.
	rel := level
	probes := []string{level}
	for _, t := range others {
		ow := arg(t.word)
		probes = append(probes, probeSQL(t.searchTerm, "d.listing_id", ow, arg(t.upper), arg))
	}
	if len(others) > 0 {
		from = "(SELECT d.listing_id, d.lat, d.lon, (" + strings.Join(probes, " + ") + ")::BIGINT AS relevance FROM " + from + " OFFSET 0) d"
		rel = "d.relevance"
		where = append(where, rel+" IS NOT NULL")
		if floor > 0 {
			where = append(where, rel+" >= "+arg(floor))
		}
	}
	return pageSQL(q, from, rel, len(others) > 0, where, after, n, arg), true
}

// pageSQL is the query of the first n+1 rows of from (named d, with
// listing_id, lat and lon) that meet where and come after the cursor, in
// the page's order: by relevance rel, best first (unless byRel is false:
// every row has the same), then nearest when q has a point (those without
// a place first, as the cursor counts them), then by id. Its columns are
// listing_id and relevance, and with a point placeless and km: the order's
// keys, so that the query looking up the listings can keep it.
func pageSQL(q ListingQuery, from, rel string, byRel bool, where []string, after *SearchCursor, n int, arg func(any) string) string {
	var order []string
	if byRel {
		order = append(order, rel+" DESC")
	}
	km := "NULL::FLOAT8"
	if q.Near != nil {
		km = distanceOf("d", *q.Near, arg)
		order = append(order, "(d.lat IS NULL) DESC", km)
	}
	order = append(order, "d.listing_id")
	if after != nil {
		cond := afterSQL(after, rel, km, "d.listing_id", q.Near != nil, arg)
		if q.Near != nil {
			cond = "(d.lat IS NULL OR " + cond + ")"
		}
		where = append(where, cond)
	}
	sql := "SELECT d.listing_id, " + rel + "::BIGINT AS relevance"
	if q.Near != nil {
		sql += ", (d.lat IS NULL) AS placeless, " + km + " AS km"
	}
	sql += " FROM " + from
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	return sql + " ORDER BY " + strings.Join(order, ", ") + " LIMIT " + arg(n+1)
}

// weightsFrom lists the weights from w to 4, "" when there are none.
func weightsFrom(w int64) string {
	var ws []string
	for x := max(w, 1); x <= 4; x++ {
		ws = append(ws, strconv.FormatInt(x, 10))
	}
	return strings.Join(ws, ", ")
}

// probeSQL is a probe, a scalar subquery: the score of term t (whose word
// and bound past it are the parameters w and u) in the listing whose id
// is the SQL expression id, NULL when the listing lacks it. When termStats found the words t begins few,
// it reads the primary key (word, listing_id) at each of them: a common
// word's rows lie together there, a few hundred to a page, so that a
// thousand probes touch a few dozen pages, held in the processor's cache
// after the first. Otherwise it reads the (listing_id, word, weight)
// index at the listing, a page of its own for each listing. The listing
// is bounded from both sides rather than equal, so that the planner
// cannot read the (listing_id, ...) index instead: to it a bounded range
// of the first column is far more rows than one word's.
//
// Its generic plan is estimated over thousands of rows; with PostgreSQL's
// JIT on, compiling it took 130 ms a run (the local server runs without:
// pglocal). A rare word of 2,888 rows and a common word, the statement
// that reads the one and probes the other: 14.8 ms against 18.5 probing
// (listing_id, ...), five runs each, generic plans. BenchmarkSearch100k,
// three runs each in the order ABBAAB: the searches of a rare and a common
// word 7.3-8.5 ms at p50 against 7.9-10.6 (one run of this way, slower
// throughout, 11.0-12.8), p99 22.6-60.3 against 40.5-74.5.
func probeSQL(t searchTerm, id, w, u string, arg func(any) string) string {
	where := "x.word >= " + w + " AND x.word < " + u
	if len(t.begun) == 0 {
		where = "x.listing_id = " + id + " AND " + where
	} else {
		where = "x.word = ANY(" + arg(t.begun) + "::BYTEA[]) AND " + where + " AND x.listing_id >= " + id + " AND x.listing_id <= " + id
	}
	return "(SELECT max(" + wordScore("x", w) + ") FROM listing_words x WHERE " + where + ")"
}

// wordScore is the score of a listing_words row (alias) for the term whose
// word is the parameter w: its weight, doubled when it is the whole word.
func wordScore(alias, w string) string {
	return alias + ".weight * CASE WHEN " + alias + ".word = " + w + " THEN 2 ELSE 1 END"
}
