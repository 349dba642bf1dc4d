package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/exchange/matching"
	"github.com/mutual-ledger/mutual/ledger"
)

// proposalService reads what matching proposes over.
// *exchange.Store implements it; see its methods of the same names for
// the errors. Subtree decides who may propose for an organization.
type proposalService interface {
	Fairness(ctx context.Context, p exchange.Principal, members []uuid.UUID) (matching.Fairness, error)
	SearchListings(ctx context.Context, pr exchange.Principal, q exchange.ListingQuery, p exchange.Page) ([]exchange.Listing, uuid.UUID, error)
	Subtree(ctx context.Context, p exchange.Principal, orgID uuid.UUID) ([]uuid.UUID, error)
	Remaining(ctx context.Context, ls []exchange.Listing) ([]decimal.Decimal, error)
	ProposalNames(ctx context.Context, p exchange.Principal, orgID uuid.UUID, members []uuid.UUID) (map[uuid.UUID]string, error)
	SendProposal(ctx context.Context, p exchange.Principal, in exchange.ProposalSend) ([]exchange.Agreement, error)
}

// A proposal is a computation over open listings: it writes nothing, so it
// is registered as a read (a POST only because its input is a body) and
// takes no Idempotency-Key.
func (a *api) registerProposalRoutes(rt *router) {
	rt.read(http.MethodPost, "/v1/matching/proposals", a.proposeMatching)
	rt.write("/v1/matching/proposals/send", a.sendProposal)
}

// Bounds of POST /v1/matching/proposals.
const (
	defaultProposalNeeds = 10_000
	maxProposalNeeds     = 10_000
	defaultCandidates    = 20
	maxCandidates        = 50
	// maxProposalOffers bounds the offers read for one proposal, so a large
	// network cannot make one request read without end.
	maxProposalOffers = 50_000
)

// proposalRequest asks for an assignment of offers to the open needs in one
// unit of an organization and the organizations under it (a city's
// assembly and its groups), in one city if city is given. split (true
// unless false is given) lets a need be served by several offers and an
// offer serve several needs; false serves each need wholly by one offer.
type proposalRequest struct {
	OrgID             string `json:"org_id" validate:"required,uuid"`
	City              string `json:"city" validate:"max=200,line"`
	Unit              string `json:"unit" validate:"max=32,line"`
	LimitNeeds        *int   `json:"limit_needs" validate:"omitempty,min=1,max=10000"`
	CandidatesPerNeed *int   `json:"candidates_per_need" validate:"omitempty,min=1,max=50"`
	Split             *bool  `json:"split"`
}

// personJSON names a party of a proposed pair: name is null for someone
// outside the organization's subtree, whose name the coordinator may not
// read.
type personJSON struct {
	ID   uuid.UUID `json:"id"`
	Name *string   `json:"name"`
}

// assignmentJSON is one proposed pair, enough to act on: the two listings
// with their titles and people, what is left of each, the quantity this
// pair gives, and its score (per hour).
type assignmentJSON struct {
	Need       string     `json:"need"`
	Offer      string     `json:"offer"`
	NeedTitle  string     `json:"need_title"`
	OfferTitle string     `json:"offer_title"`
	Receiver   personJSON `json:"receiver"`
	Giver      personJSON `json:"giver"`
	Quantity   string     `json:"quantity"`
	Unit       string     `json:"unit"`
	NeedLeft   string     `json:"need_left"`
	OfferLeft  string     `json:"offer_left"`
	Score      scoreJSON  `json:"score"`
}

// proposalJSON is a proposed assignment, with greedy's total on the same
// candidates for comparison. Totals are Σ score × quantity.
type proposalJSON struct {
	Assignments      []assignmentJSON `json:"assignments"`
	UnassignedNeeds  []string         `json:"unassigned_needs"`
	QuantityAsked    string           `json:"quantity_asked"`
	QuantityMet      string           `json:"quantity_met"`
	TotalScore       float64          `json:"total_score"`
	GreedyTotalScore float64          `json:"greedy_total_score"`
	Exact            bool             `json:"exact"`
}

