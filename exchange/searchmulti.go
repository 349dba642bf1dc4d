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

// A search of several words whose rarest word is rare (termStats counts
// fewer than rareCount of its rows) reads that word's rows whole, and
// joins the other words in Go rather than in SQL (findRare). The planner
// cannot be trusted with that join: it estimates a range of words (a
// prefix) at one row, and then ran a level's listings against the other
// word's by a nested loop that compared every pair (2.7 million
// comparisons, 290 ms, for "repa gami"), or probed the other word once per
// listing of a level of thousands. Every statement below reads one index
// in one way whatever the estimates, and has one text whatever the words,
// so that pgx prepares it once per connection:
//   - the rare word's rows, a weight at a time from listing_words'
//     (weight, word, listing_id, lat, lon) index, with their distance;
//   - another word's rows with their scores, a weight at a time from the
//     same index, only the weights that can still matter, each read once;
//   - or, for a common word and few listings, a probe per listing
//     (probeSQL);
//   - the few best candidates' listings, with the search's filters.
//
// A search whose words are all common first reads their rows above
// descriptions, grouped by listing in SQL (findTop, and findPair for two
// words; see searchtop.go), then if need be walks its driver's
// levels in SQL (findLevel): the first levels of a common word hold the
// page, and the listings of a level meet the other words in the database.

// probeMax is how many listings a common word is probed for, one probe
// each, rather than reading its next weight: each probe touches an index
// page of its own (about 4 µs when the page is in this backend's memory,
// over 100 µs the first time a connection touches it), where a weight's
// rows are read a few hundred to a page. On the 100,000 listings of
// BenchmarkSearch100k, 64 did better than 250 and than 500.
const probeMax = 64

// joinMax is up to how many rows a rare driver has its listings probed
// for every other word in the statement that reads its rows, rather than
// the other words read or probed later, a statement at a time: a search
// of a rare and a common word then takes three statements (termStats,
// this, the listings) where it took about 6.5. Each probe costs a few µs
// of the database's time, a weight's rows read in bulk far less each, but
// a common word's rows in descriptions are ten to fifteen thousand, read
// into Go. With PostgreSQL's cache at 128MB, probes often missed it, and
// probing up to 1,000 rows took the least database CPU (BenchmarkRareCommon:
// 4.9 and 5.4 ms per search, against 7.0 and 7.6 probing up to 3,000). With
// the cache sized for the machine (pglocal.DefaultSharedBuffers), probing
// every rare driver (up to rareCount rows) is the cheapest overall:
// BenchmarkRareCommon, 200 searches, database and Go CPU per search 5.5 +
// 4.0 ms against 4.7 + 6.5 up to 1,000 rows (p50 5.2 against 5.6 ms), and
// BenchmarkSearch100k over HTTP, two alternated rounds each: p99 14.8 and
// 13.8 ms against 15.9 and 16.1 for words, 13.7 and 16.3 against 19.6 and
// 19.2 near a point, with less time per search and no more database CPU.
const joinMax = rareCount

// begunMax is up to how many indexed words a term may begin for its
// probes to read the primary key at each of them (see probeSQL): each
// word is a read of the key, where one probe of the (listing_id, ...)
// index reads a page at random. Of the common words of 150 searches in
// BenchmarkRareCommon's vocabulary, typed whole, half begin one word and
// none more than six.
const begunMax = 4

// wordLimits are where a word search changes its way: rare is how many
// rows of a term termStats counts (rareCount), probe how many listings a
// common word is probed for (probeMax), join how many rows a rare driver
// may have for the other words to be probed in each of its listings in
// the statement that reads it (joinMax), begun up to how many words a
// term may begin for its probes to read the primary key at each (begunMax;
// 0: never).
type wordLimits struct {
	rare  int64
	probe int
	join  int64
	begun int
}

// wordWalk is the state of a search of several words.
type wordWalk struct {
	driver driverTerm
	others []*otherWord
}

