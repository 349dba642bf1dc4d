package httpapi_test

import (
	"fmt"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
)

// TestCapacityScenario: Ben offers 4 h of babysitting; a 3 h agreement with
// Ana completes. Eve then needs 3 h: the offer is matched and proposed for
// 1 h at most, proposing 3 h is refused with what is left, the coordinator
// sends the proposal's pair, both parties accept, and the hour is taken.
func TestCapacityScenario(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	offer := w.postListing(w.ben, "offer", "Babysitting evenings", "4.00")
	anaNeed := w.postListing(w.ana, "need", "Babysitter for Friday", "3.00")
	a := w.must(w.call("POST", "/v1/agreements", w.ben.token, map[string]any{"offer_id": offer, "need_id": anaNeed, "quantity": "3"}), 201)["id"].(string)
	w.must(w.call("POST", "/v1/agreements/"+a+"/accept", w.ana.token, nil), 200)
	w.must(w.call("POST", "/v1/agreements/"+a+"/confirm", w.ben.token, map[string]any{"quantity": "3"}), 200)
	done := w.must(w.call("POST", "/v1/agreements/"+a+"/confirm", w.ana.token, map[string]any{"quantity": "3"}), 200)
	if done["status"] != "completed" || done["completed_quantity"] != "3.00" {
		t.Fatalf("completed agreement = %v", done)
	}

	eve := w.member(w.timebank, exchange.RoleMember, "Eve")
	eveHours := w.account(memberOwner(eve), "HOUR", "member", "-20")
	eveNeed := w.postListing(eve, "need", "Babysitter on Saturday", "3.00")

	// Matches show the offer with the hour left, covering an hour.
	found := false
	for _, m := range w.must(w.call("GET", "/v1/listings/"+eveNeed+"/matches", eve.token, nil), 200)["items"].([]any) {
		m := m.(map[string]any)
		if m["listing"].(map[string]any)["id"] == offer {
			found = true
			if m["remaining"] != "1.00" || m["cover"] != "1.00" {
				t.Errorf("match of the offer: remaining %v cover %v, want 1.00 and 1.00", m["remaining"], m["cover"])
			}
		}
	}
	if !found {
		t.Fatal("the offer with an hour left is not among the need's matches")
	}

	// The proposal gives the offer's hour, no more.
	var p struct {
		Assignments []struct {
			Need, Offer, Quantity string
			NeedTitle             string `json:"need_title"`
			OfferTitle            string `json:"offer_title"`
			NeedLeft              string `json:"need_left"`
			OfferLeft             string `json:"offer_left"`
			Receiver, Giver       struct {
				ID   string
				Name *string
			}
		} `json:"assignments"`
		QuantityAsked string `json:"quantity_asked"`
		QuantityMet   string `json:"quantity_met"`
		Exact         bool   `json:"exact"`
	}
	r := w.call("POST", "/v1/matching/proposals", w.coordTB.token, map[string]any{"org_id": w.timebank.ID.String()})
	if r.status != 200 {
		t.Fatalf("proposal: %s", r)
	}
	r.decode(t, &p)
	fromOffer := decimal.Zero
	var pair map[string]any
	for _, as := range p.Assignments {
		if as.Offer == offer {
			fromOffer = fromOffer.Add(decimal.RequireFromString(as.Quantity))
			if as.Need == eveNeed {
				pair = map[string]any{"offer_id": as.Offer, "need_id": as.Need, "quantity": as.Quantity}
				if as.OfferTitle != "Babysitting evenings" || as.NeedTitle != "Babysitter on Saturday" ||
					as.Giver.Name == nil || *as.Giver.Name != "Ben" || as.Receiver.Name == nil || *as.Receiver.Name != "Eve" ||
					as.OfferLeft != "1.00" || as.NeedLeft != "3.00" {
					t.Errorf("pair %+v: want titles, people and what is left", as)
				}
			}
		}
	}
	if fromOffer.GreaterThan(decimal.NewFromInt(1)) || pair == nil || !p.Exact {
		t.Fatalf("the proposal takes %s h from an offer with 1 h left (pair for Eve: %v, exact %v): %s", fromOffer, pair, p.Exact, r.body)
	}

	// Proposing 3 h is refused, naming what is left; nothing is written.
	refused := w.call("POST", "/v1/agreements", w.ben.token, map[string]any{"offer_id": offer, "need_id": eveNeed, "quantity": "3"})
	prob := w.problem(refused, 409, "no-capacity")
	if prob.Available != "1.00" || prob.Requested != "3.00" {
		t.Errorf("refusal = %s, want available 1.00 and requested 3.00", refused.body)
	}

	// The coordinator sends the pair; both accept; the hour is held.
	sent := w.must(w.call("POST", "/v1/matching/proposals/send", w.coordTB.token,
		map[string]any{"org_id": w.timebank.ID.String(), "pairs": []any{pair}}, "Idempotency-Key", "send-1"), 201)
	g := sent["agreements"].([]any)[0].(map[string]any)
	if g["proposed_by"] != w.coordTB.id.String() || g["proposed_for"] != w.timebank.ID.String() || g["quantity"] != "1.00" {
		t.Fatalf("sent agreement = %v", g)
	}
	id := g["id"].(string)
	if again := w.must(w.call("POST", "/v1/matching/proposals/send", w.coordTB.token,
		map[string]any{"org_id": w.timebank.ID.String(), "pairs": []any{pair}}, "Idempotency-Key", "send-1"), 201); again["agreements"].([]any)[0].(map[string]any)["id"] != id {
		t.Error("a retried send proposed again")
	}
	if st := w.must(w.call("POST", "/v1/agreements/"+id+"/accept", eve.token, nil), 200)["status"]; st != "proposed" {
		t.Fatalf("after Eve's acceptance: %v, want proposed until Ben accepts", st)
	}
	if st := w.must(w.call("POST", "/v1/agreements/"+id+"/accept", w.ben.token, nil), 200)["status"]; st != "accepted" {
		t.Fatalf("after both acceptances: %v", st)
	}
	w.wantBalance("Eve's hours", eveHours, "0.00", "-1.00")
	// Sending more now finds nothing left.
	more := w.call("POST", "/v1/matching/proposals/send", w.coordTB.token,
		map[string]any{"org_id": w.timebank.ID.String(), "pairs": []any{map[string]any{"offer_id": offer, "need_id": eveNeed, "quantity": "0.5"}}})
	w.problem(more, 409, "no-capacity")
	// Eve's need stays open for the two hours nobody covers.
	if st := w.listingStatus(eveNeed); st != "open" {
		t.Errorf("Eve's need is %s, want open for the rest", st)
	}
}

