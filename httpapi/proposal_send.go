package httpapi

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
)

// sendPairRequest is one pair of a proposal to send: quantity of the offer
// for the need.
type sendPairRequest struct {
	OfferID  string        `json:"offer_id" validate:"required,uuid"`
	NeedID   string        `json:"need_id" validate:"required,uuid"`
	Quantity decimalString `json:"quantity" validate:"required,decimal"`
}

// sendProposalRequest sends the pairs of a matching proposal (as
// POST /v1/matching/proposals answered them, or fewer) as agreement
// proposals on behalf of org_id.
type sendProposalRequest struct {
	OrgID     string            `json:"org_id" validate:"required,uuid"`
	Pairs     []sendPairRequest `json:"pairs" validate:"required,min=1,max=2000,dive"`
	Message   string            `json:"message" validate:"max=2000,text"`
	ExpiresAt string            `json:"expires_at" validate:"omitempty,rfc3339"`
}

// sentJSON is the agreements a send proposed, in the order of its pairs.
type sentJSON struct {
	Agreements []agreementJSON `json:"agreements"`
}

// sendProposal proposes every pair as an agreement, recorded as proposed by
// the caller on behalf of the organization, all or none (exchange's
// SendProposal decides who may and checks what is left of each listing).
// Each party is notified and accepts with POST /v1/agreements/{id}/accept.
func (a *api) sendProposal(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req sendProposalRequest
	if err := a.decode(r, &req, false); err != nil {
		return err
	}
	in := exchange.ProposalSend{OrgID: uuid.MustParse(req.OrgID), Message: req.Message}
	for _, p := range req.Pairs {
		in.Pairs = append(in.Pairs, exchange.ProposalPair{
			OfferID: uuid.MustParse(p.OfferID), NeedID: uuid.MustParse(p.NeedID), Quantity: p.Quantity.value()})
	}
	if req.ExpiresAt != "" {
		t, _ := time.Parse(time.RFC3339Nano, req.ExpiresAt)
		in.ExpiresAt = &t
	}
	as, err := a.proposals.SendProposal(ctx, principal(r), in)
	if err != nil {
		return err
	}
	out := sentJSON{Agreements: make([]agreementJSON, len(as))}
	for i, g := range as {
		out.Agreements[i] = a.agreementJSON(ctx, g)
	}
	return writeJSON(w, http.StatusCreated, out)
}
