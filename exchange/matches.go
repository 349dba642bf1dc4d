package exchange

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/google/uuid"

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
}

// maxMatchCandidates bounds the listings read to rank one listing's
// matches, so that a dense city cannot make one page read without end.
const maxMatchCandidates = 10 * MaxLimit

// Matches returns a listing p may see and, when it is open, the limit best
// open listings of the other kind that p may also see, in its category,
// within cfg.MaxKm and of its unit: best first, as matching ranks them
// (for a need, matching.Rank over the offers; for an offer, each need
// scored with it, ties broken by the other listing's id). It returns
// ErrUnknownListing for a listing p may not see, and
// ledger.ErrInvalidRequest for a limit outside 1..MaxLimit.
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
	other := Offer
	if l.Kind == Offer {
		other = Need
	}
	q := ListingQuery{Viewer: ViewerOf(p), Kind: other, Category: l.Category, Near: &l.Place, RadiusKm: cfg.MaxKm}
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
	// Every listing is matched with what is left of it after its
	// agreements: an offer taken up is no candidate, one partly taken
	// covers only the rest.
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
			if c := cmp.Compare(y.Score.Total, x.Score.Total); c != 0 {
				return c
			}
			return cmp.Or(strings.Compare(x.OfferID, y.OfferID), cmp.Compare(x.Offer, y.Offer))
		})
		ranked = ranked[:min(len(ranked), limit)]
	}
	out := make([]Match, len(ranked))
	for i, c := range ranked {
		m := Match{Listing: cands[c.Offer], Score: c.Score}
		need, offer := l, m.Listing
		if l.Kind == Offer {
			need, offer = offer, need
		}
		m.Received, m.Asked = fair.Received[need.Owner.String()], fair.Asked[offer.Owner.String()]
		out[i] = m
	}
	return l, out, nil
}
