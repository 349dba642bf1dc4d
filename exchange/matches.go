package exchange

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange/matching"
)

// Match is a listing ranked for another: the score's parts, and the recent
// history fairness weighed, so that a page can say in words why.
type Match struct {
	// Listing is the other listing: an offer for a need, a need for an
	// offer.
	Listing Listing
	Score   matching.Breakdown
	// Received is what the need's owner received, and Asked what the
	// offer's owner was asked to give, within FairnessWindow, in
	// hundredths of the unit (see Fairness).
	Received, Asked int64
	// Remaining is what is left of the other listing after its
	// agreements; Cover the part of the need this pair can serve (the
	// smaller of what is left of each).
	Remaining, Cover decimal.Decimal
	// Reasons explain the score in codes and figures, for the pages to
	// put into words.
	Reasons []matching.Reason
}

// maxMatchCandidates bounds the listings read to rank one listing's
// matches, so that a dense city cannot make one page read without end.
const maxMatchCandidates = 10 * MaxLimit

// Matches returns a listing p may see and, when it is open, the limit best
// open listings of the other kind that p may also see and that could match
// it (see candidateQuery: its category and related ones, within the need's
// reach or anywhere for a remote offer, of its unit), best first: for a
// need, matching.Rank over the offers; for an offer, each need scored with
// it and ordered as Rank orders (the offer's own category first, then by
// score, ties broken by the other listing's id). Every listing is matched
// with what is left of it after its agreements, so an offer taken up is no
// candidate and one partly taken covers only the rest. cfg.Related, when
// nil, is the taxonomy's relations. It returns ErrUnknownListing for a
// listing p may not see, and ledger.ErrInvalidRequest for a limit outside
// 1..MaxLimit. This is the one ranking of matches: the JSON API and the
// pages both show it.
func (s *Store) Matches(ctx context.Context, p Principal, id uuid.UUID, cfg matching.Config, limit int) (Listing, []Match, error) {
	if limit < 1 || limit > MaxLimit {
		return Listing{}, nil, invalid("limit", "limit must be between 1 and %d, not %d", MaxLimit, limit)
	}
	l, err := s.Listing(ctx, p, id)
	if err != nil {
		return Listing{}, nil, err
	}
	if l.Status != StatusOpen {
		return l, []Match{}, nil
	}
	if cfg.Related == nil {
		if cfg.Related, err = s.RelatedCategories(ctx); err != nil {
			return Listing{}, nil, err
		}
	}
	q := candidateQuery(l, cfg)
	var cands []Listing
	page := Page{Limit: MaxLimit}
	for len(cands) < maxMatchCandidates {
		ls, next, err := s.SearchListings(ctx, p, q, page)
		if err != nil {
			return Listing{}, nil, err
		}
		for _, c := range ls {
			if c.Unit == l.Unit {
				cands = append(cands, c)
			}
		}
		if next == uuid.Nil {
			break
		}
		page.After = next
	}
	left, err := s.Remaining(ctx, append([]Listing{l}, cands...))
	if err != nil {
		return Listing{}, nil, err
	}
	ml := ToMatchingLeft(l, left[0])
	others := make([]matching.Listing, len(cands))
	owners := []uuid.UUID{l.Owner}
	for i, c := range cands {
		others[i] = ToMatchingLeft(c, left[i+1])
		owners = append(owners, c.Owner)
	}
	fair, err := s.Fairness(ctx, p, owners)
	if err != nil {
		return Listing{}, nil, err
	}
	var ranked []matching.Candidate
	if l.Kind == Need {
		ranked = matching.Rank(ml, others, fair, cfg, limit)
	} else {
		for i, need := range others {
			if b, ok := matching.Score(need, ml, fair, cfg); ok {
				ranked = append(ranked, matching.Candidate{Offer: i, OfferID: need.ID, Score: b})
			}
		}
		slices.SortFunc(ranked, func(x, y matching.Candidate) int {
			if x.Score.Related != y.Score.Related {
				if y.Score.Related {
					return -1
				}
				return 1
			}
			if c := cmp.Compare(y.Score.Total, x.Score.Total); c != 0 {
				return c
			}
			return cmp.Or(strings.Compare(x.OfferID, y.OfferID), cmp.Compare(x.Offer, y.Offer))
		})
		ranked = ranked[:min(len(ranked), limit)]
	}
	out := make([]Match, len(ranked))
	for i, c := range ranked {
		m := Match{Listing: cands[c.Offer], Score: c.Score, Remaining: left[c.Offer+1],
			Cover: decimal.Min(left[0], left[c.Offer+1])}
		need, offer := l, m.Listing
		mn, mo := ml, others[c.Offer]
		if l.Kind == Offer {
			need, offer = offer, need
			mn, mo = mo, mn
		}
		m.Received, m.Asked = fair.Received[need.Owner.String()], fair.Asked[offer.Owner.String()]
		m.Reasons = matching.Reasons(mn, mo, c.Score, fair, cfg)
		out[i] = m
	}
	return l, out, nil
}

// candidateQuery asks for the open listings that could match l, of its
// unit or not: for a need, the offers of its category and of related ones
// within its reach, and remote offers anywhere; for an offer, the needs of
// its category and of those it is related to, whose reach takes it in (any
// distance for a remote offer).
func candidateQuery(l Listing, cfg matching.Config) ListingQuery {
	q := ListingQuery{Categories: []string{l.Category}}
	if l.Kind == Need {
		q.Kind = Offer
		for c := range cfg.Related[l.Category] {
			q.Categories = append(q.Categories, c)
		}
		reach := l.MaxKm
		if reach <= 0 {
			reach = cfg.MaxKm
		}
		q.Near, q.RadiusKm, q.OrRemote = &l.Place, reach, true
	} else {
		q.Kind = Need
		for need, offers := range cfg.Related {
			if offers[l.Category] > 0 {
				q.Categories = append(q.Categories, need)
			}
		}
		if !l.Remote {
			q.Reach = &l.Place
		}
	}
	slices.Sort(q.Categories)
	q.Categories = slices.Compact(q.Categories)
	return q
}