// TestMismatchOverHTTP: confirmations of 3 and 2.5 reach both parties and
// the coordinator, who settles for 2.5.
func TestMismatchOverHTTP(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	offer := w.postListing(w.ben, "offer", "Babysitting", "3.00")
	need := w.postListing(w.ana, "need", "Babysitter", "3.00")
	id := w.must(w.call("POST", "/v1/agreements", w.ben.token, map[string]any{"offer_id": offer, "need_id": need}), 201)["id"].(string)
	w.must(w.call("POST", "/v1/agreements/"+id+"/accept", w.ana.token, nil), 200)
	w.must(w.call("POST", "/v1/agreements/"+id+"/confirm", w.ben.token, map[string]any{"quantity": "3"}), 200)
	w.must(w.call("POST", "/v1/agreements/"+id+"/confirm", w.ana.token, map[string]any{"quantity": "2.5"}), 200)
	for name, tk := range map[string]string{"Ana": w.ana.token, "Ben": w.ben.token, "Tess": w.coordTB.token} {
		told := false
		for _, n := range w.must(w.call("GET", "/v1/me/notifications", tk, nil), 200)["items"].([]any) {
			n := n.(map[string]any)
			if n["kind"] == "agreement_mismatch" && n["agreement_id"] == id {
				told = true
				// With the figures, for a client to say it in its language.
				ps, _ := n["params"].(map[string]any)
				same := func(k, want string) bool {
					got, err := decimal.NewFromString(fmt.Sprint(ps[k]))
					return err == nil && got.Equal(decimal.RequireFromString(want))
				}
				if !same("Giver", "3") || !same("Receiver", "2.5") || ps["Unit"] != "HOUR" {
					t.Errorf("%s's mismatch notice has params %v", name, n["params"])
				}
			}
		}
		if !told {
			t.Errorf("%s was not told the confirmations differ", name)
		}
	}
	g := w.must(w.call("POST", "/v1/agreements/"+id+"/resolve", w.coordTB.token, map[string]any{"quantity": "2.5", "note": "per the log"}), 200)
	if g["status"] != "completed" || g["completed_quantity"] != "2.50" {
		t.Fatalf("settled = %v", g)
	}
	w.wantBalance("Ben's hours", w.benHours, "2.50", "2.50")
	// The half hour goes back to both listings.
	if st := w.listingStatus(need); st != "open" {
		t.Errorf("need is %s, want open for the half hour", st)
	}
}

