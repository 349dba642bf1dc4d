package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/exchange/matching"
	"github.com/mutual-ledger/mutual/ledger"
)

// proposalService reads what matching proposes over.
// *exchange.Store implements it; see its methods of the same names for
// the errors. Subtree decides who may propose for an organization.
type proposalService interface {
	Fairness(ctx context.Context, members []uuid.UUID) (matching.Fairness, error)
	SearchListings(ctx context.Context, q exchange.ListingQuery, p exchange.Page) ([]exchange.Listing, uuid.UUID, error)
	Subtree(ctx context.Context, p exchange.Principal, orgID uuid.UUID) ([]uuid.UUID, error)
}

// A proposal is a computation over open listings: it writes nothing, so it
// is registered as a read (a POST only because its input is a body) and
// takes no Idempotency-Key.
func (a *api) registerProposalRoutes(rt *router) {
	rt.read(http.MethodPost, "/v1/matching/proposals", a.proposeMatching)
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
// assembly and its groups), in one city if city is given.
type proposalRequest struct {
	OrgID             string `json:"org_id" validate:"required,uuid"`
	City              string `json:"city" validate:"max=200,line"`
	Unit              string `json:"unit" validate:"max=32,line"`
	LimitNeeds        *int   `json:"limit_needs" validate:"omitempty,min=1,max=10000"`
	CandidatesPerNeed *int   `json:"candidates_per_need" validate:"omitempty,min=1,max=50"`
}

// assignmentJSON is one proposed need→offer pair and its score.
type assignmentJSON struct {
	Need  string    `json:"need"`
	Offer string    `json:"offer"`
	Score scoreJSON `json:"score"`
}

// proposalJSON is a proposed assignment, with Greedy's total on the same
// candidates for comparison.
type proposalJSON struct {
	Assignments      []assignmentJSON `json:"assignments"`
	UnassignedNeeds  []string         `json:"unassigned_needs"`
	TotalScore       float64          `json:"total_score"`
	GreedyTotalScore float64          `json:"greedy_total_score"`
	Exact            bool             `json:"exact"`
}

// proposeMatching proposes, for the open needs of an organization the caller
// acts for and of those under it, in city if given (403 otherwise, 404 for
// an unknown organization), an assignment
// of the open offers the caller may see in the same unit that maximizes the
// total score, each need served wholly by at most one offer and no offer
// beyond its quantity. Each need's candidates are its candidates_per_need
// best offers. Nothing is written: a coordinator turns the proposal into
// agreements later.
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
	if _, err := a.ledger.Unit(ctx, req.Unit); errors.Is(err, ledger.ErrUnknownUnit) {
		return &ledger.Error{Code: ledger.ENOTFOUND, Reason: ledger.ReasonUnknownUnit,
			Message: fmt.Sprintf("unknown unit %q", req.Unit), Field: "unit", Unit: req.Unit, Index: -1}
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

	viewer := exchange.ViewerOf(p)
	needs, err := a.openListings(ctx, exchange.ListingQuery{Viewer: viewer, Kind: exchange.Need, Orgs: subtree, City: req.City}, req.Unit, limitNeeds)
	if err != nil {
		return err
	}
	offers, err := a.openListings(ctx, exchange.ListingQuery{Viewer: viewer, Kind: exchange.Offer}, req.Unit, maxProposalOffers)
	if err != nil {
		return err
	}
	mOffers := make([]matching.Listing, len(offers))
	owners := make([]uuid.UUID, 0, len(needs)+len(offers))
	for i, o := range offers {
		mOffers[i] = exchange.ToMatching(o)
		owners = append(owners, o.Owner)
	}
	for _, n := range needs {
		owners = append(owners, n.Owner)
	}
	fair, err := a.proposals.Fairness(ctx, owners)
	if err != nil {
		return err
	}
	var mNeeds []matching.Listing
	var cands [][]matching.Candidate
	cfg, err := a.matchConfig(ctx) // with the taxonomy's relations
	if err != nil {
		return err
	}
	ix := matching.NewIndex(mOffers, cfg)
	for _, n := range needs {
		mn := exchange.ToMatching(n)
		if mn.Quantity <= 0 { // nothing to serve; Propose would refuse it
			continue
		}
		mNeeds = append(mNeeds, mn)
		cands = append(cands, ix.Rank(mn, fair, perNeed))
	}
	best, err := matching.Propose(mNeeds, mOffers, cands)
	if err != nil {
		return fmt.Errorf("proposing for organization %s: %w", org, err)
	}
	greedy, err := matching.Greedy(mNeeds, mOffers, cands)
	if err != nil {
		return fmt.Errorf("greedy proposal for organization %s: %w", org, err)
	}

	out := proposalJSON{Assignments: []assignmentJSON{}, UnassignedNeeds: []string{},
		TotalScore: best.Total, GreedyTotalScore: greedy.Total, Exact: best.Exact}
	for i, j := range best.Offer {
		if j < 0 {
			out.UnassignedNeeds = append(out.UnassignedNeeds, mNeeds[i].ID)
			continue
		}
		var b matching.Breakdown
		for _, c := range cands[i] {
			if c.Offer == j {
				b = c.Score
				break
			}
		}
		out.Assignments = append(out.Assignments, assignmentJSON{Need: mNeeds[i].ID, Offer: mOffers[j].ID, Score: scoreJSON{
			Total: b.Total, Category: b.Category, Distance: b.Distance, Overlap: b.Overlap,
			Urgency: b.Urgency, Fairness: b.Fairness, Km: b.Km}})
	}
	return writeJSON(w, http.StatusOK, out)
}

// openListings pages through the open listings matching q in unit, up to
// limit of them.
func (a *api) openListings(ctx context.Context, q exchange.ListingQuery, unit string, limit int) ([]exchange.Listing, error) {
	var out []exchange.Listing
	page := exchange.Page{Limit: exchange.MaxLimit}
	for len(out) < limit {
		ls, next, err := a.proposals.SearchListings(ctx, q, page)
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
