package exchange

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange/matching"
	"github.com/mutual-ledger/mutual/ledger"
)

// Bounds of a proposal (Propose).
const (
	// MaxProposalNeeds is the most open needs one proposal serves, and
	// the number it serves when not told.
	MaxProposalNeeds = 10_000
	// MaxProposalCandidates is the most offers considered for one need;
	// DefaultProposalCandidates the number when not told.
	MaxProposalCandidates     = 50
	DefaultProposalCandidates = 20
	// maxProposalOffers bounds the offers read for one proposal, so a
	// large network cannot make one proposal read without end.
	maxProposalOffers = 50_000
)

// ProposalRequest asks for an assignment of offers to the open needs in
// one unit of an organization and of the organizations under it (a
// city's assembly and its groups).
type ProposalRequest struct {
	OrgID uuid.UUID
	// City, when not "", narrows the needs to those posted in the city.
	City string
	// Unit is the unit of the listings; "" means HOUR.
	Unit string
	// LimitNeeds is how many open needs to serve (the oldest first, in id
	// order), 1 to MaxProposalNeeds; 0 means MaxProposalNeeds.
	LimitNeeds int
	// CandidatesPerNeed is how many of each need's best offers the
	// assignment chooses among, 1 to MaxProposalCandidates; 0 means
	// DefaultProposalCandidates.
	CandidatesPerNeed int
	// Whole serves each need wholly by at most one offer; by default a
	// need may be split across offers and an offer across needs.
	Whole bool
}

// ProposedPair is one pair of a proposal, enough to act on: the two
// listings, what is left of each after its agreements, the quantity the
// pair gives, its score (per unit), the reasons in codes and figures, and
// the recent history fairness weighed (as in Match).
type ProposedPair struct {
	Need, Offer         Listing
	Quantity            decimal.Decimal
	NeedLeft, OfferLeft decimal.Decimal
	Score               matching.Breakdown
	Reasons             []matching.Reason
	// Received is what the need's owner received, and Asked what the
	// offer's owner was asked to give, within FairnessWindow, in
	// hundredths of the unit.
	Received, Asked int64
	// Waiting is a proposal between the same offer and need that waits
	// for its answers (a proposed agreement takes nothing from either
	// until accepted), uuid.Nil for none: sending the pair again would
	// ask the same people twice.
	Waiting uuid.UUID
}

// Proposal is a proposed assignment of offers to needs, with greedy's
// total on the same candidates for comparison. Totals are Σ score ×
// quantity.
type Proposal struct {
	OrgID uuid.UUID
	Unit  string
	// Scale is the unit's decimal places: every quantity has at most as
	// many.
	Scale int32
	// Pairs are in the assignment's order.
	Pairs []ProposedPair
	// Unassigned are the open needs with something left that no pair
	// serves, in the order of the needs.
	Unassigned []Listing
	// UnassignedLeft is what is left of each unassigned need.
	UnassignedLeft []decimal.Decimal
	// MoreNeeds says that open needs beyond LimitNeeds were left out of
	// this proposal (they are newer than every need in it).
	MoreNeeds bool
	// Asked is what is left of every need served or not, Met what the
	// pairs give.
	Asked, Met         decimal.Decimal
	Total, GreedyTotal float64
	// Exact is false when the whole-cover assignment gave up on an
	// instance too large to solve exactly (matching.Assignment.Exact).
	Exact bool
	// Names are the names of the people of the pairs the caller may read
	// (those in the organization's subtree; see ProposalNames).
	Names map[uuid.UUID]string
}

