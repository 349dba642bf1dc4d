package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/exchange/matching"
)

// The coordinators' proposals page: an organization's open needs with the
// assignment matching proposes, and one action that sends its pairs as
// agreement proposals. The exchange computes the proposal (Propose) and
// sends it (SendProposal); both decide who may.

// proposalsService is what the proposals page asks of the exchange.
type proposalsService interface {
	Propose(ctx context.Context, p exchange.Principal, in exchange.ProposalRequest, cfg matching.Config) (exchange.Proposal, error)
	SendProposal(ctx context.Context, p exchange.Principal, in exchange.ProposalSend) ([]exchange.Agreement, error)
}

// proposalNeedsShown is how many open needs the page proposes for (the
// oldest first): enough for a week's matching in a neighborhood, few
// enough for a page a coordinator reads through, under 100 KB (a need
// with its offers weighs about 0.9 KB).
const proposalNeedsShown = 60

func (s *Server) registerProposalPages() {
	s.member("GET /coord/{org}/proposals", s.coordProposals)
	s.member("POST /coord/{org}/proposals", s.coordSendProposals)
	s.member("GET /coord/{org}/proposals/sent", s.coordProposalsSent)
}

// proposedOfferView is one offer proposed for a need, in words.
type proposedOfferView struct {
	Title, Giver, Amount string
	// Partial says what part of the need this offer covers, "" when it
	// covers all that is left of it.
	Partial string
	Why     string
	// Waiting: a proposal of this pair waits for its answers already; the
	// form does not send it again.
	Waiting bool
}

// proposedNeedView is an open need and the offers proposed for it.
type proposedNeedView struct {
	Title, Receiver, Left string
	Offers                []proposedOfferView
}

// sentPair is one pair the form sends, exactly as shown.
type sentPair struct {
	OfferID, NeedID uuid.UUID
	Quantity        string
}

type proposalsData struct {
	Org       orgRef
	Served    []proposedNeedView
	Unmatched []proposedNeedView
	Pairs     []sentPair
	Asked     string
	Met       string
	// More, when not "", says that older needs filled the page and
	// newer ones wait for these.
	More string
}

// coordProposals shows the organization's open needs with the proposed
// assignment.
func (s *Server) coordProposals(w http.ResponseWriter, r *Request) error {
	return s.proposalsPage(w, r, http.StatusOK, NewForm(nil))
}

func (s *Server) proposalsPage(w http.ResponseWriter, r *Request, status int, f *Form) error {
	org, err := s.coordOrg(r)
	if err != nil {
		return err
	}
	pr, err := s.ex.Propose(r.Context(), *r.Principal, exchange.ProposalRequest{OrgID: org.ID, LimitNeeds: proposalNeedsShown}, s.matching)
	if err != nil {
		return err
	}
	// Quantities with the unit's places, as they are sent ("3.00").
	q := func(d decimal.Decimal) string {
		return amount(r.Lang, decimal.New(d.Shift(pr.Scale).IntPart(), -pr.Scale), pr.Unit)
	}
	d := proposalsData{Org: orgRef{org.ID, org.Name}, Asked: q(pr.Asked), Met: q(pr.Met)}
	if pr.MoreNeeds {
		d.More = r.Lang.T("coord.proposals_more", "Count", r.Lang.Int(proposalNeedsShown))
	}
	person := func(id uuid.UUID) string {
		if n, ok := pr.Names[id]; ok {
			return n
		}
		return r.Lang.T("listings.owner_neighbor")
	}
	byNeed := map[uuid.UUID]int{}
	for _, pc := range pr.Pairs {
		i, ok := byNeed[pc.Need.ID]
		if !ok {
			i = len(d.Served)
			byNeed[pc.Need.ID] = i
			d.Served = append(d.Served, proposedNeedView{Title: pc.Need.Title, Receiver: person(pc.Need.Owner),
				Left: q(pc.NeedLeft)})
		}
		v := proposedOfferView{Title: pc.Offer.Title, Giver: person(pc.Offer.Owner),
			Amount: q(pc.Quantity), Why: s.whyProposed(r, pc, person, pr.Unit)}
		if pc.Quantity.LessThan(pc.NeedLeft) {
			v.Partial = r.Lang.T("coord.proposals_partial", "Amount", v.Amount, "Left", d.Served[i].Left)
		}
		v.Waiting = pc.Waiting != uuid.Nil
		d.Served[i].Offers = append(d.Served[i].Offers, v)
		if !v.Waiting {
			d.Pairs = append(d.Pairs, sentPair{OfferID: pc.Offer.ID, NeedID: pc.Need.ID, Quantity: pc.Quantity.StringFixed(pr.Scale)})
		}
	}
	for i, n := range pr.Unassigned {
		d.Unmatched = append(d.Unmatched, proposedNeedView{Title: n.Title, Receiver: person(n.Owner),
			Left: q(pr.UnassignedLeft[i])})
	}
	return s.render(w, r, status, "coord_proposals", "coord.proposals_title", f, d)
}