// otherWord is a term of a search other than the driver, with its scores
// read so far.
type otherWord struct {
	otherTerm
	termStat
	// from is the lowest weight whose rows are read (5 before any). A
	// listing's score in score is its true one when no row of a lower
	// weight can score more (below); a listing absent from it scores at
	// most below, and lacks the word when below is 0.
	from  int64
	score map[uuid.UUID]int64
	// probed holds the true scores that probes gave, 0 for a listing
	// without the word.
	probed map[uuid.UUID]int64
}

// below is the best score a row of the term of a weight below from can
// give in any listing, as termStats saw: 0 when there is no such row.
func (o *otherWord) below() int64 {
	var best int64
	for w := int64(1); w < o.from; w++ {
		if o.whole[w-1] {
			best = max(best, 2*w)
		}
		if o.longer[w-1] {
			best = max(best, w)
		}
	}
	return best
}

// What a search knows of a word's score in a listing.
const (
	exact  = iota // the score is the listing's
	atMost        // the listing scores at most this, maybe 0
	lacks         // the listing does not hold the word
)

// scoreOf returns the term's score in listing id, or the most it may be,
// and which it is.
func (o *otherWord) scoreOf(id uuid.UUID) (int64, int) {
	if x, ok := o.probed[id]; ok {
		if x == 0 {
			return 0, lacks
		}
		return x, exact
	}
	below := o.below()
	x, ok := o.score[id]
	switch {
	case ok && x >= below:
		return x, exact
	case below == 0:
		return 0, lacks
	}
	return below, atMost
}

// findRare runs findWords for a search of several words whose driver is
// rare: the first limit+1 listings after the cursor, in the page's order,
// among those that hold every word and pass q's filters.
//
// A driver of at most wordLimits.join rows (every rare one, unless a test
// lowers the limit) has each of its listings probed for every other word
// in one statement, which also ranks the listings holding every word and
// looks up the page in listings (rareSQL, in lookUpCandidates): the
// search is two statements, this and termStats'.
//
// Otherwise it reads the driver's rows whole (fewer than rareCount), and
// every row of another rare word. Of a common word it learns the scores in
// the driver's listings only as far as the page needs: while a listing
// whose score for the word is not known yet (none of the word's rows read
// so far is its best, so it scores at most what a lower weight gives)
// could still rank in the page, it probes those listings when they are
// few, or else reads the next weight of the word that leaves the most
// unknown.
func (s *Store) findRare(ctx context.Context, q ListingQuery, w *wordWalk, after *SearchCursor, limit int) ([]Found, error) {
	if w.driver.common <= s.words.join {
		return s.lookUpCandidates(ctx, q, after, limit, func(n int, arg func(any) string) (string, bool) {
			return rareSQL(q, w.driver, w.others, after, n, arg), true
		})
	}
	rows, err := s.driverRows(ctx, q, w.driver)
	if err != nil {
		return nil, err
	}
	for _, o := range w.others {
		if o.common < s.words.rare && len(rows) > 0 { // a few thousand rows at most: read in one go
			if err := s.readWord(ctx, o, 0); err != nil {
				return nil, err
			}
		}
	}
	var cur Found
	if after != nil {
		cur = Found{Listing: Listing{ID: after.ID}, Relevance: after.Relevance, Km: &after.Km}
	}
	for {
		// Each listing's relevance when every word's score is known, or
		// else the most it may reach.
		var known, unknown []candidate
		bound := int64(-1) // the most an unknown one may reach
		for _, c := range rows {
			most, sure := c.relevance, true
			for _, o := range w.others {
				x, state := o.scoreOf(c.id)
				if state == lacks {
					sure, most = false, -1
					break
				}
				most += x
				if state == exact {
					c.relevance += x
				} else {
					sure = false
				}
			}
			switch {
			case most < 0:
			case sure && (after == nil || c.placeless || q.foundOrder(c.found(q), cur) > 0):
				known = append(known, c)
			case !sure:
				c.relevance = most
				unknown = append(unknown, c)
				bound = max(bound, most)
			}
		}
		slices.SortFunc(known, candidateOrder)
		above := 0
		for _, c := range known {
			if c.relevance > bound {
				above++
			}
		}
		// An unknown listing matters only if it may reach the last
		// listing of a page of the known ones.
		least := int64(-1)
		if len(known) > limit {
			least = known[limit].relevance
		}
		if len(unknown) > 0 && above <= limit {
			if err := s.learn(ctx, w, unknown, least); err != nil {
				return nil, err
			}
			continue
		}
		found, err := s.lookUpInOrder(ctx, q, known, after, limit)
		if err != nil {
			return nil, err
		}
		if len(unknown) > 0 && (len(found) <= limit || found[limit].Relevance <= bound) {
			least = -1 // too few pass the filters: any may count
			if len(found) > limit {
				least = found[limit].Relevance
			}
			if err := s.learn(ctx, w, unknown, least); err != nil {
				return nil, err
			}
			continue
		}
		return found, nil
	}
}

