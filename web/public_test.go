package web_test

import (
	"context"
	"html"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/internal/browsertest"
	"github.com/mutual-ledger/mutual/internal/dbtest"
	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/internal/testclock"
	"github.com/mutual-ledger/mutual/ledger"
	"github.com/mutual-ledger/mutual/web"
)

// publicWorld is a network seen from outside: a time bank in Oaxaca (a
// member of the network) with public and members-only listings, a co-op
// in Detroit (a partner), and the network's fund, which received money in
// two months and paid a grant, decided by a vote, in a third.
type publicWorld struct {
	*env
	clock       *testclock.Clock
	tb, coop    exchange.Org
	fund        exchange.Fund
	grant       exchange.Grant
	public      exchange.Listing // a public offer of the time bank
	membersOnly exchange.Listing // an offer only its members see
	need        exchange.Listing // a public need
}

// newPublicWorld builds the world above with every store on one clock,
// so that the fund's movements fall in the months chosen.
func newPublicWorld(t *testing.T) *publicWorld {
	t.Helper()
	ctx := context.Background()
	clock := testclock.New(time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC))
	db, err := pgtx.New(ctx, dbtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	led := ledger.NewStore(db, ledger.Config{Now: clock.Now})
	ex := exchange.NewStore(db, led, exchange.Config{Now: clock.Now})
	logs := &strings.Builder{}
	var mu sync.Mutex
	pages, err := web.New(web.Config{Exchange: ex, Now: clock.Now, Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, logs}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(pages)
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if strings.Contains(logs.String(), "level=ERROR") {
			t.Errorf("the pages logged an error:\n%s", logs.String())
		}
	})
	network, _, _, secret, _, err := ex.Bootstrap(ctx, "Red Mutual")
	if err != nil {
		t.Fatal(err)
	}
	admin, err := ex.Authenticate(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	w := &publicWorld{env: &env{t: t, srv: srv, ex: ex, db: db, network: network, admin: admin, logs: logs}, clock: clock}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []ledger.Unit{{Code: "USD", Scale: 2}, {Code: "HOUR", Scale: 2}} {
		_, err := led.CreateUnit(ctx, u)
		must(err)
	}
	oaxaca, err := ex.CreateOrg(ctx, exchange.System(), exchange.NewOrg{Name: "Asamblea de Oaxaca", Kind: exchange.KindLocal, ParentID: &network.ID, City: "Oaxaca"})
	must(err)
	w.tb, err = ex.CreateOrg(ctx, exchange.System(), exchange.NewOrg{Name: "Banco de Tiempo Jalatlaco", Kind: exchange.KindTimebank, ParentID: &oaxaca.ID, City: "Oaxaca"})
	must(err)
	w.coop, err = ex.CreateOrg(ctx, exchange.System(), exchange.NewOrg{Name: "Eastside Food Co-op", Kind: exchange.KindCoop, ParentID: &network.ID,
		City: "Detroit", Membership: exchange.PartnerOrganization})
	must(err)
	_, err = ex.CreateOrg(ctx, exchange.System(), exchange.NewOrg{Name: "Comité sans ville", Kind: exchange.KindCouncil, ParentID: &network.ID})
	must(err)

	// The time bank's coordinator asks for the grant; the admin decides it.
	_, code := w.inviteAs(w.tb, exchange.RoleCoordinator)
	acc, err := ex.AcceptInvitation(ctx, exchange.Acceptance{Code: code, Name: "Rosa Hernández", Address: "127.0.0.1"})
	must(err)
	rosa, err := ex.AuthenticateSession(ctx, acc.SessionSecret)
	must(err)
	ana := w.newMember(w.tb, "Ana López")

	w.fund, err = ex.CreateFund(ctx, admin, exchange.NewFund{OrgID: network.ID, Name: "Solidarity fund", Unit: "USD"})
	must(err)
	tbUSD, err := led.CreateAccount(ctx, ledger.NewAccount{Unit: "USD", Owner: exchange.OrgOwner(w.tb.ID), Kind: ledger.KindOrganization, Name: "USD"})
	must(err)
	give := func(source, amount string) {
		t.Helper()
		_, err := ex.Contribute(ctx, admin, exchange.Contribution{FundID: w.fund.ID, Source: source, Amount: decimal.RequireFromString(amount)})
		must(err)
	}
	give("Friends of Mutual", "1250.00") // January 2026
	clock.Advance(31 * 24 * time.Hour)
	give("Friends of Mutual", "300.00") // February
	give("Oaxaca parish", "200.50")
	clock.Advance(28 * 24 * time.Hour) // March
	w.grant, err = ex.RequestGrant(ctx, rosa, exchange.NewGrant{FundID: w.fund.ID, OrgID: w.tb.ID, Amount: decimal.RequireFromString("400.00"),
		Purpose: "Tools for the repair café", ToAccount: tbUSD.ID})
	must(err)
	_, err = ex.DecideGrant(ctx, admin, exchange.GrantDecision{GrantID: w.grant.ID, Approve: true, Note: "Approved at the March assembly",
		Votes: &exchange.GrantVotes{For: 9, Against: 2, Abstain: 1}})
	must(err)
	_, _, err = ex.Disburse(ctx, admin, w.grant.ID)
	must(err)
	clock.Advance(30 * 24 * time.Hour) // April 2026: the report's last month

	listing := func(kind exchange.ListingKind, title string, vis exchange.Visibility) exchange.Listing {
		t.Helper()
		l, err := ex.CreateListing(ctx, exchange.System(), exchange.NewListing{OrgID: w.tb.ID, Owner: ana, Kind: kind, Title: title,
			Description: "Saturdays in the morning, at the community center.", Category: "repairs",
			Quantity: decimal.RequireFromString("2.5"), Unit: "HOUR", Place: exchange.Point{Lat: 17.06, Lon: -96.72},
			City: "Oaxaca", Neighborhood: "Jalatlaco", Visibility: vis})
		must(err)
		return l
	}
	w.public = listing(exchange.Offer, "Bike repair", exchange.VisibilityPublic)
	w.membersOnly = listing(exchange.Offer, "Spare room for a night", exchange.VisibilityOrg)
	w.need = listing(exchange.Need, "Help moving a wardrobe", exchange.VisibilityPublic)
	return w
}

