package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/internal/browsertest"
)

// proposalWorld is the coordinators' world with listings to match: Ana
// needs 3 h of bike repair, which Ben (2 h) and Dora (1 h) offer; Eli
// needs 2 h of Spanish, which Ana offers; Ben needs his garden weeded,
// which nobody offers.
type proposalWorld struct {
	*coordWorld
	dora, eli                    exchange.Principal
	needAna, offerBen, offerDora exchange.Listing
	needEli, offerAna, needBen   exchange.Listing
}

func newProposalWorld(t *testing.T) *proposalWorld {
	t.Helper()
	w := &proposalWorld{coordWorld: newCoordWorld(t)}
	w.dora, w.eli = w.principal(w.newMember(w.tb, "Dora")), w.principal(w.newMember(w.tb, "Eli"))
	post := func(p exchange.Principal, kind exchange.ListingKind, title, category, hours string, lat float64) exchange.Listing {
		l, err := w.ex.PostListing(context.Background(), p, exchange.NewListing{OrgID: w.tb.ID, Owner: p.MemberID, Kind: kind,
			Title: title, Description: title + ", near the market.", Category: category, Quantity: decimal.RequireFromString(hours),
			Place: exchange.Point{Lat: lat, Lon: -96.72}, City: "Oaxaca", Neighborhood: "Centro", Visibility: exchange.VisibilityOrg})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	w.needAna = post(w.pAna, exchange.Need, "Fix my bike", "repairs", "3", 17.070)
	w.offerBen = post(w.pBen, exchange.Offer, "Bike repair", "repairs", "2", 17.075)
	w.offerDora = post(w.dora, exchange.Offer, "Bicycle tune-up", "repairs", "1", 17.080)
	w.needEli = post(w.eli, exchange.Need, "Spanish lessons", "language", "2", 17.071)
	w.offerAna = post(w.pAna, exchange.Offer, "Spanish conversation", "language", "2", 17.070)
	w.needBen = post(w.pBen, exchange.Need, "Weed the garden", "gardening", "1", 17.075)
	return w
}

// TestCoordinatorSendsProposals: Carmen opens her time bank's proposed
// exchanges: Ana's need split between Ben's and Dora's offers (the part
// each covers said), Eli's need met by Ana's offer, each pair with its
// reasons in words, and Ben's garden said plainly to have no match. In
// between, Ben and Ana agree directly on Ben's two hours: sending is
// refused with why, and nothing is written. Shown again, the proposal has
// two pairs; she sends them, is told two were sent, and Dora and Eli see
// them waiting on their home pages. Every page passes axe-core.
func TestCoordinatorSendsProposals(t *testing.T) {
	w := newProposalWorld(t)
	ctx := context.Background()
	carmen := browser.User(t)
	w.signIn(carmen, w.carmen)
	open(t, carmen, w.srv.URL+"/coord/"+w.tb.ID.String())
	// The organization's navigation leads to the page.
	if got := submit(t, carmen, `nav.subnav a[href$="/proposals"]`); got != http.StatusOK {
		t.Fatalf("proposals page: %d", got)
	}
	wantH1(t, carmen, "en", "coord.proposals_heading", "Org", "Barrio Norte")
	body := text(t, carmen, "main")
	for _, want := range []string{
		msg(t, "en", "coord.proposals_need", "Title", "Fix my bike", "Name", "Ana"),
		msg(t, "en", "coord.proposals_offer", "Title", "Bike repair", "Name", "Ben", "Amount", "2.00 h"),
		msg(t, "en", "coord.proposals_offer", "Title", "Bicycle tune-up", "Name", "Dora", "Amount", "1.00 h"),
		msg(t, "en", "coord.proposals_partial", "Amount", "2.00 h", "Left", "3.00 h"),
		msg(t, "en", "coord.proposals_partial", "Amount", "1.00 h", "Left", "3.00 h"),
		msg(t, "en", "coord.proposals_offer", "Title", "Spanish conversation", "Name", "Ana", "Amount", "2.00 h"),
		msg(t, "en", "listings.why.same_category"),
		msg(t, "en", "listings.why.km", "Km", "0.6"), // Ben's offer, 0.6 km from Ana's need
		msg(t, "en", "coord.why.not_helped", "Name", "Ana"),
		msg(t, "en", "coord.why.not_asked", "Name", "Dora"),
		msg(t, "en", "coord.proposals_no_match", "Title", "Weed the garden", "Name", "Ben", "Amount", "1.00 h"),
		msg(t, "en", "coord.proposals_met", "Met", "5.00 h", "Asked", "6.00 h"),
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page does not say %q:\n%s", want, body)
		}
	}
	if got := text(t, carmen, "main form button"); got != "Send these 3 proposals" {
		t.Errorf("button %q", got)
	}
	browser.Axe(t, carmen)

	// Meanwhile Ana and Ben agree on Ben's two hours themselves.
	a, err := w.ex.ProposeAgreement(ctx, w.pBen, exchange.NewAgreement{OfferID: w.offerBen.ID, NeedID: w.needAna.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.ex.AcceptAgreement(ctx, w.pAna, a.ID, nil); err != nil {
		t.Fatal(err)
	}
	agreements := w.count("agreements")
	if got := submit(t, carmen, "main form button"); got != http.StatusConflict {
		t.Errorf("sending what was taken meanwhile: %d, want 409", got)
	}
	errs := text(t, carmen, ".errors")
	for _, want := range []string{msg(t, "en", "error.reason.no_capacity"), msg(t, "en", "coord.proposals_not_sent")} {
		if !strings.Contains(errs, want) {
			t.Errorf("the refusal does not say %q: %q", want, errs)
		}
	}
	if n := w.count("agreements"); n != agreements {
		t.Fatalf("a refused send wrote %d agreements", n-agreements)
	}
	browser.Axe(t, carmen)
	// The page shown again is the proposal anew: Dora's hour for what is
	// left of Ana's need, Ana's offer for Eli.
	if got := text(t, carmen, "main form button"); got != "Send these 2 proposals" {
		t.Fatalf("button after the refusal %q", got)
	}
	if body := text(t, carmen, "main"); strings.Contains(body, "Bike repair") {
		t.Errorf("Ben's offer, taken, is still proposed:\n%s", body)
	}
	if got := submit(t, carmen, "main form button"); got != http.StatusOK {
		t.Fatalf("sending: %d", got)
	}
	if loc := location(t, carmen); !strings.HasSuffix(loc, "/proposals/sent?n=2") {
		t.Errorf("after sending at %s", loc)
	}
	if got := text(t, carmen, `main [role="status"]`); got != "2 proposals were sent." {
		t.Errorf("status %q", got)
	}
	browser.Axe(t, carmen)
	if n := w.count("agreements"); n != agreements+2 {
		t.Fatalf("sent %d agreements, want 2", n-agreements)
	}
	// The same form sent again (a second click, the back button) is
	// refused in words, and writes nothing.
	again := url.Values{"offer": {w.offerDora.ID.String(), w.offerAna.ID.String()}, "need": {w.needAna.ID.String(), w.needEli.ID.String()},
		"quantity": {"1.00", "2.00"}}
	resp, body := post(t, w.signInByHTTP(w.carmen), w.srv.URL+"/coord/"+w.tb.ID.String()+"/proposals", again)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, htmlEscape(msg(t, "en", "error.reason.already_proposed"))) {
		t.Errorf("sending twice: %d", resp.StatusCode)
	}
	if n := w.count("agreements"); n != agreements+2 {
		t.Fatalf("sending twice wrote %d agreements", n-agreements-2)
	}
	// Shown again, the pairs sent wait for their answers and are not
	// offered for sending twice.
	if got := submit(t, carmen, `main a[href$="/proposals"]`); got != http.StatusOK {
		t.Fatalf("proposals again: %d", got)
	}
	if body := text(t, carmen, "main"); strings.Count(body, msg(t, "en", "coord.proposals_waiting")) != 2 ||
		!strings.Contains(body, msg(t, "en", "coord.proposals_all_waiting")) {
		t.Errorf("the pairs sent are not said to wait:\n%s", body)
	}
	if n, err := chromedp.Run(carmen, chromedp.Evaluate[int](`document.querySelectorAll("main form").length`)); err != nil || n != 0 {
		t.Errorf("%d forms to send again (%v)", n, err)
	}
	browser.Axe(t, carmen)
	var forOrg int
	if err := w.db.Pool.QueryRow(ctx, "SELECT count(*) FROM agreements WHERE proposed_for = $1 AND proposed_by = $2 AND status = 'proposed'", w.tb.ID, w.carmen).Scan(&forOrg); err != nil || forOrg != 2 {
		t.Fatalf("%d agreements proposed by Carmen for the time bank (%v), want 2", forOrg, err)
	}

	// The parties see them waiting for their answer.
	for _, p := range []struct {
		who   exchange.Principal
		offer string
	}{{w.dora, "Bicycle tune-up"}, {w.eli, "Spanish conversation"}} {
		b := browser.User(t)
		w.signIn(b, p.who.MemberID)
		if got := text(t, b, "ul.waiting"); !strings.Contains(got, p.offer) {
			t.Errorf("%s's home waits for %q, want %q", p.who.MemberID, got, p.offer)
		}
		browser.Axe(t, b)
	}
}

// TestProposalsPageRefusesMembers: a plain member is refused the page
// and the send, and nothing is written; the page reads in Spanish, and
// in French on a phone 360 px wide.
func TestProposalsPageRefusesMembers(t *testing.T) {
	w := newProposalWorld(t)
	page := w.srv.URL + "/coord/" + w.tb.ID.String() + "/proposals"
	c := w.signInByHTTP(w.ana)
	for _, p := range []string{page, page + "/sent?n=2"} {
		if resp, _ := get(t, c, p); resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusNotFound {
			t.Errorf("Ana opening %s: %d, want 403 or 404", p, resp.StatusCode)
		}
	}
	agreements := w.count("agreements")
	form := url.Values{"offer": {w.offerBen.ID.String()}, "need": {w.needAna.ID.String()}, "quantity": {"2.00"}}
	if resp, _ := post(t, c, page, form); resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusNotFound {
		t.Errorf("Ana sending: %d, want 403 or 404", resp.StatusCode)
	}
	if w.count("agreements") != agreements {
		t.Error("a member's send wrote")
	}

	for _, lang := range []string{"es", "fr"} {
		var opts []browsertest.Option
		if lang == "fr" {
			opts = append(opts, browsertest.Width(360))
		}
		b := browser.User(t, opts...)
		w.signIn(b, w.carmen)
		open(t, b, w.srv.URL+"/language?lang="+lang+"&next="+url.QueryEscape("/coord/"+w.tb.ID.String()+"/proposals"))
		wantH1(t, b, lang, "coord.proposals_heading", "Org", "Barrio Norte")
		body := text(t, b, "main")
		for _, want := range []string{
			msg(t, lang, "coord.proposals_need", "Title", "Fix my bike", "Name", "Ana"),
			msg(t, lang, "coord.why.not_helped", "Name", "Ana"),
			msg(t, lang, "coord.proposals_no_match", "Title", "Weed the garden", "Name", "Ben", "Amount", msg(t, lang, "amount.hours", "Amount", "1,00")),
		} {
			if !strings.Contains(body, want) {
				t.Errorf("%s: the page does not say %q", lang, want)
			}
		}
		if lang == "fr" {
			if width, err := chromedp.Run(b, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); err != nil || width > 360 {
				t.Errorf("the page is %d px wide at 360 px (%v)", width, err)
			}
		}
		browser.Axe(t, b)
	}
}