// learn learns more of the other words' scores in the listings of
// unknown (each with the most it may reach as its relevance) that may
// reach least: by a probe of each when they are few, or else by reading
// the next weight that has rows of the word whose rows leave the most
// unknown.
func (s *Store) learn(ctx context.Context, w *wordWalk, unknown []candidate, least int64) error {
	var matter []candidate
	for _, c := range unknown {
		if c.relevance >= least {
			matter = append(matter, c)
		}
	}
	var deepest *otherWord
	for _, o := range w.others {
		if o.below() > 0 && (deepest == nil || o.below() > deepest.below()) {
			deepest = o
		}
	}
	if len(matter) <= s.words.probe {
		for _, o := range w.others {
			if o.below() > 0 {
				if err := s.probe(ctx, o, matter); err != nil {
					return err
				}
			}
		}
		return nil
	}
	next := deepest.from - 1
	for next > 1 && !deepest.whole[next-1] && !deepest.longer[next-1] {
		next--
	}
	// Titles and tags are read together: a word's rows in tags are a few
	// dozen where its rows in titles are a few thousand, and reading them
	// apart took a round trip of its own in most searches of a rare and a
	// common word, which then read the descriptions anyway.
	if next == 4 {
		next = 3
	}
	return s.readWord(ctx, deepest, 2*next-1)
}

// lookUpInOrder looks up the listings of cands, which are in the page's
// order, a few at a time, until more than limit pass q's filters, and
// returns the first limit+1 of those after the cursor in the page's order.
func (s *Store) lookUpInOrder(ctx context.Context, q ListingQuery, cands []candidate, after *SearchCursor, limit int) ([]Found, error) {
	var found []Found
	for start, n := 0, 4*(limit+1); start < len(cands) && len(found) <= limit; start, n = start+n, n*8 {
		page, err := s.lookUp(ctx, q, cands[start:min(len(cands), start+n)], after, limit)
		if err != nil {
			return nil, err
		}
		found = append(found, page...)
	}
	slices.SortFunc(found, q.foundOrder)
	return found[:min(len(found), limit+1)], nil
}

