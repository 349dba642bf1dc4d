package exchange

import (
	"context"
	"slices"
	"strconv"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// findCommon runs findWords for a search of several words that are all
// common (none of them rare enough to read whole): a threshold top-k in
// Go, where the SQL level walk (findLevel) probed the other words once
// per listing of the driver's level, thousands of probes for two common
// words. Every term is read as findRare reads its other words, a weight
// at a time from its best (one statement text whatever the words); a
// listing is a candidate once some term's rows hold it. A listing no
// term's rows read so far hold scores at most the sum of what each term's
// unread weights can give, and none when some term is read whole (its
// rows are every listing that holds it). The page is known once more
// than limit listings whose every score is known rank above every
// candidate whose scores are not all known and above anything unread
// could reach; until then the search reads the next weight of the term
// whose unread weights can give the most, or probes the few candidates
// that may still reach the page (as findRare does).
func (s *Store) findCommon(ctx context.Context, q ListingQuery, w *wordWalk, after *SearchCursor, limit int) ([]Found, error) {
	terms := append([]*otherWord{{
		otherTerm: otherTerm{w.driver.searchTerm, w.driver.levels[0], w.driver.levels[len(w.driver.levels)-1]},
		termStat:  w.driver.termStat, from: 5, score: map[uuid.UUID]int64{}, probed: map[uuid.UUID]int64{},
	}}, w.others...)
	seen := &seenListings{near: q.Near, at: map[uuid.UUID]int{}}
	var cur Found
	if after != nil {
		cur = Found{Listing: Listing{ID: after.ID}, Relevance: after.Relevance, Km: &after.Km}
	}
	for {
		// What a listing no read row holds may reach: -1 when some term
		// is read whole.
		unseen := int64(0)
		for _, o := range terms {
			if o.below() == 0 {
				unseen = -1
				break
			}
			unseen += o.below()
		}
		var known, unknown []candidate
		bound := unseen // the most an unknown one may reach
		below := make([]int64, len(terms))
		for i, o := range terms {
			below[i] = o.below()
		}
		for _, c := range seen.list {
			most, sure := int64(0), true
			for i, o := range terms {
				// o.scoreOf, with the term's below computed once.
				x, state := int64(0), atMost
				if p, ok := o.probed[c.id]; ok {
					x, state = p, exact
					if p == 0 {
						state = lacks
					}
				} else if y, ok := o.score[c.id]; ok && y >= below[i] {
					x, state = y, exact
				} else if below[i] == 0 {
					state = lacks
				} else {
					x = below[i]
				}
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
		least := int64(-1)
		if len(known) > limit {
			least = known[limit].relevance
		}
		if bound >= 0 && above <= limit {
			if err := s.learnCommon(ctx, terms, seen, unknown, unseen, least); err != nil {
				return nil, err
			}
			continue
		}
		found, err := s.lookUpInOrder(ctx, q, known, after, cur, limit)
		if err != nil {
			return nil, err
		}
		if bound >= 0 && (len(found) <= limit || found[limit].Relevance <= bound) {
			least = -1 // too few pass the filters: any may count
			if len(found) > limit {
				least = found[limit].Relevance
			}
			if err := s.learnCommon(ctx, terms, seen, unknown, unseen, least); err != nil {
				return nil, err
			}
			continue
		}
		return found, nil
	}
}

// learnCommon learns more for findCommon: while a listing no read row
// holds may reach least (unseen is the most it may), the next weight of
// the term whose unread weights can give the most; else, as learn does,
// a probe of the candidates that may reach least when they are few, or
// the next weight of the term that leaves the most unknown.
func (s *Store) learnCommon(ctx context.Context, terms []*otherWord, seen *seenListings, unknown []candidate, unseen, least int64) error {
	var deepest *otherWord
	for _, o := range terms {
		if o.below() > 0 && (deepest == nil || o.below() > deepest.below()) {
			deepest = o
		}
	}
	if unseen < least || unseen < 0 {
		var matter []candidate
		for _, c := range unknown {
			if c.relevance >= least {
				matter = append(matter, c)
			}
		}
		if len(matter) <= s.words.probe {
			for _, o := range terms {
				if o.below() > 0 {
					if err := s.probe(ctx, o, matter); err != nil {
						return err
					}
				}
			}
			return nil
		}
	}
	next := deepest.from - 1
	for next > 1 && !deepest.whole[next-1] && !deepest.longer[next-1] {
		next--
	}
	return s.readPlaced(ctx, deepest, next, seen)
}

// seenListings are the listings findCommon has read a row of, each once,
// with its distance from the search's point as the row gives it.
type seenListings struct {
	near *Point
	at   map[uuid.UUID]int
	list []candidate
}

// readPlaced reads the rows of term o at weight, below every weight
// read so far (those between hold none of its rows, as termStats saw),
// with each listing's distance from the search's point as the row keeps
// it, adding the listings not seen yet to seen. One statement text with a
// point and one without, whatever the words and the weight.
func (s *Store) readPlaced(ctx context.Context, o *otherWord, weight int64, seen *seenListings) error {
	if weight >= o.from {
		return nil
	}
	args := []any{o.word, o.upper, weight}
	km := "0::FLOAT8"
	if seen.near != nil {
		km = "COALESCE(" + distanceOf("w", *seen.near, func(x any) string {
			args = append(args, x)
			return "$" + strconv.Itoa(len(args))
		}) + ", 0)"
	}
	rows, err := s.db.Pool.Query(ctx, "SELECT w.listing_id, "+wordScore("w", "$1")+", w.lat IS NULL, "+km+
		" FROM listing_words w WHERE w.weight = $3 AND w.word >= $1 AND w.word < $2", args...)
	if err != nil {
		return err
	}
	var c candidate
	var score int64
	_, err = pgx.ForEachRow(rows, []any{&c.id, &score, &c.placeless, &c.km}, func() error {
		if score > o.score[c.id] {
			o.score[c.id] = score
		}
		if _, ok := seen.at[c.id]; !ok {
			if seen.near == nil {
				c.placeless, c.km = false, 0
			}
			seen.at[c.id] = len(seen.list)
			seen.list = append(seen.list, c)
		}
		return nil
	})
	if err == nil {
		o.from = weight
	}
	return err
}