// whyProposed says in words why a pair was proposed: the words of a
// listing's matches, and fairness for both people by name.
func (s *Server) whyProposed(r *Request, pc exchange.ProposedPair, person func(uuid.UUID) string, unit string) string {
	t := r.Lang.T
	parts := whyPair(r, pc.Need, pc.Offer, pc.Score)
	receiver, giver := person(pc.Need.Owner), person(pc.Offer.Owner)
	if pc.Received == 0 {
		parts = append(parts, t("coord.why.not_helped", "Name", receiver))
	} else {
		parts = append(parts, t("coord.why.helped", "Name", receiver, "Amount", amount(r.Lang, decimal.New(pc.Received, -2), unit)))
	}
	if pc.Asked == 0 {
		parts = append(parts, t("coord.why.not_asked", "Name", giver))
	} else {
		parts = append(parts, t("coord.why.asked", "Name", giver, "Amount", amount(r.Lang, decimal.New(pc.Asked, -2), unit)))
	}
	return strings.Join(parts, " · ")
}

// coordSendProposals sends the pairs the page showed (carried in the form)
// as agreement proposals, all or none. The exchange checks again what is
// left of each listing: when something changed since the page was shown,
// the page is shown again, computed anew, saying why nothing was sent.
func (s *Server) coordSendProposals(w http.ResponseWriter, r *Request) error {
	f := NewForm(r.Request)
	org, err := s.coordOrg(r)
	if err != nil {
		return err
	}
	offers, needs, qs := f.Values["offer"], f.Values["need"], f.Values["quantity"]
	in := exchange.ProposalSend{OrgID: org.ID}
	ok := len(offers) > 0 && len(offers) == len(needs) && len(offers) == len(qs)
	for i := 0; ok && i < len(offers); i++ {
		o, err1 := uuid.Parse(offers[i])
		n, err2 := uuid.Parse(needs[i])
		q, err3 := decimal.NewFromString(qs[i])
		if ok = err1 == nil && err2 == nil && err3 == nil; ok {
			in.Pairs = append(in.Pairs, exchange.ProposalPair{OfferID: o, NeedID: n, Quantity: q})
		}
	}
	if !ok {
		f.Refuse("", r.Lang.T("error.invalid"))
		return s.proposalsPage(w, r, http.StatusUnprocessableEntity, f)
	}
	sent, err := s.ex.SendProposal(r.Context(), *r.Principal, in)
	if err == nil {
		return s.redirect(w, r, "/coord/"+org.ID.String()+"/proposals/sent?n="+strconv.Itoa(len(sent)), "")
	}
	if errors.Is(err, exchange.ErrForbidden) || errors.Is(err, exchange.ErrUnknownOrg) {
		return err
	}
	if !r.refuseAbove(f, err) {
		return err
	}
	// The reason, then what became of the pairs (one message: a form
	// holds one refusal of the whole).
	f.Errors[""] += " " + r.Lang.T("coord.proposals_not_sent")
	return s.proposalsPage(w, r, http.StatusConflict, f)
}

type proposalsSentData struct {
	Org  orgRef
	Sent string
}

// coordProposalsSent says how many proposals were sent. The count comes
// from the redirect; the exchange still decides who may see the page.
func (s *Server) coordProposalsSent(w http.ResponseWriter, r *Request) error {
	org, err := s.coordOrg(r)
	if err != nil {
		return err
	}
	if _, err := s.ex.Subtree(r.Context(), *r.Principal, org.ID); err != nil {
		return err
	}
	n, err := strconv.Atoi(r.URL.Query().Get("n"))
	if err != nil || n < 1 || n > exchange.MaxSendPairs {
		return errNotFound
	}
	return s.render(w, r, http.StatusOK, "coord_proposals_sent", "coord.proposals_sent_title", nil,
		proposalsSentData{Org: orgRef{org.ID, org.Name}, Sent: r.Lang.N("coord.proposals_sent", n)})
}