// inviteAs invites a member with a role into org.
func (w *publicWorld) inviteAs(org exchange.Org, role exchange.Role) (secret, code string) {
	w.t.Helper()
	_, secret, code, err := w.ex.Invite(context.Background(), w.admin, exchange.NewInvitation{OrgID: org.ID, Role: role})
	if err != nil {
		w.t.Fatal(err)
	}
	return secret, code
}

// maxPage is the most a page may weigh (its HTML; the stylesheet is
// shared and cached).
const maxPage = 100 << 10

// TestPublicPagesForVisitors reads the directory, the fund's report and
// the board without signing in, as a visitor would, and checks what they
// say and how much they weigh.
func TestPublicPagesForVisitors(t *testing.T) {
	w := newPublicWorld(t)
	c := w.client()

	// The directory: cities in order, the organizations without a city
	// last, each with what it is and how it belongs; the network itself is
	// not listed as one of its organizations.
	resp, body := get(t, c, w.srv.URL+"/network", "Accept-Language", "en")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/network: %d", resp.StatusCode)
	}
	checkWeight(t, "/network", body)
	h2s := regexp.MustCompile(`<h2 id="city-\d+">([^<]*)</h2>`).FindAllStringSubmatch(body, -1)
	var cities []string
	for _, m := range h2s {
		cities = append(cities, html.UnescapeString(m[1]))
	}
	if want := []string{"Detroit", "Oaxaca", msg(t, "en", "public.no_city")}; strings.Join(cities, "|") != strings.Join(want, "|") {
		t.Errorf("cities = %q, want %q", cities, want)
	}
	for _, want := range []string{
		"Banco de Tiempo Jalatlaco", msg(t, "en", "public.kind.timebank"), msg(t, "en", "public.kind_does.timebank"),
		msg(t, "en", "public.part_of", "Parent", "Asamblea de Oaxaca"),
		msg(t, "en", "public.membership.partner"), msg(t, "en", "public.join_how"),
		`href="/orgs/` + w.tb.ID.String() + `/board"`, `href="/funds/` + w.fund.ID.String() + `"`,
	} {
		if !strings.Contains(html.UnescapeString(body), want) {
			t.Errorf("the directory lacks %q", want)
		}
	}
	if strings.Contains(body, "<h3>Red Mutual</h3>") {
		t.Error("the directory lists the network as one of its organizations")
	}

	// The fund's report, in Spanish: the last twelve months (May 2025 to
	// April 2026), each in the table with its exact figures, and in the
	// chart, whose tallest bar is January's inflow.
	resp, body = get(t, c, w.srv.URL+"/funds/"+w.fund.ID.String(), "Accept-Language", "es")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("fund report: %d\n%s", resp.StatusCode, body)
	}
	checkWeight(t, "the fund report", body)
	text := html.UnescapeString(body)
	rows := regexp.MustCompile(`<tr><th scope="row">([^<]*)</th><td class="num">([^<]*)</td><td class="num">([^<]*)</td></tr>`).FindAllStringSubmatch(text, -1)
	if len(rows) != 12+2 { // twelve months, and the two sources
		t.Fatalf("the report's table rows: %q", rows)
	}
	months := rows[:12]
	if months[0][1] != "mayo de 2025" || months[11][1] != "abril de 2026" {
		t.Errorf("months from %q to %q, want mayo de 2025 to abril de 2026", months[0][1], months[11][1])
	}
	wantMonths := map[string][2]string{"enero de 2026": {"1250,00", "0,00"}, "febrero de 2026": {"500,50", "0,00"}, "marzo de 2026": {"0,00", "400,00"}, "abril de 2026": {"0,00", "0,00"}}
	for _, m := range months {
		if want, ok := wantMonths[m[1]]; ok && (m[2] != want[0] || m[3] != want[1]) {
			t.Errorf("%s: in %s, out %s; want %s and %s", m[1], m[2], m[3], want[0], want[1])
		}
	}
	if rows[12][1] != "Friends of Mutual" || rows[12][2] != "2" || rows[12][3] != "1550,00" || rows[13][1] != "Oaxaca parish" {
		t.Errorf("sources: %q", rows[12:])
	}
	for _, want := range []string{
		`role="img" aria-labelledby="chart-title chart-desc"`,
		`<title id="chart-title">` + msg(t, "es", "public.chart_title", "Fund", "Solidarity fund", "Unit", "USD") + `</title>`,
		`<desc id="chart-desc">` + msg(t, "es", "public.chart_desc") + `</desc>`,
		"<h3>Tools for the repair café</h3>",
		msg(t, "es", "public.grant_vote", "For", "9", "Against", "2", "Abstain", "1"),
		msg(t, "es", "public.grant_paid", "Amount", "400,00", "Unit", "USD", "Org", "Banco de Tiempo Jalatlaco", "Date", "15 de marzo de 2026"),
		"Approved at the March assembly",
		msg(t, "es", "public.reconciled"),
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if strings.Contains(text, "<script") {
		t.Error("the report loads a script; the chart must be plain SVG")
	}
	// The scale runs from zero to 2000 (the round number above 1250.00),
	// by quarters, in the reader's format.
	ticks := regexp.MustCompile(`<text [^>]*class="tick">([^<]*)</text>`).FindAllStringSubmatch(text, -1)
	var scale []string
	for _, m := range ticks {
		scale = append(scale, m[1])
	}
	if strings.Join(scale, " ") != "0 500 1000 1500 2000" {
		t.Errorf("the chart's scale reads %q", scale)
	}
	heights := regexp.MustCompile(`<rect [^>]*height="([0-9.]+)" class="(in|out)"><title>([^<]*)</title>`).FindAllStringSubmatch(text, -1)
	if len(heights) != 24 {
		t.Fatalf("%d bars, want two for each of 12 months", len(heights))
	}
	tallest, tallestAt := 0.0, ""
	for _, h := range heights {
		v, _ := strconv.ParseFloat(h[1], 64)
		if v > tallest {
			tallest, tallestAt = v, h[2]+" "+h[3]
		}
	}
	if tallestAt != "in "+msg(t, "es", "public.in")+": 1250,00" {
		t.Errorf("the tallest bar is %q, want January's inflow", tallestAt)
	}

	// A calendar year; a year before any, or not a year, is not found;
	// nor is a fund that does not exist.
	if resp, body := get(t, c, w.srv.URL+"/funds/"+w.fund.ID.String()+"?year=2026"); resp.StatusCode != http.StatusOK ||
		!strings.Contains(body, msg(t, "en", "public.totals_year", "Year", "2026")) {
		t.Errorf("?year=2026: %d", resp.StatusCode)
	}
	for _, path := range []string{"/funds/" + w.fund.ID.String() + "?year=2027", "/funds/" + w.fund.ID.String() + "?year=x",
		"/funds/" + uuid.NewString(), "/funds/nope", "/orgs/" + uuid.NewString() + "/board", "/network?after=x"} {
		if resp, _ := get(t, c, w.srv.URL+path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, resp.StatusCode)
		}
	}

	// The board, in French: the public offer and need, not the offer its
	// owner kept to the members; the site's address to answer.
	resp, body = get(t, c, w.srv.URL+"/orgs/"+w.tb.ID.String()+"/board", "Accept-Language", "fr")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("board: %d", resp.StatusCode)
	}
	checkWeight(t, "the board", body)
	text = html.UnescapeString(body)
	for _, want := range []string{"Bike repair", "Help moving a wardrobe", "Repairs · 2,5 h · Jalatlaco", w.srv.URL,
		`<h2 id="offer-heading">1 offre</h2>`, `<h2 id="need-heading">1 besoin</h2>`} {
		if !strings.Contains(text, want) {
			t.Errorf("the board lacks %q", want)
		}
	}
	if strings.Contains(text, w.membersOnly.Title) {
		t.Errorf("the board shows %q, which its owner kept to the members", w.membersOnly.Title)
	}
	// A member of the time bank, signed in, sees the same board: it is
	// the public one, to print and pin up.
	ana := w.signedIn("Ana López")
	if _, body := get(t, ana, w.srv.URL+"/orgs/"+w.tb.ID.String()+"/board"); strings.Contains(body, w.membersOnly.Title) || !strings.Contains(body, "Bike repair") {
		t.Error("a member's board differs from the public one")
	}
}

