package exchange_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/exchange/matching"
	"github.com/mutual-ledger/mutual/ledger"
)

// TestProposeSplitsAndExplains: Ana needs 3 h; Ben offers 2 h and Dan 1 h.
// The coordinator's proposal splits Ana's need across both offers, names
// the people, gives each pair its reasons, and says plainly that Dan's
// gardening need has no offer; a need of another organization is not
// hers to assign. A member may not ask, nor may anyone ask in an unknown
// unit or beyond the bounds; whole cover serves each need by one offer at
// most.
func TestProposeSplitsAndExplains(t *testing.T) {
	t.Parallel()
	w := newAgreementWorld(t)
	ctx := context.Background()
	offerBen := w.listing(t, w.ben, exchange.Offer, "2")
	offerDan := w.listing(t, w.dan, exchange.Offer, "1")
	needAna := w.listing(t, w.ana, exchange.Need, "3")
	garden := w.need()
	garden.Owner, garden.Title, garden.Category, garden.Quantity = w.dan.ID, "Weed the garden", "gardening", dec("2")
	needDan := w.post(t, garden)
	cleoNeed := w.need()
	cleoNeed.OrgID, cleoNeed.Owner, cleoNeed.Place = w.montreal.ID, w.cleo.ID, montrealCenter
	w.post(t, cleoNeed)

	pr, err := w.ex.Propose(ctx, w.pTess, exchange.ProposalRequest{OrgID: w.oaxaca.ID}, matching.Config{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, pc := range pr.Pairs {
		if pc.Need.ID != needAna.ID {
			t.Errorf("a pair for need %q, want only Ana's", pc.Need.Title)
		}
		got[pc.Offer.ID.String()] = pc.Quantity.StringFixed(2)
		if !pc.NeedLeft.Equal(dec("3")) {
			t.Errorf("need left %s, want 3", pc.NeedLeft)
		}
		var codes []string
		for _, r := range pc.Reasons {
			codes = append(codes, r.Code)
		}
		want := []string{matching.ReasonCategoryExact, matching.ReasonDistance, matching.ReasonTimeAny, matching.ReasonUrgency, matching.ReasonFairnessNew}
		if len(codes) != len(want) {
			t.Errorf("reasons %v, want %v", codes, want)
		} else {
			for i := range want {
				if codes[i] != want[i] {
					t.Errorf("reasons %v, want %v", codes, want)
					break
				}
			}
		}
	}
	if len(pr.Pairs) != 2 || got[offerBen.ID.String()] != "2.00" || got[offerDan.ID.String()] != "1.00" {
		t.Fatalf("pairs %v, want Ben's 2 h and Dan's 1 h for Ana", got)
	}
	if pr.Met.StringFixed(2) != "3.00" || pr.Asked.StringFixed(2) != "5.00" || pr.Unit != "HOUR" || pr.Scale != 2 {
		t.Errorf("met %s of %s %s (scale %d), want 3.00 of 5.00 HOUR (2)", pr.Met, pr.Asked, pr.Unit, pr.Scale)
	}
	if len(pr.Unassigned) != 1 || pr.Unassigned[0].ID != needDan.ID || !pr.UnassignedLeft[0].Equal(dec("2")) {
		t.Errorf("unassigned %v, want Dan's gardening need with 2 h", pr.Unassigned)
	}
	for id, name := range map[string]string{w.ana.ID.String(): "Ana", w.ben.ID.String(): "Ben", w.dan.ID.String(): "Dan"} {
		found := false
		for m, n := range pr.Names {
			if m.String() == id && n == name {
				found = true
			}
		}
		if !found {
			t.Errorf("names %v lack %s", pr.Names, name)
		}
	}

	// The proposal is the one SendProposal takes: send it, all of it.
	send := exchange.ProposalSend{OrgID: w.oaxaca.ID}
	for _, pc := range pr.Pairs {
		send.Pairs = append(send.Pairs, exchange.ProposalPair{OfferID: pc.Offer.ID, NeedID: pc.Need.ID, Quantity: pc.Quantity})
	}
	for _, pc := range pr.Pairs {
		if pc.Waiting != uuid.Nil {
			t.Errorf("a pair never sent waits for %s", pc.Waiting)
		}
	}
	sent, err := w.ex.SendProposal(ctx, w.pTess, send)
	if err != nil {
		t.Fatalf("sending the proposal: %v", err)
	}
	// Sent again, it is refused naming the pair: nothing is written.
	_, err = w.ex.SendProposal(ctx, w.pTess, send)
	var dup *ledger.Error
	if !errors.Is(err, exchange.ErrAlreadyProposed) || !errors.As(err, &dup) || dup.Field != "pairs[0]" {
		t.Fatalf("sending twice: %v, want already proposed at pairs[0]", err)
	}
	if as, _, err := w.ex.Agreements(ctx, w.pTess, exchange.AgreementFilter{Org: w.oaxaca.ID}, exchange.Page{Limit: 100}); err != nil || len(as) != len(sent) {
		t.Fatalf("%d agreements after sending twice (%v), want %d", len(as), err, len(sent))
	}
	// Proposed, the pairs take nothing until accepted: the proposal is the
	// same, each pair marked with the proposal that waits for answers.
	again, err := w.ex.Propose(ctx, w.pTess, exchange.ProposalRequest{OrgID: w.oaxaca.ID}, matching.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Pairs) != len(sent) {
		t.Fatalf("%d pairs after sending %d", len(again.Pairs), len(sent))
	}
	for _, pc := range again.Pairs {
		found := false
		for _, a := range sent {
			found = found || (a.ID == pc.Waiting && a.OfferID == pc.Offer.ID && a.NeedID == pc.Need.ID)
		}
		if !found {
			t.Errorf("pair %q for %q waits for %s, not the proposal sent", pc.Offer.Title, pc.Need.Title, pc.Waiting)
		}
	}

	whole, err := w.ex.Propose(ctx, w.pTess, exchange.ProposalRequest{OrgID: w.oaxaca.ID, Whole: true}, matching.Config{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, pc := range whole.Pairs {
		if seen[pc.Need.ID.String()] {
			t.Errorf("whole cover serves need %q twice", pc.Need.Title)
		}
		seen[pc.Need.ID.String()] = true
	}

	if pr.MoreNeeds {
		t.Error("MoreNeeds with every open need in the proposal")
	}
	// A limit below the open needs serves the oldest and says more wait.
	first, err := w.ex.Propose(ctx, w.pTess, exchange.ProposalRequest{OrgID: w.oaxaca.ID, LimitNeeds: 1}, matching.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if !first.MoreNeeds {
		t.Error("LimitNeeds 1 of 2 open needs: MoreNeeds false, want true")
	}
	for _, pc := range first.Pairs {
		if pc.Need.ID != needAna.ID {
			t.Errorf("LimitNeeds 1 proposes for %q, want only the oldest need (Ana's)", pc.Need.Title)
		}
	}
	for _, n := range first.Unassigned {
		if n.ID != needAna.ID {
			t.Errorf("LimitNeeds 1 lists %q as unmatched, want only the oldest need", n.Title)
		}
	}
	if two, err := w.ex.Propose(ctx, w.pTess, exchange.ProposalRequest{OrgID: w.oaxaca.ID, LimitNeeds: 2}, matching.Config{}); err != nil {
		t.Fatal(err)
	} else if two.MoreNeeds {
		t.Error("LimitNeeds 2 of 2 open needs: MoreNeeds true, want false")
	}

	if _, err := w.ex.Propose(ctx, w.pAna, exchange.ProposalRequest{OrgID: w.oaxaca.ID}, matching.Config{}); !errors.Is(err, exchange.ErrForbidden) {
		t.Errorf("a member asking: %v, want forbidden", err)
	}
	if _, err := w.ex.Propose(ctx, w.pTess, exchange.ProposalRequest{OrgID: w.montreal.ID}, matching.Config{}); !errors.Is(err, exchange.ErrForbidden) {
		t.Errorf("another organization: %v, want forbidden", err)
	}
	_, err = w.ex.Propose(ctx, w.pTess, exchange.ProposalRequest{OrgID: w.oaxaca.ID, Unit: "EUR"}, matching.Config{})
	var le *ledger.Error
	if !errors.As(err, &le) || le.Code != ledger.ENOTFOUND || le.Field != "unit" {
		t.Errorf("unknown unit: %v, want not found naming unit", err)
	}
	for _, in := range []exchange.ProposalRequest{
		{OrgID: w.oaxaca.ID, LimitNeeds: -1}, {OrgID: w.oaxaca.ID, LimitNeeds: exchange.MaxProposalNeeds + 1},
		{OrgID: w.oaxaca.ID, CandidatesPerNeed: exchange.MaxProposalCandidates + 1},
	} {
		if _, err := w.ex.Propose(ctx, w.pTess, in, matching.Config{}); !errors.Is(err, ledger.ErrInvalidRequest) {
			t.Errorf("%+v: %v, want invalid", in, err)
		}
	}
}