// Propose proposes, for the open needs in in.Unit of an organization p
// acts for and of those under it (in in.City if given), an assignment of
// the open offers p may see in the same unit that maximizes Σ score ×
// quantity, with what is left of each listing after its agreements as its
// quantity: by default a need may be split across offers and an offer
// across needs (exact, as a min-cost flow); with in.Whole each need is
// served wholly by at most one offer. Each need's candidates are its
// in.CandidatesPerNeed best offers (matching.Rank with cfg; cfg.Related,
// when nil, is the taxonomy's relations). Nothing is written: SendProposal
// sends the pairs as agreement proposals. This is the one proposal: the
// JSON API and the coordinators' page both show it.
//
// It returns ErrForbidden (Field "org_id") for anyone who does not act for
// the organization (its coordinators, those above it, the admin),
// ErrUnknownOrg (Field "org_id"), ErrUnauthenticated, an error of code
// ENOTFOUND and reason unknown_unit (Field "unit") for an unknown unit,
// and ledger.ErrInvalidRequest for a limit out of its bounds.
func (s *Store) Propose(ctx context.Context, p Principal, in ProposalRequest, cfg matching.Config) (Proposal, error) {
	if err := requireMember(p); err != nil {
		return Proposal{}, err
	}
	subtree, err := s.Subtree(ctx, p, in.OrgID)
	if err != nil {
		return Proposal{}, err
	}
	if in.Unit == "" {
		in.Unit = "HOUR"
	}
	switch {
	case in.LimitNeeds == 0:
		in.LimitNeeds = MaxProposalNeeds
	case in.LimitNeeds < 1 || in.LimitNeeds > MaxProposalNeeds:
		return Proposal{}, invalid("limit_needs", "limit_needs must be between 1 and %d, not %d", MaxProposalNeeds, in.LimitNeeds)
	}
	switch {
	case in.CandidatesPerNeed == 0:
		in.CandidatesPerNeed = DefaultProposalCandidates
	case in.CandidatesPerNeed < 1 || in.CandidatesPerNeed > MaxProposalCandidates:
		return Proposal{}, invalid("candidates_per_need", "candidates_per_need must be between 1 and %d, not %d", MaxProposalCandidates, in.CandidatesPerNeed)
	}
	unit, err := s.led.Unit(ctx, in.Unit)
	if errors.Is(err, ledger.ErrUnknownUnit) {
		return Proposal{}, &ledger.Error{Code: ledger.ENOTFOUND, Reason: ledger.ReasonUnknownUnit,
			Message: fmt.Sprintf("unknown unit %q", in.Unit), Field: "unit", Unit: in.Unit}
	} else if err != nil {
		return Proposal{}, err
	}
	if cfg.MaxKm <= 0 {
		cfg = matching.DefaultConfig()
	}
	if cfg.Related == nil {
		if cfg.Related, err = s.RelatedCategories(ctx); err != nil {
			return Proposal{}, err
		}
	}

	viewer := ViewerOf(p)
	// One need more than asked for says whether any were left out.
	needs, err := s.openListings(ctx, p, ListingQuery{Viewer: viewer, Kind: Need, Orgs: subtree, City: in.City}, in.Unit, in.LimitNeeds+1)
	if err != nil {
		return Proposal{}, err
	}
	moreNeeds := len(needs) > in.LimitNeeds
	needs = needs[:min(len(needs), in.LimitNeeds)]
	offers, err := s.openListings(ctx, p, ListingQuery{Viewer: viewer, Kind: Offer}, in.Unit, maxProposalOffers)
	if err != nil {
		return Proposal{}, err
	}
	left, err := s.Remaining(ctx, append(append([]Listing{}, offers...), needs...))
	if err != nil {
		return Proposal{}, err
	}
	offerLeft, needLeft := left[:len(offers)], left[len(offers):]
	mOffers := make([]matching.Listing, len(offers))
	owners := make([]uuid.UUID, 0, len(needs)+len(offers))
	for i, o := range offers {
		mOffers[i] = ToMatchingLeft(o, offerLeft[i])
		owners = append(owners, o.Owner)
	}
	for _, n := range needs {
		owners = append(owners, n.Owner)
	}
	fair, err := s.Fairness(ctx, p, owners)
	if err != nil {
		return Proposal{}, err
	}
	var mNeeds []matching.Listing
	var needOf []int // position in needs of each of mNeeds
	var cands [][]matching.Candidate
	ix := matching.NewIndex(mOffers, cfg)
	asked := decimal.Zero
	for i, n := range needs {
		mn := ToMatchingLeft(n, needLeft[i])
		if mn.Quantity <= 0 { // nothing left to serve; matching would refuse it
			continue
		}
		asked = asked.Add(needLeft[i])
		mNeeds = append(mNeeds, mn)
		needOf = append(needOf, i)
		cands = append(cands, ix.Rank(mn, fair, in.CandidatesPerNeed))
	}
	pieces, total, greedyTotal, exact, err := proposePieces(mNeeds, mOffers, cands, !in.Whole)
	if err != nil {
		return Proposal{}, fmt.Errorf("proposing for organization %s: %w", in.OrgID, err)
	}
	names, err := s.ProposalNames(ctx, p, in.OrgID, owners)
	if err != nil {
		return Proposal{}, err
	}

	out := Proposal{OrgID: in.OrgID, Unit: in.Unit, Scale: unit.Scale, Pairs: []ProposedPair{}, Unassigned: []Listing{},
		UnassignedLeft: []decimal.Decimal{}, Asked: asked, Met: decimal.Zero, Total: total, GreedyTotal: greedyTotal,
		Exact: exact, Names: names, MoreNeeds: moreNeeds}
	served := make([]bool, len(mNeeds))
	for _, pc := range pieces {
		ni := needOf[pc.Need]
		need, offer := needs[ni], offers[pc.Offer]
		// The flow counts in hundredths, needs rounded up: never propose
		// more than is left of either, nor finer than the unit.
		q := decimal.New(pc.Quantity, -2)
		q = decimal.Min(q, needLeft[ni], offerLeft[pc.Offer]).Truncate(unit.Scale)
		if q.Sign() <= 0 {
			continue
		}
		served[pc.Need] = true
		out.Met = out.Met.Add(q)
		var b matching.Breakdown
		for _, c := range cands[pc.Need] {
			if c.Offer == pc.Offer {
				b = c.Score
				break
			}
		}
		mn, mo := mNeeds[pc.Need], mOffers[pc.Offer]
		out.Pairs = append(out.Pairs, ProposedPair{Need: need, Offer: offer, Quantity: q,
			NeedLeft: needLeft[ni], OfferLeft: offerLeft[pc.Offer], Score: b,
			Reasons:  matching.Reasons(mn, mo, b, fair, cfg),
			Received: fair.Received[need.Owner.String()], Asked: fair.Asked[offer.Owner.String()]})
	}
	if err := s.markWaiting(ctx, out.Pairs); err != nil {
		return Proposal{}, err
	}
	for i, ok := range served {
		if !ok {
			out.Unassigned = append(out.Unassigned, needs[needOf[i]])
			out.UnassignedLeft = append(out.UnassignedLeft, needLeft[needOf[i]])
		}
	}
	return out, nil
}

