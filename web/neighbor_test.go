package web_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/internal/browsertest"
	"github.com/mutual-ledger/mutual/ledger"
)

// neighborhood is a time bank whose members count hours, with Bruno, who
// offers rides in Gràcia on Saturday morning and needs help in Sants.
type neighborhood struct {
	*env
	tb    exchange.Org
	bruno uuid.UUID
	offer exchange.Listing
}

// saturday is the next Saturday at 09:00 UTC, a week or less ahead.
func saturday() time.Time {
	d := time.Now().UTC().Truncate(24 * time.Hour)
	for d.Weekday() != time.Saturday || !d.After(time.Now()) {
		d = d.AddDate(0, 0, 1)
	}
	return d.Add(9 * time.Hour)
}

func newNeighborhood(t *testing.T) *neighborhood { return neighborhoodIn(t, newEnv(t)) }

// carlaNeedsARide adds Carla to the time bank with a need that Bruno's
// rides match: 2 h to the market, 300 m from his van.
func (n *neighborhood) carlaNeedsARide() (uuid.UUID, exchange.Listing) {
	e := n.env
	e.t.Helper()
	carla := e.newMember(n.tb, "Carla")
	need, err := e.ex.CreateListing(context.Background(), exchange.System(), exchange.NewListing{OrgID: n.tb.ID, Owner: carla, Kind: exchange.Need,
		Title: "Ride to the market", Category: "transport", Quantity: decimal.NewFromInt(2),
		Place: exchange.Point{Lat: 41.4010, Lon: 2.1580}, City: "Barcelona", Neighborhood: "Gràcia"})
	if err != nil {
		e.t.Fatal(err)
	}
	return carla, need
}

