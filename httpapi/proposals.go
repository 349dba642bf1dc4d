package httpapi

import (
	"context"
	"net/http"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/exchange/matching"
)

// proposalService proposes and sends matching proposals. *exchange.Store
// implements it; see its methods of the same names for the errors (they
// decide who may).
type proposalService interface {
	Propose(ctx context.Context, p exchange.Principal, in exchange.ProposalRequest, cfg matching.Config) (exchange.Proposal, error)
	SendProposal(ctx context.Context, p exchange.Principal, in exchange.ProposalSend) ([]exchange.Agreement, error)
}

// A proposal is a computation over open listings: it writes nothing, so it
// is registered as a read (a POST only because its input is a body) and
// takes no Idempotency-Key.
func (a *api) registerProposalRoutes(rt *router) {
	rt.read(http.MethodPost, "/v1/matching/proposals", a.proposeMatching)
	rt.write("/v1/matching/proposals/send", a.sendProposal)
}

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
// pair gives, its score (per hour) and the reasons of the score.
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
	// Reasons explain the score in codes and figures, as a match's do.
	Reasons []reasonJSON `json:"reasons"`
	// WaitingAgreement is a proposal of this pair that waits for its
	// answers, when there is one: sending the pair again would ask twice.
	WaitingAgreement *uuid.UUID `json:"waiting_agreement,omitempty"`
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
	var req proposalRequest
	if err := a.decode(r, &req, false); err != nil {
		return err
	}
	in := exchange.ProposalRequest{OrgID: uuid.MustParse(req.OrgID), City: req.City, Unit: req.Unit,
		Whole: req.Split != nil && !*req.Split}
	if req.LimitNeeds != nil {
		in.LimitNeeds = *req.LimitNeeds
	}
	if req.CandidatesPerNeed != nil {
		in.CandidatesPerNeed = *req.CandidatesPerNeed
	}
	pr, err := a.proposals.Propose(r.Context(), principal(r), in, a.matching)
	if err != nil {
		return err
	}
	person := func(id uuid.UUID) personJSON {
		if n, ok := pr.Names[id]; ok {
			return personJSON{ID: id, Name: &n}
		}
		return personJSON{ID: id}
	}
	out := proposalJSON{Assignments: make([]assignmentJSON, len(pr.Pairs)), UnassignedNeeds: make([]string, len(pr.Unassigned)),
		QuantityAsked: pr.Asked.StringFixed(pr.Scale), QuantityMet: pr.Met.StringFixed(pr.Scale),
		TotalScore: pr.Total, GreedyTotalScore: pr.GreedyTotal, Exact: pr.Exact}
	for i, pc := range pr.Pairs {
		b := pc.Score
		out.Assignments[i] = assignmentJSON{
			Need: pc.Need.ID.String(), Offer: pc.Offer.ID.String(), NeedTitle: pc.Need.Title, OfferTitle: pc.Offer.Title,
			Receiver: person(pc.Need.Owner), Giver: person(pc.Offer.Owner),
			Quantity: pc.Quantity.StringFixed(pr.Scale), Unit: pr.Unit,
			NeedLeft: pc.NeedLeft.StringFixed(pr.Scale), OfferLeft: pc.OfferLeft.StringFixed(pr.Scale),
			Score: scoreJSON{Total: b.Total, Category: b.Category, Distance: b.Distance, Overlap: b.Overlap,
				Urgency: b.Urgency, Fairness: b.Fairness, Km: b.Km},
			Reasons: toReasonsJSON(pc.Reasons)}
		if pc.Waiting != uuid.Nil {
			id := pc.Waiting
			out.Assignments[i].WaitingAgreement = &id
		}
	}
	for i, n := range pr.Unassigned {
		out.UnassignedNeeds[i] = n.ID.String()
	}
	return writeJSON(w, http.StatusOK, out)
}