// markWaiting sets Waiting on the pairs that have a proposal waiting for
// its answers.
func (s *Store) markWaiting(ctx context.Context, pairs []ProposedPair) error {
	if len(pairs) == 0 {
		return nil
	}
	needs := make([]uuid.UUID, len(pairs))
	for i, pc := range pairs {
		needs[i] = pc.Need.ID
	}
	rows, err := s.db.Pool.Query(ctx, `
SELECT offer_id, need_id, id FROM agreements WHERE need_id = ANY($1) AND status = 'proposed' AND expires_at > $2
ORDER BY id`, needs, s.clock())
	if err != nil {
		return err
	}
	waiting := map[[2]uuid.UUID]uuid.UUID{}
	var offer, need, id uuid.UUID
	_, err = pgx.ForEachRow(rows, []any{&offer, &need, &id}, func() error {
		if _, ok := waiting[[2]uuid.UUID{offer, need}]; !ok {
			waiting[[2]uuid.UUID{offer, need}] = id
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := range pairs {
		pairs[i].Waiting = waiting[[2]uuid.UUID{pairs[i].Offer.ID, pairs[i].Need.ID}]
	}
	return nil
}

// proposePieces runs the split proposal, or the whole-cover one, and its
// greedy baseline, and returns the pieces with both totals as Σ score ×
// hours.
func proposePieces(needs, offers []matching.Listing, cands [][]matching.Candidate, split bool) (pieces []matching.Piece, total, greedy float64, exact bool, err error) {
	if split {
		best, err := matching.ProposeSplit(needs, offers, cands)
		if err != nil {
			return nil, 0, 0, false, err
		}
		g, err := matching.GreedySplit(needs, offers, cands)
		if err != nil {
			return nil, 0, 0, false, err
		}
		return best.Pieces, best.Total, g.Total, true, nil
	}
	best, err := matching.Propose(needs, offers, cands)
	if err != nil {
		return nil, 0, 0, false, err
	}
	g, err := matching.Greedy(needs, offers, cands)
	if err != nil {
		return nil, 0, 0, false, err
	}
	whole := func(as matching.Assignment) ([]matching.Piece, float64) {
		var ps []matching.Piece
		var sum float64
		for i, j := range as.Offer {
			if j < 0 {
				continue
			}
			for _, c := range cands[i] {
				if c.Offer == j {
					sum += c.Score.Total * float64(needs[i].Quantity) / 100
					break
				}
			}
			ps = append(ps, matching.Piece{Need: i, Offer: j, Quantity: needs[i].Quantity})
		}
		return ps, sum
	}
	pieces, total = whole(best)
	_, greedy = whole(g)
	return pieces, total, greedy, best.Exact, nil
}

// openListings pages through the open listings matching q in unit, up to
// limit of them.
func (s *Store) openListings(ctx context.Context, p Principal, q ListingQuery, unit string, limit int) ([]Listing, error) {
	var out []Listing
	page := Page{Limit: MaxLimit}
	for len(out) < limit {
		ls, next, err := s.SearchListings(ctx, p, q, page)
		if err != nil {
			return nil, err
		}
		for _, l := range ls {
			if l.Unit == unit && len(out) < limit {
				out = append(out, l)
			}
		}
		if next == uuid.Nil {
			break
		}
		page.After = next
	}
	return out, nil
}