// candidateOrder is the page's order as the candidates know it: a
// listing whose words were written without its place comes first among
// those of its relevance, as its distance is only known from the listing.
func candidateOrder(a, b candidate) int {
	if c := cmp.Compare(b.relevance, a.relevance); c != 0 {
		return c
	}
	if a.placeless != b.placeless {
		if a.placeless {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(a.km, b.km); c != 0 {
		return c
	}
	return bytes.Compare(a.id[:], b.id[:])
}

// candidate is a listing a search of several words may find: its
// relevance, and its distance from the search's point as measured from the
// place kept with its words (none: placeless).
type candidate struct {
	id        uuid.UUID
	relevance int64
	placeless bool
	km        float64
}

func (c candidate) found(q ListingQuery) Found {
	f := Found{Listing: Listing{ID: c.id}, Relevance: c.relevance}
	if q.Near != nil {
		f.Km = &c.km
	}
	return f
}

// driverRows reads the rows of the driver, each listing once with its
// score (its best row's), and its distance from q's point.
func (s *Store) driverRows(ctx context.Context, q ListingQuery, d driverTerm) ([]candidate, error) {
	args := []any{d.word, d.upper}
	arg := func(x any) string {
		args = append(args, x)
		return "$" + strconv.Itoa(len(args))
	}
	km := "0::FLOAT8"
	if q.Near != nil {
		km = distanceOf("w", *q.Near, arg)
	}
	var parts []string
	for weight := 4; weight >= 1; weight-- {
		parts = append(parts, "SELECT w.listing_id, "+wordScore("w", "$1")+", w.lat IS NULL, COALESCE("+km+", 0)"+
			" FROM listing_words w WHERE w.weight = "+strconv.Itoa(weight)+" AND w.word >= $1 AND w.word < $2")
	}
	rows, err := s.db.Pool.Query(ctx, strings.Join(parts, "\nUNION ALL\n"), args...)
	if err != nil {
		return nil, err
	}
	var out []candidate
	at := map[uuid.UUID]int{}
	var c candidate
	_, err = pgx.ForEachRow(rows, []any{&c.id, &c.relevance, &c.placeless, &c.km}, func() error {
		if q.Near == nil {
			c.placeless, c.km = false, 0
		}
		if i, ok := at[c.id]; ok {
			out[i].relevance = max(out[i].relevance, c.relevance)
		} else {
			at[c.id] = len(out)
			out = append(out, c)
		}
		return nil
	})
	return out, err
}

// rareSQL is the query of the first n+1 listings (listing_id, relevance,
// and with a point placeless and km, as levelSQL's) after the cursor, in
// the page's order, among those of rare driver d that hold every word of
// others. The driver's rows, a weight at a time from listing_words'
// (weight, word, listing_id, lat, lon) index, are grouped by listing, so
// that a listing holding the driver in its title and its description is
// probed once; each listing is then probed for every other word (a scalar
// subquery bound to one listing, which the planner can only run as a read
// of one index at that listing and the word's range, whatever its
// estimates: probeSQL), and ranked by the sum of its scores. Only the
// listings that hold every word reach the sort: most of a rare word's
// listings lack a given common word. OFFSET 0 keeps the probes from being
// run again for the WHERE.
func rareSQL(q ListingQuery, d driverTerm, others []*otherWord, after *SearchCursor, n int, arg func(any) string) string {
	w, u := arg(d.word), arg(d.upper)
	var parts []string
	for weight := 4; weight >= 1; weight-- {
		parts = append(parts, "SELECT w.listing_id, "+wordScore("w", w)+", w.lat, w.lon"+
			" FROM listing_words w WHERE w.weight = "+strconv.Itoa(weight)+" AND w.word >= "+w+" AND w.word < "+u)
	}
	cols, rel := "g.listing_id, g.score, g.lat, g.lon", "p.score"
	var held []string
	for i, o := range others {
		col := "s" + strconv.Itoa(i)
		cols += ", " + probeSQL(o.searchTerm, "g.listing_id", arg(o.word), arg(o.upper), arg) + " AS " + col
		rel += " + p." + col
		held = append(held, "p."+col+" IS NOT NULL")
	}
	grouped := "SELECT r.listing_id, max(r.score), min(r.lat), min(r.lon) FROM (" + strings.Join(parts, " UNION ALL ") +
		") AS r (listing_id, score, lat, lon) GROUP BY r.listing_id"
	from := "(SELECT p.listing_id, " + rel + ", p.lat, p.lon FROM (SELECT " + cols + " FROM (" + grouped +
		") AS g (listing_id, score, lat, lon) OFFSET 0) AS p WHERE " + strings.Join(held, " AND ") +
		") AS d (listing_id, relevance, lat, lon)"
	return pageSQL(q, from, "d.relevance", true, nil, after, n, arg)
}

// readWord reads the rows of term o down to the lowest weight that can
// score need (every weight for need 2 or less), those not read yet.
func (s *Store) readWord(ctx context.Context, o *otherWord, need int64) error {
	lowest := max(1, (need+1)/2)
	if lowest >= o.from {
		return nil
	}
	ws := [4]int64{}
	for i, weight := 0, o.from-1; weight >= lowest; i, weight = i+1, weight-1 {
		ws[i] = weight
	}
	rows, err := s.db.Pool.Query(ctx, `
SELECT w.listing_id, w.weight * CASE WHEN w.word = $1 THEN 2 ELSE 1 END FROM listing_words w WHERE w.weight = $3 AND w.word >= $1 AND w.word < $2
UNION ALL
SELECT w.listing_id, w.weight * CASE WHEN w.word = $1 THEN 2 ELSE 1 END FROM listing_words w WHERE w.weight = $4 AND w.word >= $1 AND w.word < $2
UNION ALL
SELECT w.listing_id, w.weight * CASE WHEN w.word = $1 THEN 2 ELSE 1 END FROM listing_words w WHERE w.weight = $5 AND w.word >= $1 AND w.word < $2
UNION ALL
SELECT w.listing_id, w.weight * CASE WHEN w.word = $1 THEN 2 ELSE 1 END FROM listing_words w WHERE w.weight = $6 AND w.word >= $1 AND w.word < $2`,
		o.word, o.upper, ws[0], ws[1], ws[2], ws[3])
	if err != nil {
		return err
	}
	var id uuid.UUID
	var score int64
	_, err = pgx.ForEachRow(rows, []any{&id, &score}, func() error {
		if score > o.score[id] {
			o.score[id] = score
		}
		return nil
	})
	if err == nil {
		o.from = lowest
	}
	return err
}

// probe learns the true score of term o in each of cands, by one probe
// per listing (probeSQL).
func (s *Store) probe(ctx context.Context, o *otherWord, cands []candidate) error {
	scores, err := s.probeScores(ctx, o.searchTerm, cands)
	for _, c := range cands {
		o.probed[c.id] = scores[c.id]
	}
	return err
}

// probeScores returns the score of term t in each of cands that holds it,
// by one probe per listing (probeSQL).
func (s *Store) probeScores(ctx context.Context, t searchTerm, cands []candidate) (map[uuid.UUID]int64, error) {
	ids := make([]uuid.UUID, len(cands))
	for i, c := range cands {
		ids[i] = c.id
	}
	args := []any{ids, t.word, t.upper}
	arg := func(x any) string {
		args = append(args, x)
		return "$" + strconv.Itoa(len(args))
	}
	rows, err := s.db.Pool.Query(ctx, `
SELECT i.id, `+probeSQL(t, "i.id", "$2", "$3", arg)+`
FROM unnest($1::UUID[]) AS i (id)`, args...)
	if err != nil {
		return nil, err
	}
	scores := make(map[uuid.UUID]int64, len(cands))
	var id uuid.UUID
	var score *int64
	_, err = pgx.ForEachRow(rows, []any{&id, &score}, func() error {
		if score != nil {
			scores[id] = *score
		}
		return nil
	})
	return scores, err
}

// lookUp reads the first limit+1 listings of cands, in the page's order,
// that pass q's filters and come after the cursor, with their relevance,
// their distance from q's point measured from the listing and their tags.
func (s *Store) lookUp(ctx context.Context, q ListingQuery, cands []candidate, after *SearchCursor, limit int) ([]Found, error) {
	if len(cands) == 0 {
		return nil, nil
	}
	ids := make([]uuid.UUID, len(cands))
	rels := make([]int64, len(cands))
	for i, c := range cands {
		ids[i], rels[i] = c.id, c.relevance
	}
	args := []any{s.clock(), ids, rels}
	arg := func(x any) string {
		args = append(args, x)
		return "$" + strconv.Itoa(len(args))
	}
	where, km, order, err := pageLookup(q, after, arg)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Pool.Query(ctx, "SELECT "+listingColumns+", "+listingTags+", c.relevance, "+km+
		" FROM unnest($2::UUID[], $3::BIGINT[]) AS c (listing_id, relevance) JOIN listings l ON l.id = c.listing_id"+
		" WHERE "+strings.Join(where, " AND ")+" ORDER BY "+order+" LIMIT "+arg(limit+1), args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Found, error) {
		var f Found
		l, err := scanTagged(r, &f.Relevance, &f.Km)
		f.Listing = l
		return f, err
	})
}