// TestBoardDaysInTheOrgZone prints a board whose organization is in
// Mexico City: a public offer available from 21:00 there on April 19 (3:00
// UTC on the 20th) shows April 19, to a visitor and to a member alike.
func TestBoardDaysInTheOrgZone(t *testing.T) {
	w := newPublicWorld(t)
	ctx := context.Background()
	oaxaca := *w.tb.ParentID
	if _, err := w.ex.SetOrgMatching(ctx, w.admin, oaxaca, 10, "America/Mexico_City"); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 4, 20, 3, 0, 0, 0, time.UTC)
	_, err := w.ex.CreateListing(ctx, exchange.System(), exchange.NewListing{OrgID: w.tb.ID, Owner: w.memberNamed("Ana López"),
		Kind: exchange.Offer, Title: "Evening tutoring", Description: "Maths, for the week of the exams.", Category: "education",
		Quantity: decimal.RequireFromString("3"), Unit: "HOUR", Place: exchange.Point{Lat: 17.06, Lon: -96.72},
		City: "Oaxaca", Neighborhood: "Jalatlaco", Visibility: exchange.VisibilityPublic,
		Start: start, End: start.Add(7 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	want := msg(t, "en", "public.board_when", "From", "April 19, 2026", "To", "April 26, 2026")
	ana := w.signedIn("Ana López")
	for who, c := range map[string]*http.Client{"a visitor": w.client(), "a member": ana} {
		resp, body := get(t, c, w.srv.URL+"/orgs/"+w.tb.ID.String()+"/board", "Accept-Language", "en")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("board for %s: %d", who, resp.StatusCode)
		}
		if !strings.Contains(html.UnescapeString(body), want) {
			t.Errorf("the board %s reads lacks %q:\n%s", who, want, regexp.MustCompile(`<p class="when">[^<]*</p>`).FindAllString(body, -1))
		}
	}
}

// TestFundReportDaysAreItsMonths: the fund report counts UTC months, so
// a member whose organization is twelve hours behind UTC reads the grant
// paid at 10:00 UTC on March 15 as paid on March 15 (a day of the month it
// is counted in), not March 14, as a visitor does.
func TestFundReportDaysAreItsMonths(t *testing.T) {
	w := newPublicWorld(t)
	if _, err := w.ex.SetOrgMatching(context.Background(), w.admin, *w.tb.ParentID, 10, "Etc/GMT+12"); err != nil {
		t.Fatal(err)
	}
	ana := w.signedIn("Ana López")
	want := msg(t, "es", "public.grant_paid", "Amount", "400,00", "Unit", "USD", "Org", "Banco de Tiempo Jalatlaco", "Date", "15 de marzo de 2026")
	for who, c := range map[string]*http.Client{"a visitor": w.client(), "a member": ana} {
		resp, body := get(t, c, w.srv.URL+"/funds/"+w.fund.ID.String(), "Accept-Language", "es")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("the report for %s: %d", who, resp.StatusCode)
		}
		if text := html.UnescapeString(body); !strings.Contains(text, want) {
			t.Errorf("the report %s reads lacks %q: %q", who, want, regexp.MustCompile(`pagado el [^.]*`).FindAllString(text, -1))
		}
	}
}