// proposeMatching proposes, for the open needs of an organization the caller
// acts for and of those under it, in city if given (403 otherwise, 404 for
// an unknown organization), an assignment of the open offers the caller may
// see in the same unit that maximizes Σ score × quantity, with what is left
// of each listing after its agreements as its quantity: by default a need
// may be split across offers and an offer across needs (exact, as a
// min-cost flow); with split false each need is served wholly by at most
// one offer. Each need's candidates are its candidates_per_need best
// offers. Nothing is written: a coordinator sends the pairs as agreement
// proposals with POST /v1/matching/proposals/send.
func (a *api) proposeMatching(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(r)
	var req proposalRequest
	if err := a.decode(r, &req, false); err != nil {
		return err
	}
	org := uuid.MustParse(req.OrgID)
	subtree, err := a.proposals.Subtree(ctx, p, org)
	if err != nil {
		return err
	}
	if req.Unit == "" {
		req.Unit = "HOUR"
	}
	unit, err := a.ledger.Unit(ctx, req.Unit)
	if errors.Is(err, ledger.ErrUnknownUnit) {
		return &ledger.Error{Code: ledger.ENOTFOUND, Reason: ledger.ReasonUnknownUnit,
			Message: fmt.Sprintf("unknown unit %q", req.Unit), Field: "unit", Unit: req.Unit}
	} else if err != nil {
		return err
	}
	limitNeeds, perNeed := defaultProposalNeeds, defaultCandidates
	if req.LimitNeeds != nil {
		limitNeeds = *req.LimitNeeds
	}
	if req.CandidatesPerNeed != nil {
		perNeed = *req.CandidatesPerNeed
	}
	split := req.Split == nil || *req.Split

	viewer := exchange.ViewerOf(p)
	needs, err := a.openListings(ctx, p, exchange.ListingQuery{Viewer: viewer, Kind: exchange.Need, Orgs: subtree, City: req.City}, req.Unit, limitNeeds)
	if err != nil {
		return err
	}
	offers, err := a.openListings(ctx, p, exchange.ListingQuery{Viewer: viewer, Kind: exchange.Offer}, req.Unit, maxProposalOffers)
	if err != nil {
		return err
	}
	left, err := a.proposals.Remaining(ctx, append(append([]exchange.Listing{}, offers...), needs...))
	if err != nil {
		return err
	}
	offerLeft, needLeftAll := left[:len(offers)], left[len(offers):]
	mOffers := make([]matching.Listing, len(offers))
	owners := make([]uuid.UUID, 0, len(needs)+len(offers))
	for i, o := range offers {
		mOffers[i] = exchange.ToMatchingLeft(o, offerLeft[i])
		owners = append(owners, o.Owner)
	}
	for _, n := range needs {
		owners = append(owners, n.Owner)
	}
	fair, err := a.proposals.Fairness(ctx, p, owners)
	if err != nil {
		return err
	}
	var mNeeds []matching.Listing
	var needOf []int // position in needs of each of mNeeds
	var cands [][]matching.Candidate
	cfg, err := a.matchConfig(ctx) // with the taxonomy's relations
	if err != nil {
		return err
	}
	ix := matching.NewIndex(mOffers, cfg)
	asked := decimal.Zero
	for i, n := range needs {
		mn := exchange.ToMatchingLeft(n, needLeftAll[i])
		if mn.Quantity <= 0 { // nothing left to serve; Propose would refuse it
			continue
		}
		asked = asked.Add(needLeftAll[i])
		mNeeds = append(mNeeds, mn)
		needOf = append(needOf, i)
		cands = append(cands, ix.Rank(mn, fair, perNeed))
	}
	pieces, total, greedyTotal, exact, err := proposePieces(mNeeds, mOffers, cands, split)
	if err != nil {
		return fmt.Errorf("proposing for organization %s: %w", org, err)
	}
	names, err := a.proposals.ProposalNames(ctx, p, org, owners)
	if err != nil {
		return err
	}
	person := func(id uuid.UUID) personJSON {
		if n, ok := names[id]; ok {
			return personJSON{ID: id, Name: &n}
		}
		return personJSON{ID: id}
	}

	out := proposalJSON{Assignments: []assignmentJSON{}, UnassignedNeeds: []string{},
		TotalScore: total, GreedyTotalScore: greedyTotal, Exact: exact}
	met := decimal.Zero
	served := make([]bool, len(mNeeds))
	for _, pc := range pieces {
		ni := needOf[pc.Need]
		need, offer := needs[ni], offers[pc.Offer]
		// The flow counts in hundredths, needs rounded up: never propose
		// more than is left of either, nor finer than the unit.
		q := decimal.New(pc.Quantity, -2)
		q = decimal.Min(q, needLeftAll[ni], offerLeft[pc.Offer]).Truncate(unit.Scale)
		if q.Sign() <= 0 {
			continue
		}
		served[pc.Need] = true
		met = met.Add(q)
		var b matching.Breakdown
		for _, c := range cands[pc.Need] {
			if c.Offer == pc.Offer {
				b = c.Score
				break
			}
		}
		out.Assignments = append(out.Assignments, assignmentJSON{
			Need: need.ID.String(), Offer: offer.ID.String(), NeedTitle: need.Title, OfferTitle: offer.Title,
			Receiver: person(need.Owner), Giver: person(offer.Owner),
			Quantity: q.StringFixed(unit.Scale), Unit: req.Unit,
			NeedLeft: needLeftAll[ni].StringFixed(unit.Scale), OfferLeft: offerLeft[pc.Offer].StringFixed(unit.Scale),
			Score: scoreJSON{Total: b.Total, Category: b.Category, Distance: b.Distance, Overlap: b.Overlap,
				Urgency: b.Urgency, Fairness: b.Fairness, Km: b.Km}})
	}
	for i, ok := range served {
		if !ok {
			out.UnassignedNeeds = append(out.UnassignedNeeds, mNeeds[i].ID)
		}
	}
	out.QuantityAsked, out.QuantityMet = asked.StringFixed(unit.Scale), met.StringFixed(unit.Scale)
	return writeJSON(w, http.StatusOK, out)
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
func (a *api) openListings(ctx context.Context, p exchange.Principal, q exchange.ListingQuery, unit string, limit int) ([]exchange.Listing, error) {
	var out []exchange.Listing
	page := exchange.Page{Limit: exchange.MaxLimit}
	for len(out) < limit {
		ls, next, err := a.proposals.SearchListings(ctx, p, q, page)
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