// neighborhoodIn builds the neighborhood in an env of the caller's.
func neighborhoodIn(t *testing.T, e *env) *neighborhood {
	ctx := context.Background()
	tb := e.timebank("Barrio Gràcia")
	if _, err := e.ex.CreateUnit(ctx, e.admin, ledger.Unit{Code: "HOUR", Scale: 2, Name: "hour"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.ex.SetTimebankRules(ctx, e.admin, tb.ID, exchange.TimebankSettings{CreditLimit: decimal.NewFromInt(10)}); err != nil {
		t.Fatal(err)
	}
	n := &neighborhood{env: e, tb: tb, bruno: e.newMember(tb, "Bruno")}
	sat := saturday()
	var err error
	n.offer, err = e.ex.CreateListing(ctx, exchange.System(), exchange.NewListing{OrgID: tb.ID, Owner: n.bruno, Kind: exchange.Offer,
		Title: "Rides in my van", Category: "transport", Quantity: decimal.NewFromInt(4),
		Place: exchange.Point{Lat: 41.4036, Lon: 2.1565}, City: "Barcelona", Neighborhood: "Gràcia",
		Start: sat, End: sat.Add(3 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []exchange.NewListing{
		{Kind: exchange.Need, Title: "Help with my garden", Category: "gardening", Place: exchange.Point{Lat: 41.4000, Lon: 2.1610}, Neighborhood: "Gràcia"},
		{Kind: exchange.Offer, Title: "Spanish lessons", Category: "language", Place: exchange.Point{Lat: 41.3750, Lon: 2.1330}, Neighborhood: "Sants"},
	} {
		l.OrgID, l.Owner, l.Quantity, l.City = tb.ID, n.bruno, decimal.NewFromInt(2), "Barcelona"
		if _, err := e.ex.CreateListing(ctx, exchange.System(), l); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// signInBrowser signs a member in, in a browser of their own, with a
// code a coordinator issued.
func (e *env) signInBrowser(t *testing.T, member uuid.UUID, opts ...browsertest.Option) context.Context {
	t.Helper()
	ctx := browser.User(t, opts...)
	_, code, err := e.ex.IssueSigninCode(context.Background(), e.admin, member)
	if err != nil {
		t.Fatal(err)
	}
	open(t, ctx, e.srv.URL+"/signin?member="+member.String())
	typeInto(t, ctx, "f-code", code)
	submit(t, ctx, `form[action="/signin/code"] button`)
	if got := location(t, ctx); got != "/home" {
		t.Fatalf("after signing in the browser is at %s", got)
	}
	return ctx
}

// balances reads the home page's balances row of the first account:
// posted, held, available.
func balances(t *testing.T, ctx context.Context) [3]string {
	t.Helper()
	return [3]string{text(t, ctx, "table.balances td.posted"), text(t, ctx, "table.balances td.held"), text(t, ctx, "table.balances td.available")}
}

// setSelect chooses an option of a select field.
func setSelect(t *testing.T, ctx context.Context, id, value string) {
	t.Helper()
	do(t, ctx, chromedp.SetValue(chromedp.ID(id), value))
}

func TestNeighborJourney(t *testing.T) { neighborJourney(t) }

func TestNeighborJourneyWithoutScript(t *testing.T) { neighborJourney(t, browsertest.NoScript()) }

// neighborJourney: Ana is invited and joins; posts a need (first with
// hours that are not a number, then with too many decimals: refused
// beside the field, kept, nothing written); sees Bruno's offer matched
// and explained; proposes. Bruno, in a browser of his own, sees it
// waiting, accepts (told what is held), and both confirm the hours; both
// home pages show the hours moved. Ana's history shows the entry and its
// CSV has the exact amounts; Bruno gives an hour to the pool. Every page
// passes axe-core.
func neighborJourney(t *testing.T, opts ...browsertest.Option) {
	n := newNeighborhood(t)
	e := n.env
	secret, _ := e.invite(n.tb)
	ana := browser.User(t, opts...)

	open(t, ana, e.srv.URL+exchange.InvitationLinkPath+secret)
	typeInto(t, ana, "f-name", "Ana Lima")
	submit(t, ana, "main button[type=submit]")
	if got := location(t, ana); got != "/home" {
		t.Fatalf("after joining Ana is at %s", got)
	}
	if got := balances(t, ana); got != [3]string{"0.00", "0.00", "0.00"} {
		t.Errorf("Ana's balances on joining = %v", got)
	}
	browser.Axe(t, ana)

	// Post a need: refused twice, then posted.
	submit(t, ana, `a.button[href="/listings/new?kind=need"]`)
	setSelect(t, ana, "f-category", "transport")
	typeInto(t, ana, "f-title", "Ride to the clinic")
	typeInto(t, ana, "f-description", "Tuesday or Saturday, back by noon.")
	setSelect(t, ana, "f-place", "Gràcia|Barcelona")
	listings := e.count("listings")
	for _, bad := range []string{"abc", "1.234"} {
		typeInto(t, ana, "f-quantity", bad)
		if st := submit(t, ana, "main form button[type=submit]"); st != http.StatusUnprocessableEntity {
			t.Errorf("hours %q answered %d, want 422", bad, st)
		}
		if got, want := text(t, ana, "#f-quantity-error"), msg(t, "en", "error.field.quantity"); got != want {
			t.Errorf("beside hours %q: %q, want %q", bad, got, want)
		}
		if attr(t, ana, "#f-quantity", "aria-invalid") != "true" {
			t.Errorf("hours %q: the field is not marked invalid", bad)
		}
		if v, _ := chromedp.Run(ana, chromedp.Value(chromedp.ID("f-quantity"))); v != bad {
			t.Errorf("the hours typed were not kept: %q, want %q", v, bad)
		}
		if v, _ := chromedp.Run(ana, chromedp.Value(chromedp.ID("f-title"))); v != "Ride to the clinic" {
			t.Errorf("the title typed was not kept: %q", v)
		}
		if e.count("listings") != listings {
			t.Fatalf("a refused listing (hours %q) was written", bad)
		}
	}
	browser.Axe(t, ana)
	typeInto(t, ana, "f-quantity", "3")
	submit(t, ana, "main form button[type=submit]")
	if got := location(t, ana); !strings.HasPrefix(got, "/listings/") {
		t.Fatalf("after posting Ana is at %s", got)
	}
	if got, want := text(t, ana, ".flash"), msg(t, "en", "flash.listing_posted"); got != want {
		t.Errorf("flash = %q, want %q", got, want)
	}
	// The match: Bruno's rides, explained in words.
	if got := text(t, ana, "ol.matches li h3"); got != "Rides in my van" {
		t.Fatalf("the first match is %q, want Bruno's rides", got)
	}
	why := text(t, ana, "ol.matches li .why")
	for _, want := range []string{
		msg(t, "en", "listings.why.same_category"),
		msg(t, "en", "listings.why.free_when", "Day", "Saturday", "Part", "morning"),
		msg(t, "en", "listings.why.not_asked"),
	} {
		if !strings.Contains(why, want) {
			t.Errorf("the match's reasons %q lack %q", why, want)
		}
	}
	if !regexp.MustCompile(`^\d+\.\d km away · `).MatchString(why) {
		t.Errorf("the match's reasons %q do not start with its distance", why)
	}
	if got, want := text(t, ana, "ol.matches .says"), msg(t, "en", "listings.propose_as_receiver", "Name", "Bruno", "Amount", "3 h"); got != want {
		t.Errorf("before proposing Ana reads %q, want %q", got, want)
	}
	browser.Axe(t, ana)
	submit(t, ana, "ol.matches li form button[type=submit]")
	if got := location(t, ana); !strings.HasPrefix(got, "/agreements/") {
		t.Fatalf("after proposing Ana is at %s", got)
	}
	agreementPath := location(t, ana)
	if got := text(t, ana, "dd.status"); got != msg(t, "en", "agreements.status.proposed") {
		t.Errorf("the agreement's status = %q", got)
	}

	// The search: Bruno's listings, each with its distance from Gràcia,
	// nearest first.
	submit(t, ana, `header a[href="/listings"]`)
	browser.Axe(t, ana)
	kms := regexp.MustCompile(`(\d+\.\d) km away`).FindAllStringSubmatch(text(t, ana, "ul.listings"), -1)
	if len(kms) != 4 {
		t.Errorf("the search shows %d distances, want 4 (every listing)", len(kms))
	}
	for i := 1; i < len(kms); i++ {
		if decimal.RequireFromString(kms[i][1]).LessThan(decimal.RequireFromString(kms[i-1][1])) {
			t.Errorf("the listings are not nearest first: %v", kms)
		}
	}
	if got := text(t, ana, "ul.listings li:last-child h3"); got != "Spanish lessons" {
		t.Errorf("the farthest listing is %q, want the one in Sants", got)
	}

	// Bruno answers in a browser of his own.
	bruno := e.signInBrowser(t, n.bruno, opts...)
	if got := text(t, bruno, "ul.waiting li"); !strings.Contains(got, msg(t, "en", "agreements.next.answer")) {
		t.Errorf("Bruno's home does not show the proposal waiting: %q", got)
	}
	if got := text(t, bruno, "ul.notices li"); got == "" {
		t.Errorf("Bruno has no notification of the proposal")
	}
	submit(t, bruno, "ul.waiting li a")
	if got, want := text(t, bruno, "#accept-says"), msg(t, "en", "agreements.says.accept_giver", "Amount", "3 h", "Name", "Ana Lima"); got != want {
		t.Errorf("before accepting Bruno reads %q, want %q", got, want)
	}
	browser.Axe(t, bruno)
	submit(t, bruno, `form[action$="/accept"] button`)
	if got, want := text(t, bruno, ".flash"), msg(t, "en", "flash.agreement_accepted"); got != want {
		t.Errorf("flash = %q, want %q", got, want)
	}

	// Later, on her phone, Ana finds her hours held; she confirms, then
	// Bruno.
	ana = e.signInBrowser(t, e.memberNamed("Ana Lima"), opts...)
	if got := balances(t, ana); got != [3]string{"0.00", "3.00", "-3.00"} {
		t.Errorf("Ana's balances once accepted = %v, want 3 held", got)
	}
	open(t, ana, e.srv.URL+agreementPath)
	if got, want := text(t, ana, "#confirm-says"), msg(t, "en", "agreements.says.confirm_receiver", "Name", "Bruno"); got != want {
		t.Errorf("before confirming Ana reads %q, want %q", got, want)
	}
	submit(t, ana, `form[action$="/confirm"] button`)
	browser.Axe(t, ana)
	bruno = e.signInBrowser(t, n.bruno, opts...)
	open(t, bruno, e.srv.URL+agreementPath)
	submit(t, bruno, `form[action$="/confirm"] button`)
	if got := text(t, bruno, "dd.status"); got != msg(t, "en", "agreements.status.completed") {
		t.Errorf("after both confirmed the agreement is %q", got)
	}

	// Both homes show the hours moved.
	open(t, ana, e.srv.URL+"/home")
	if got := balances(t, ana); got != [3]string{"-3.00", "0.00", "-3.00"} {
		t.Errorf("Ana's balances at the end = %v", got)
	}
	open(t, bruno, e.srv.URL+"/home")
	if got := balances(t, bruno); got != [3]string{"3.00", "0.00", "3.00"} {
		t.Errorf("Bruno's balances at the end = %v", got)
	}

	// Ana's agreements, her history and its CSV; her notifications read.
	submit(t, ana, `header a[href="/agreements"]`)
	browser.Axe(t, ana)
	submit(t, ana, `header a[href="/history"]`)
	if got := text(t, ana, "table.history tbody td:nth-child(3)"); got != "-3.00" {
		t.Errorf("the history's entry = %q, want -3.00", got)
	}
	browser.Axe(t, ana)
	c := e.signInByHTTP(e.memberNamed("Ana Lima"))
	href := attr(t, ana, `a[download]`, "href")
	resp, body := get(t, c, e.srv.URL+href)
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("the CSV: %d %s %v\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), err, body)
	}
	if len(rows) != 2 || rows[1][2] != "-3.00" || rows[1][3] != "-3.00" || rows[1][4] != "HOUR" || rows[1][1] != "Rides in my van: Ride to the clinic" {
		t.Errorf("the CSV rows = %q", rows)
	}
	open(t, ana, e.srv.URL+"/home")
	submit(t, ana, `form[action="/notifications/read"] button`)
	if got := text(t, ana, "#notices-heading + p"); got != msg(t, "en", "home.no_notices") {
		t.Errorf("after marking read, home says %q", got)
	}

	// Bruno gives an hour to the pool; "abc" first, refused.
	submit(t, bruno, `a[href="/pool"]`)
	transfers := e.count("transfers")
	typeInto(t, bruno, "f-amount", "abc")
	if st := submit(t, bruno, "main form button[type=submit]"); st != http.StatusUnprocessableEntity {
		t.Errorf("giving abc hours answered %d", st)
	}
	if got, want := text(t, bruno, "#f-amount-error"), msg(t, "en", "error.field.amount"); got != want {
		t.Errorf("beside the hours: %q, want %q", got, want)
	}
	if e.count("transfers") != transfers {
		t.Errorf("a refused gift moved hours")
	}
	browser.Axe(t, bruno)
	typeInto(t, bruno, "f-amount", "1")
	submit(t, bruno, "main form button[type=submit]")
	if got := balances(t, bruno); got != [3]string{"2.00", "0.00", "2.00"} {
		t.Errorf("Bruno's balances after giving an hour = %v", got)
	}
}

// TestNeighborPagesInSpanishAndFrench: Bruno reads each of his pages in
// Spanish, then in French (chosen with the chooser): the headings, the
// match's reasons and the agreement's status in that language, axe-core
// on each. In each language a refused listing (hours "abc", then "1,234",
// a French decimal comma with too many decimals) says why beside the
// field in that language, keeps what was typed, and writes nothing.
func TestNeighborPagesInSpanishAndFrench(t *testing.T) {
	n := newNeighborhood(t)
	e := n.env
	ctx := context.Background()
	carla, need := n.carlaNeedsARide()
	cp, bp := e.principal(carla), e.principal(n.bruno)
	a, err := e.ex.ProposeAgreement(ctx, cp, exchange.NewAgreement{OfferID: n.offer.ID, NeedID: need.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ex.AcceptAgreement(ctx, bp, a.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ex.DonateHours(ctx, bp, exchange.TimebankMove{OrgID: n.tb.ID, Amount: decimal.NewFromInt(1)}); err != nil {
		t.Fatal(err)
	}
	// An open need Bruno's offer matches.
	if _, err := e.ex.CreateListing(ctx, exchange.System(), exchange.NewListing{OrgID: n.tb.ID, Owner: carla, Kind: exchange.Need,
		Title: "Ride to the station", Category: "transport", Quantity: decimal.NewFromInt(1),
		Place: exchange.Point{Lat: 41.4020, Lon: 2.1590}, City: "Barcelona", Neighborhood: "Gràcia"}); err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"es", "fr"} {
		// A browser for each language, each within its two minutes; the
		// French one is a phone's, 360 px wide.
		var opts []browsertest.Option
		if lang == "fr" {
			opts = append(opts, browsertest.Width(360))
		}
		bruno := e.signInBrowser(t, n.bruno, opts...)
		open(t, bruno, e.srv.URL+"/language?lang="+lang+"&next=/home")
		if got := attr(t, bruno, "html", "lang"); got != lang {
			t.Fatalf("<html lang=%q>, want %q", got, lang)
		}
		for _, p := range []struct{ path, sel, id string }{
			{"/home", "#balances-heading", "home.balances"},
			{"/listings", "h1", "listings.heading"},
			{"/listings/" + n.offer.ID.String(), "#matches-heading", "listings.matches_needs"},
			{"/agreements", "h1", "agreements.heading"},
			{"/agreements/" + a.ID.String(), "dd.status", "agreements.status.accepted"},
			{"/history", "h1", "history.heading"},
			{"/pool", "h1", "pool.heading"},
			{"/listings/new", "h1", "listings.new_heading"},
		} {
			if st := open(t, bruno, e.srv.URL+p.path); st != http.StatusOK {
				t.Errorf("%s in %s = %d", p.path, lang, st)
			}
			if got, want := text(t, bruno, p.sel), msg(t, lang, p.id); got != want {
				t.Errorf("%s in %s: %s = %q, want %q", p.path, lang, p.sel, got, want)
			}
			browser.Axe(t, bruno)
			if lang == "fr" {
				if w, err := chromedp.Run(bruno, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); err != nil || w > 360 {
					t.Errorf("%s is %d px wide at 360 px (%v)", p.path, w, err)
				}
			}
			switch p.path {
			case "/listings/" + n.offer.ID.String():
				if got, want := text(t, bruno, "ol.matches .why"), msg(t, lang, "listings.why.same_category"); !strings.Contains(got, want) {
					t.Errorf("the match's reasons in %s = %q, lacking %q", lang, got, want)
				}
			case "/history":
				if got := text(t, bruno, "table.history tbody td:nth-child(3)"); got != map[string]string{"es": "-1,00", "fr": "-1,00"}[lang] {
					t.Errorf("the history's gift in %s = %q", lang, got)
				}
			}
		}
		// On the form last opened: a refusal in the language.
		bad := map[string]string{"es": "abc", "fr": "1,234"}[lang]
		setSelect(t, bruno, "f-kind", "offer")
		setSelect(t, bruno, "f-category", "repairs")
		typeInto(t, bruno, "f-title", "Arreglo bicis")
		typeInto(t, bruno, "f-quantity", bad)
		listings := e.count("listings")
		if st := submit(t, bruno, "main form button[type=submit]"); st != http.StatusUnprocessableEntity {
			t.Errorf("hours %q in %s answered %d", bad, lang, st)
		}
		if got, want := text(t, bruno, "#f-quantity-error"), msg(t, lang, "error.field.quantity"); got != want {
			t.Errorf("beside hours %q in %s: %q, want %q", bad, lang, got, want)
		}
		if v, _ := chromedp.Run(bruno, chromedp.Value(chromedp.ID("f-quantity"))); v != bad {
			t.Errorf("the hours typed were not kept: %q", v)
		}
		if v, _ := chromedp.Run(bruno, chromedp.Value(chromedp.ID("f-kind"))); v != "offer" {
			t.Errorf("the kind chosen was not kept: %q", v)
		}
		if e.count("listings") != listings {
			t.Errorf("a refused listing in %s was written", lang)
		}
		browser.Axe(t, bruno)
	}
}

// TestNeighborPagesRefuseWhatIsNotMine: over plain HTTP, a member asking
// for another's account history, agreement or organization-only listing
// gets the not-found page, as for one that does not exist; a step on
// another's agreement is refused and changes nothing; every page weighs
// under 100 KB.
func TestNeighborPagesRefuseWhatIsNotMine(t *testing.T) {
	n := newNeighborhood(t)
	e := n.env
	ctx := context.Background()
	carla, need := n.carlaNeedsARide()
	a, err := e.ex.ProposeAgreement(ctx, e.principal(carla), exchange.NewAgreement{OfferID: n.offer.ID, NeedID: need.ID})
	if err != nil {
		t.Fatal(err)
	}
	brunoAccs, err := e.ex.MemberAccounts(ctx, e.principal(n.bruno), n.bruno)
	if err != nil || len(brunoAccs) != 1 {
		t.Fatalf("Bruno's accounts: %v %v", brunoAccs, err)
	}
	// Dana belongs to another time bank.
	other := e.timebank("Barrio Sur")
	dana := e.newMember(other, "Dana")
	c := e.signInByHTTP(dana)
	for _, path := range []string{
		"/history?account=" + brunoAccs[0].ID.String(),
		"/history.csv?account=" + brunoAccs[0].ID.String(),
		"/agreements/" + a.ID.String(),
		"/listings/" + need.ID.String(),
	} {
		resp, body := get(t, c, e.srv.URL+path)
		if resp.StatusCode != http.StatusNotFound || strings.Contains(body, "Ride to the market") {
			t.Errorf("Dana asking %s got %d", path, resp.StatusCode)
		}
	}
	resp, _ := post(t, c, e.srv.URL+"/agreements/"+a.ID.String()+"/accept", nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("Dana accepting another's agreement got %d", resp.StatusCode)
	}
	if got, err := e.ex.Agreement(ctx, e.principal(carla), a.ID); err != nil || got.Status != exchange.AgreementProposed {
		t.Errorf("after Dana's try the agreement is %v (%v)", got.Status, err)
	}
	// Carla, the proposer, may not accept her own proposal: forbidden.
	cc := e.signInByHTTP(carla)
	if resp, _ := post(t, cc, e.srv.URL+"/agreements/"+a.ID.String()+"/accept", nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("the proposer accepting got %d, want 403", resp.StatusCode)
	}
	for _, path := range []string{"/home", "/listings", "/listings/new", "/listings/" + need.ID.String(),
		"/agreements", "/agreements/" + a.ID.String(), "/history", "/history.csv", "/pool"} {
		resp, body := get(t, cc, e.srv.URL+path)
		if resp.StatusCode != http.StatusOK || len(body) > 100*1024 {
			t.Errorf("Carla's %s: %d, %d bytes", path, resp.StatusCode, len(body))
		}
		t.Logf("%s: %d bytes", path, len(body))
	}
}

// TestAgreementStepsOverHTTP: the steps the journeys do not take. A
// dispute without a reason is refused beside its field, in the person's
// language, and changes nothing; cancelling an accepted agreement
// releases the hours held, as the page said it would.
func TestAgreementStepsOverHTTP(t *testing.T) {
	n := newNeighborhood(t)
	e := n.env
	ctx := context.Background()
	carla, need := n.carlaNeedsARide()
	a, err := e.ex.ProposeAgreement(ctx, e.principal(carla), exchange.NewAgreement{OfferID: n.offer.ID, NeedID: need.ID})
	if err != nil {
		t.Fatal(err)
	}
	path := e.srv.URL + "/agreements/" + a.ID.String()
	b := e.signInByHTTP(n.bruno)
	if resp, _ := post(t, b, path+"/accept", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("accepting: %d", resp.StatusCode)
	}
	held := func() string {
		t.Helper()
		accs, err := e.ex.MemberAccounts(ctx, e.principal(carla), carla)
		if err != nil || len(accs) != 1 {
			t.Fatalf("Carla's accounts: %v %v", accs, err)
		}
		return accs[0].PendingDebits.StringFixed(2)
	}
	if got := held(); got != "2.00" {
		t.Fatalf("held after acceptance = %s", got)
	}
	c := e.signInByHTTP(carla)
	resp, body := post(t, c, path+"/dispute", url.Values{"dispute_reason": {"  "}}, "Accept-Language", "fr")
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `id="f-dispute_reason-error">`+htmlEscape(msg(t, "fr", "error.field.dispute_reason"))) {
		t.Errorf("a dispute without a reason: %d\n%s", resp.StatusCode, body)
	}
	if got, _ := e.ex.Agreement(ctx, e.principal(carla), a.ID); got.Status != exchange.AgreementAccepted {
		t.Errorf("after a refused dispute the agreement is %s", got.Status)
	}
	_, body = get(t, c, path)
	if want := htmlEscape(msg(t, "en", "agreements.says.cancel_accepted_receiver", "Amount", "2 h")); !strings.Contains(body, want) {
		t.Errorf("the agreement's page does not say what cancelling does (%q)", want)
	}
	if resp, _ := post(t, c, path+"/cancel", url.Values{"cancel_reason": {"I found a ride"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("cancelling: %d", resp.StatusCode)
	}
	if got := held(); got != "0.00" {
		t.Errorf("held after cancelling = %s, want the hours released", got)
	}
}

// TestProposeFormSentTwiceAsksOnce: a proposal's form sent twice (a
// double click, a resend after a lost answer) leads both times to the
// same agreement, and the other person is asked once.
func TestProposeFormSentTwiceAsksOnce(t *testing.T) {
	n := newNeighborhood(t)
	e := n.env
	ctx := context.Background()
	carla, need := n.carlaNeedsARide()
	c := e.signInByHTTP(carla)
	_, page := get(t, c, e.srv.URL+"/listings/"+need.ID.String())
	form := regexp.MustCompile(`(?s)<form method="post" action="(/listings/[^"]+/propose)">(.*?)</form>`).FindStringSubmatch(page)
	if form == nil {
		t.Fatalf("no proposal form on the need's page:\n%s", page)
	}
	fields := url.Values{}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`).FindAllStringSubmatch(form[2], -1) {
		fields.Set(m[1], m[2])
	}
	if fields.Get("offer_id") != n.offer.ID.String() || fields.Get("agreement_id") == "" {
		t.Fatalf("the form's fields: %v", fields)
	}
	var places []string
	for range 2 {
		resp, body := post(t, c, e.srv.URL+form[1], fields)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sending the proposal: %d\n%s", resp.StatusCode, body)
		}
		places = append(places, resp.Header.Get("Location"))
	}
	if want := "/agreements/" + fields.Get("agreement_id"); places[0] != want || places[1] != want {
		t.Errorf("the two sendings led to %v, want %s both times", places, want)
	}
	var agreements, asked int
	if err := e.db.Pool.QueryRow(ctx, `SELECT count(*) FROM agreements WHERE offer_id = $1 AND need_id = $2`, n.offer.ID, need.ID).Scan(&agreements); err != nil {
		t.Fatal(err)
	}
	if err := e.db.Pool.QueryRow(ctx, `SELECT count(*) FROM notifications WHERE member_id = $1 AND kind = 'agreement_proposed'`, n.bruno).Scan(&asked); err != nil {
		t.Fatal(err)
	}
	if agreements != 1 || asked != 1 {
		t.Errorf("after sending the form twice: %d agreements, Bruno asked %d times; want 1 and 1", agreements, asked)
	}
	// Another person's form naming that agreement is refused, and writes
	// nothing.
	d := e.signInByHTTP(e.newMember(n.tb, "Dana"))
	if resp, _ := post(t, d, e.srv.URL+form[1], fields); resp.StatusCode == http.StatusSeeOther {
		t.Errorf("Dana sending Carla's form was led to %s", resp.Header.Get("Location"))
	}
	if err := e.db.Pool.QueryRow(ctx, `SELECT count(*) FROM agreements`).Scan(&agreements); err != nil || agreements != 1 {
		t.Errorf("after Dana's try: %d agreements (%v)", agreements, err)
	}
}