// signedIn signs the member named in and checks that the client's pages
// are theirs: a check signed in that ran as a visitor could not fail.
func (w *publicWorld) signedIn(name string) *http.Client {
	w.t.Helper()
	c := w.signInByHTTP(w.memberNamed(name))
	if _, body := get(w.t, c, w.srv.URL+"/agreements"); !strings.Contains(body, name) {
		w.t.Fatalf("%s is not signed in: the pages would be read as a visitor's", name)
	}
	return c
}

// checkWeight fails when a page is over maxPage.
func checkWeight(t *testing.T, what, body string) {
	t.Helper()
	if len(body) > maxPage {
		t.Errorf("%s weighs %d bytes, over %d", what, len(body), maxPage)
	}
}

// TestPublicPagesInBrowsers opens each public page on a phone (360 px) in
// Spanish and in French and on a wide screen in English: axe-core finds
// nothing, nothing scrolls sideways, and printing the board hides the
// site's navigation.
func TestPublicPagesInBrowsers(t *testing.T) {
	w := newPublicWorld(t)
	pages := []string{"/network", "/funds/" + w.fund.ID.String(), "/orgs/" + w.tb.ID.String() + "/board"}
	phone := browser.User(t, browsertest.Width(360))
	for _, lang := range []string{"es", "fr"} {
		for _, p := range pages {
			if st := open(t, phone, w.srv.URL+"/language?lang="+lang+"&next="+p); st != http.StatusOK {
				t.Fatalf("%s in %s: %d", p, lang, st)
			}
			if got := attr(t, phone, "html", "lang"); got != lang {
				t.Errorf("%s: lang %q, want %s", p, got, lang)
			}
			browser.Axe(t, phone)
			wide, err := chromedp.Run(phone, chromedp.Evaluate[float64](`document.documentElement.scrollWidth`))
			if err != nil {
				t.Fatal(err)
			}
			if wide > 360 {
				t.Errorf("%s in %s is %v px wide on a 360 px phone", p, lang, wide)
			}
		}
	}
	desk := browser.User(t, browsertest.Width(1280))
	for _, p := range pages {
		open(t, desk, w.srv.URL+"/language?lang=en&next="+p)
		browser.Axe(t, desk)
	}
	// Printed, the board has no navigation and large type.
	if _, err := chromedp.Call(desk, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"}); err != nil {
		t.Fatal(err)
	}
	nav, err := chromedp.Run(desk, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("header.site nav")).display + " " + getComputedStyle(document.querySelector("footer.site")).display + " " + getComputedStyle(document.querySelector(".board h1")).fontSize`))
	if err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(nav); len(f) != 3 || f[0] != "none" || f[1] != "none" || px(f[2]) < 30 {
		t.Errorf("printed board: navigation %q, footer %q, heading %q; want none, none and large", f[0], f[1], f[2])
	}
	// Printed, the fund report keeps its chart and tables but not the
	// choice of period.
	open(t, desk, w.srv.URL+pages[1])
	shown, err := chromedp.Run(desk, chromedp.Evaluate[string](`["nav.periods", "figure.chart", "table", "header.site nav"].map(s => getComputedStyle(document.querySelector(s)).display).join(" ")`))
	if err != nil {
		t.Fatal(err)
	}
	if shown != "none block table none" {
		t.Errorf("printed fund report: periods, chart, table, navigation are %q; want none block table none", shown)
	}
}

func px(s string) float64 {
	v, _ := strconv.ParseFloat(strings.TrimSuffix(s, "px"), 64)
	return v
}
