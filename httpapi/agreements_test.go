package httpapi_test

import (
	"testing"

	"github.com/google/uuid"
)

// postListing posts a listing over HTTP as a, in the time bank, and returns
// its id.
func (w *world) postListing(a actor, kind, title, quantity string) string {
	w.t.Helper()
	body := listingBody(w.timebank, kind, func(m map[string]any) {
		m["title"], m["quantity"], m["category"], m["visibility"] = title, quantity, "repairs", "public"
		delete(m, "urgency")
		delete(m, "window")
	})
	return w.must(w.call("POST", "/v1/listings", a.token, body), 201)["id"].(string)
}

func (w *world) listingStatus(id string) string {
	w.t.Helper()
	return w.must(w.call("GET", "/v1/listings/"+id, w.admin.token, nil), 200)["status"].(string)
}

// wantBalance checks an account's posted and available balances over HTTP.
func (w *world) wantBalance(what, account, posted, available string) {
	w.t.Helper()
	if p, a := w.balance(account); p != posted || a != available {
		w.t.Errorf("%s: posted %s available %s, want %s and %s", what, p, a, posted, available)
	}
}

// TestAgreementEndToEnd: Ana needs her sink fixed, Ben offers repairs. She
// finds his offer among her need's matches, proposes an agreement, he
// accepts (her hours are held), both confirm an hour and a half, and the
// hours move from her to him.
func TestAgreementEndToEnd(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	offer := w.postListing(w.ben, "offer", "Plumbing and small repairs", "3.00")
	need := w.postListing(w.ana, "need", "Leaking kitchen sink", "2.00")

	matches := w.must(w.call("GET", "/v1/listings/"+need+"/matches", w.ana.token, nil), 200)["items"].([]any)
	found := false
	for _, m := range matches {
		found = found || m.(map[string]any)["listing"].(map[string]any)["id"] == offer
	}
	if !found {
		t.Fatalf("Ben's offer is not among the need's matches: %v", matches)
	}

	propose := map[string]any{"offer_id": offer, "need_id": need, "message": "Could you come on Saturday?"}
	r := w.call("POST", "/v1/agreements", w.ana.token, propose, "Idempotency-Key", "sink-1")
	g := w.must(r, 201)
	id := g["id"].(string)
	if g["status"] != "proposed" || g["quantity"] != "2.00" || g["receiver_account"] != w.anaHours || g["giver_account"] != nil || g["hold_id"] != nil {
		t.Fatalf("proposal = %v", g)
	}
	if again := w.must(w.call("POST", "/v1/agreements", w.ana.token, propose, "Idempotency-Key", "sink-1"), 201); again["id"] != id {
		t.Errorf("a retried proposal made %v, want %s", again["id"], id)
	}
	w.wantBalance("Ana's hours after the proposal", w.anaHours, "0.00", "0.00")

	// Ben is told, and he alone may accept.
	ns := w.must(w.call("GET", "/v1/me/notifications?unread=true", w.ben.token, nil), 200)["items"].([]any)
	if len(ns) != 1 || ns[0].(map[string]any)["kind"] != "agreement_proposed" || ns[0].(map[string]any)["agreement_id"] != id {
		t.Fatalf("Ben's notifications = %v", ns)
	}
	w.problem(w.call("POST", "/v1/agreements/"+id+"/accept", w.ana.token, nil), 403, "forbidden")
	w.problem(w.call("POST", "/v1/agreements/"+id+"/accept", w.cam.token, nil), 404, "not-found")
	w.problem(w.call("GET", "/v1/agreements/"+id, w.cam.token, nil), 404, "not-found")
	w.must(w.call("GET", "/v1/agreements/"+id, w.coordTB.token, nil), 200)

	g = w.must(w.call("POST", "/v1/agreements/"+id+"/accept", w.ben.token, nil), 200)
	if g["status"] != "accepted" || g["hold_id"] == nil || g["giver_account"] != w.benHours {
		t.Fatalf("accepted = %v", g)
	}
	w.wantBalance("Ana's hours once accepted", w.anaHours, "0.00", "-2.00")
	hold := w.must(w.call("GET", "/v1/transfers/"+g["hold_id"].(string), w.ana.token, nil), 200)
	if hold["state"] != "pending" {
		t.Errorf("hold = %v", hold)
	}
	if st := w.listingStatus(need); st != "matched" {
		t.Errorf("need is %s once accepted, want matched", st)
	}

	// Both confirm what was actually given.
	w.problem(w.call("POST", "/v1/agreements/"+id+"/confirm", w.ana.token, map[string]any{"quantity": 1.5}), 422, "validation-failed")
	w.problem(w.call("POST", "/v1/agreements/"+id+"/confirm", w.ana.token, map[string]any{"quantity": "2.5"}), 422, "invalid-request")
	g = w.must(w.call("POST", "/v1/agreements/"+id+"/confirm", w.ana.token, map[string]any{"quantity": "1.5"}), 200)
	if g["status"] != "accepted" || g["receiver_confirmed"] != "1.50" || g["giver_confirmed"] != nil {
		t.Fatalf("after Ana's confirmation: %v", g)
	}
	g = w.must(w.call("POST", "/v1/agreements/"+id+"/confirm", w.ben.token, map[string]any{"quantity": "1.50"}), 200)
	if g["status"] != "completed" || g["transfer_id"] == nil || g["completed_at"] == nil {
		t.Fatalf("after Ben's confirmation: %v", g)
	}
	w.wantBalance("Ana's hours once completed", w.anaHours, "-1.50", "-1.50")
	w.wantBalance("Ben's hours once completed", w.benHours, "1.50", "1.50")
	moved := w.must(w.call("GET", "/v1/transfers/"+g["transfer_id"].(string), w.ben.token, nil), 200)
	if moved["state"] != "posted" || moved["pending_id"] != g["hold_id"] {
		t.Errorf("the posting transfer = %v", moved)
	}
	// Given 1.5 of the 2 h agreed, the need stays open for the half hour.
	if st := w.listingStatus(need); st != "open" {
		t.Errorf("need is %s once 1.5 of 2 h completed, want open for the rest", st)
	}
	if st := w.listingStatus(offer); st != "open" {
		t.Errorf("offer is %s with an hour and a half left, want open", st)
	}
	list := w.must(w.call("GET", "/v1/agreements?status=completed", w.ben.token, nil), 200)["items"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["id"] != id {
		t.Errorf("Ben's completed agreements = %v", list)
	}
	w.problem(w.call("POST", "/v1/agreements/"+id+"/cancel", w.ana.token, nil), 409, "agreement-state")
}

// TestAgreementCancelOverHTTP: a cancelled agreement releases its hold.
func TestAgreementCancelOverHTTP(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	offer := w.postListing(w.ben, "offer", "Rides to the market", "2.00")
	need := w.postListing(w.ana, "need", "A ride on Thursday", "2.00")
	id := w.must(w.call("POST", "/v1/agreements", w.ben.token, map[string]any{"offer_id": offer, "need_id": need}), 201)["id"].(string)
	g := w.must(w.call("POST", "/v1/agreements/"+id+"/accept", w.ana.token, map[string]any{"account_id": w.anaHours}), 200)
	w.wantBalance("Ana's hours once accepted", w.anaHours, "0.00", "-2.00")
	if w.listingStatus(offer) != "matched" {
		t.Errorf("offer not matched once accepted")
	}
	c := w.must(w.call("POST", "/v1/agreements/"+id+"/cancel", w.ana.token, map[string]any{"reason": "found a neighbor with a car"}), 200)
	if c["status"] != "cancelled" || c["reason"] != "found a neighbor with a car" || c["closed_by"] != w.ana.id.String() {
		t.Fatalf("cancelled = %v", c)
	}
	w.wantBalance("Ana's hours once cancelled", w.anaHours, "0.00", "0.00")
	hold := w.must(w.call("GET", "/v1/transfers/"+g["hold_id"].(string), w.ana.token, nil), 200)
	if hold["state"] != "voided" {
		t.Errorf("hold is %v once cancelled, want voided", hold["state"])
	}
	if w.listingStatus(offer) != "open" || w.listingStatus(need) != "open" {
		t.Errorf("listings did not reopen")
	}
	w.problem(w.call("POST", "/v1/agreements/"+id+"/accept", w.ana.token, nil), 409, "agreement-state")
}

// TestAgreementDisputeOverHTTP: a dispute keeps the hold and reaches the
// time bank's coordinator, who resolves it.
func TestAgreementDisputeOverHTTP(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	offer := w.postListing(w.ben, "offer", "Garden work", "3.00")
	need := w.postListing(w.ana, "need", "Clear the back garden", "3.00")
	id := w.must(w.call("POST", "/v1/agreements", w.ben.token, map[string]any{"offer_id": offer, "need_id": need}), 201)["id"].(string)
	w.must(w.call("POST", "/v1/agreements/"+id+"/accept", w.ana.token, nil), 200)
	w.problem(w.call("POST", "/v1/agreements/"+id+"/dispute", w.ana.token, map[string]any{}), 422, "validation-failed")
	d := w.must(w.call("POST", "/v1/agreements/"+id+"/dispute", w.ana.token, map[string]any{"reason": "only one hour of work was done"}), 200)
	if d["status"] != "disputed" || d["disputed_by"] != w.ana.id.String() {
		t.Fatalf("disputed = %v", d)
	}
	w.wantBalance("Ana's hours while disputed", w.anaHours, "0.00", "-3.00")
	ns := w.must(w.call("GET", "/v1/me/notifications", w.coordTB.token, nil), 200)["items"].([]any)
	if len(ns) != 1 || ns[0].(map[string]any)["kind"] != "agreement_disputed" {
		t.Fatalf("coordinator's notifications = %v", ns)
	}
	disputes := w.must(w.call("GET", "/v1/agreements?status=disputed&org="+w.timebank.ID.String(), w.coordTB.token, nil), 200)["items"].([]any)
	if len(disputes) != 1 || disputes[0].(map[string]any)["id"] != id {
		t.Errorf("the time bank's disputed agreements = %v", disputes)
	}
	w.problem(w.call("GET", "/v1/agreements?org="+w.timebank.ID.String(), w.ben.token, nil), 403, "forbidden")
	w.problem(w.call("POST", "/v1/agreements/"+id+"/resolve", w.ana.token, map[string]any{"quantity": "1", "note": "mine"}), 403, "forbidden")
	w.problem(w.call("POST", "/v1/agreements/"+id+"/resolve", w.coordCoop.token, map[string]any{"quantity": "1", "note": "x"}), 404, "not-found")
	r := w.must(w.call("POST", "/v1/agreements/"+id+"/resolve", w.coordTB.token, map[string]any{"quantity": "1", "note": "both agree on one hour"}), 200)
	if r["status"] != "completed" || r["closed_by"] != w.coordTB.id.String() {
		t.Fatalf("resolved = %v", r)
	}
	w.wantBalance("Ana's hours once resolved", w.anaHours, "-1.00", "-1.00")
	w.wantBalance("Ben's hours once resolved", w.benHours, "1.00", "1.00")
	read := w.must(w.call("POST", "/v1/me/notifications/read", w.coordTB.token, map[string]any{"up_to": ns[0].(map[string]any)["id"]}), 200)
	if read["marked"] != float64(1) {
		t.Errorf("marked = %v", read)
	}
}

// TestAgreementValidation: bad requests are problems and change nothing.
func TestAgreementValidation(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	offer := w.postListing(w.ben, "offer", "Tutoring", "2.00")
	need := w.postListing(w.ana, "need", "Maths homework", "2.00")
	for _, c := range []struct {
		body       map[string]any
		typ, field string
	}{
		{map[string]any{"need_id": need}, "validation-failed", "offer_id"},
		{map[string]any{"offer_id": "x", "need_id": need}, "validation-failed", "offer_id"},
		{map[string]any{"offer_id": offer, "need_id": need, "quantity": "-1"}, "validation-failed", "quantity"},
		{map[string]any{"offer_id": offer, "need_id": need, "quantity": "1.005"}, "too-many-decimals", "quantity"},
		{map[string]any{"offer_id": offer, "need_id": need, "expires_at": "tomorrow"}, "validation-failed", "expires_at"},
	} {
		p := w.problem(w.call("POST", "/v1/agreements", w.ana.token, c.body), 422, c.typ)
		if !hasField(p, c.field) {
			t.Errorf("%v: problem %+v does not name %s", c.body, p, c.field)
		}
	}
	p := w.problem(w.call("POST", "/v1/agreements", w.ana.token, map[string]any{"offer_id": offer, "need_id": need, "color": "red"}), 400, "malformed-request")
	if !hasField(p, "color") {
		t.Errorf("an unknown field's problem %+v does not name it", p)
	}
	w.problem(w.call("POST", "/v1/agreements", w.ana.token, map[string]any{"offer_id": offer, "need_id": need, "quantity": "3"}), 409, "no-capacity")
	w.problem(w.call("POST", "/v1/agreements", w.cam.token, map[string]any{"offer_id": offer, "need_id": need}), 403, "forbidden")
	w.problem(w.call("GET", "/v1/agreements/not-an-id", w.ana.token, nil), 404, "not-found")
	w.problem(w.call("GET", "/v1/agreements?status=maybe", w.ana.token, nil), 422, "invalid-request")
	if items := w.must(w.call("GET", "/v1/agreements", w.ana.token, nil), 200)["items"].([]any); len(items) != 0 {
		t.Errorf("refused proposals left %d agreements", len(items))
	}
}

// TestManagedTransfersAreNotChangedByHand: the hold of an accepted
// agreement is posted and voided only through the agreement, and a fund's
// account takes no plain transfer, so that neither the agreement nor the
// fund's book can be left saying something the ledger does not.
func TestManagedTransfersAreNotChangedByHand(t *testing.T) {
	t.Parallel()
	w := newFundWorld(t)
	offer := w.postListing(w.ben, "offer", "Painting", "2.00")
	need := w.postListing(w.ana, "need", "Paint the fence", "2.00")
	id := w.must(w.call("POST", "/v1/agreements", w.ben.token, map[string]any{"offer_id": offer, "need_id": need}), 201)["id"].(string)
	hold := w.must(w.call("POST", "/v1/agreements/"+id+"/accept", w.ana.token, nil), 200)["hold_id"].(string)
	w.problem(w.call("POST", "/v1/transfers/"+hold+"/post", w.ana.token, nil), 409, "managed-transfer")
	w.problem(w.call("POST", "/v1/transfers/"+hold+"/void", w.ana.token, nil), 409, "managed-transfer")
	w.problem(w.call("POST", "/v1/transfers/"+hold+"/void", w.admin.token, nil), 409, "managed-transfer")
	if g := w.must(w.call("GET", "/v1/agreements/"+id, w.ana.token, nil), 200); g["status"] != "accepted" {
		t.Errorf("agreement is %v after the refused changes", g["status"])
	}
	w.wantBalance("Ana's hours", w.anaHours, "0.00", "-2.00")

	// Into or out of the fund's account, a plain transfer is refused, even
	// for the admin; the fund's book and its balance stay equal.
	gift := w.must(w.call("POST", w.path("/contributions"), w.admin.token, map[string]any{"source": "A neighbor", "amount": "10.00"}), 201)
	// The fund's movement is not reversed by hand either, even by the admin.
	w.problem(w.call("POST", "/v1/transfers/"+gift["transfer_id"].(string)+"/reverse", w.admin.token, nil), 409, "managed-transfer")
	p := w.problem(w.transfer(w.coordCoop.token, "", posting(w.coopUSD, w.fundAccount, "5.00", "USD")), 422, "validation-failed")
	if !hasField(p, "postings[0].to") {
		t.Errorf("problem %+v does not name postings[0].to", p)
	}
	w.problem(w.transfer(w.admin.token, "", posting(w.fundAccount, w.coopUSD, "5.00", "USD")), 422, "validation-failed")
	if r := w.report(""); r["reconciled"] != true {
		t.Errorf("the fund's report is not reconciled after refused plain transfers: %v", r)
	}
}

// TestMetadataDoesNotMakeATransferManaged: whether a transfer belongs to an
// agreement, a trade or a fund is read from what they recorded, never from
// the metadata a client wrote. A member who labels her own hold with
// {"trade": ...}, {"agreement": ...} or {"fund": ...} may still post, void
// and reverse it as any other.
func TestMetadataDoesNotMakeATransferManaged(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	hold := func(meta map[string]any) string {
		t.Helper()
		return w.must(w.call("POST", "/v1/transfers", w.ana.token, map[string]any{
			"postings": []any{posting(w.anaHours, w.benHours, "1", "HOUR")}, "pending": true, "metadata": meta}), 201)["id"].(string)
	}
	fake := uuid.NewString()
	posted := w.must(w.call("POST", "/v1/transfers/"+hold(map[string]any{"trade": "x"})+"/post", w.ana.token, nil), 201)
	if posted["state"] != "posted" {
		t.Errorf("posting a hold labelled as a trade's: %v", posted)
	}
	if v := w.must(w.call("POST", "/v1/transfers/"+hold(map[string]any{"agreement": fake})+"/void", w.ana.token, nil), 200); v["state"] != "voided" {
		t.Errorf("voiding a hold labelled as an agreement's: %v", v)
	}
	labelled := w.must(w.call("POST", "/v1/transfers", w.ana.token, map[string]any{
		"postings": []any{posting(w.anaHours, w.benHours, "2", "HOUR")}, "metadata": map[string]any{"fund": fake}}), 201)["id"].(string)
	// Reversing moves the value back out of Ben's account: Ben may.
	w.must(w.call("POST", "/v1/transfers/"+labelled+"/reverse", w.ben.token, nil), 201)
	if p, _ := w.balance(w.anaHours); p != "-1.00" {
		t.Errorf("Ana's hours after a posted hour and a reversed transfer: %s, want -1.00", p)
	}
}