// TestProposalSplitsANeed: a 6 h need and two 3 h offers. Split (the
// default), the proposal serves the need from both offers; whole cover
// (split false) cannot serve it at all.
func TestProposalSplitsANeed(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	eve := w.member(w.timebank, exchange.RoleMember, "Eve")
	need := w.postListing(w.ana, "need", "Help moving house", "6.00")
	offers := map[string]bool{
		w.postListing(w.ben, "offer", "Strong arms, Saturday", "3.00"): true,
		w.postListing(eve, "offer", "Van and driver", "3.00"):          true,
	}
	type proposal struct {
		Assignments []struct {
			Need, Offer, Quantity string
		} `json:"assignments"`
		UnassignedNeeds []string `json:"unassigned_needs"`
		QuantityAsked   string   `json:"quantity_asked"`
		QuantityMet     string   `json:"quantity_met"`
		TotalScore      float64  `json:"total_score"`
		Exact           bool     `json:"exact"`
	}
	var split, whole proposal
	w.call("POST", "/v1/matching/proposals", w.coordTB.token, map[string]any{"org_id": w.timebank.ID.String()}).decode(t, &split)
	if len(split.Assignments) != 2 || split.QuantityAsked != "6.00" || split.QuantityMet != "6.00" || !split.Exact || len(split.UnassignedNeeds) != 0 {
		t.Fatalf("split proposal = %+v, want the need served 3 h by each offer", split)
	}
	for _, a := range split.Assignments {
		if a.Need != need || !offers[a.Offer] || a.Quantity != "3.00" {
			t.Errorf("pair %+v, want 3.00 of one of the offers for the need", a)
		}
	}
	w.call("POST", "/v1/matching/proposals", w.coordTB.token, map[string]any{"org_id": w.timebank.ID.String(), "split": false}).decode(t, &whole)
	if len(whole.Assignments) != 0 || whole.QuantityMet != "0.00" || len(whole.UnassignedNeeds) != 1 || whole.UnassignedNeeds[0] != need {
		t.Fatalf("whole-cover proposal = %+v, want the need unserved", whole)
	}
	// A 1 h offer is among the need's matches, covering its hour.
	fay := w.member(w.timebank, exchange.RoleMember, "Fay")
	small := w.postListing(fay, "offer", "An hour of packing", "1.00")
	found := false
	for _, m := range w.must(w.call("GET", "/v1/listings/"+need+"/matches", w.ana.token, nil), 200)["items"].([]any) {
		m := m.(map[string]any)
		if m["listing"].(map[string]any)["id"] == small {
			found = m["cover"] == "1.00"
		}
	}
	if !found {
		t.Error("the 1 h offer is not a match covering an hour of the 6 h need")
	}
	// Sent, the pairs wait for their answers, and the proposal computed
	// again names the proposal each waits for.
	var pairs []map[string]any
	for _, a := range split.Assignments {
		pairs = append(pairs, map[string]any{"offer_id": a.Offer, "need_id": a.Need, "quantity": a.Quantity})
	}
	sent := w.must(w.call("POST", "/v1/matching/proposals/send", w.coordTB.token,
		map[string]any{"org_id": w.timebank.ID.String(), "pairs": pairs}, "Idempotency-Key", "send-split"), 201)["agreements"].([]any)
	ids := map[string]string{}
	for _, a := range sent {
		a := a.(map[string]any)
		ids[a["offer_id"].(string)] = a["id"].(string)
	}
	var again struct {
		Assignments []struct {
			Offer            string
			WaitingAgreement string `json:"waiting_agreement"`
		} `json:"assignments"`
	}
	w.call("POST", "/v1/matching/proposals", w.coordTB.token, map[string]any{"org_id": w.timebank.ID.String()}).decode(t, &again)
	waiting := 0
	for _, a := range again.Assignments {
		if a.WaitingAgreement != "" {
			waiting++
			if ids[a.Offer] != a.WaitingAgreement {
				t.Errorf("offer %s waits for %s, want %s", a.Offer, a.WaitingAgreement, ids[a.Offer])
			}
		}
	}
	if waiting != 2 {
		t.Errorf("%d pairs wait for answers after sending 2: %+v", waiting, again.Assignments)
	}
	// Sending them again is refused naming the pair.
	dup := w.call("POST", "/v1/matching/proposals/send", w.coordTB.token,
		map[string]any{"org_id": w.timebank.ID.String(), "pairs": pairs}, "Idempotency-Key", "send-split-again")
	if prob := w.problem(dup, 409, "already-proposed"); len(prob.Errors) != 1 || prob.Errors[0].Field != "pairs[0]" {
		t.Errorf("sending twice: %s, want pairs[0] named", dup.body)
	}
}
