package web_test

import (
	"context"
	"fmt"
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

// coordWorld is a time bank (HOUR, credit limit 5) with a coordinator,
// Carmen, and two members, Ana and Ben, with a principal each for what
// the test does outside the pages.
type coordWorld struct {
	*env
	tb                exchange.Org
	carmen, ana, ben  uuid.UUID
	pAna, pBen, pCarm exchange.Principal
}

func newCoordWorld(t *testing.T) *coordWorld {
	t.Helper()
	ctx := context.Background()
	e := newEnv(t)
	if _, err := e.ex.CreateUnit(ctx, e.admin, ledger.Unit{Code: "HOUR", Scale: 2}); err != nil {
		t.Fatal(err)
	}
	w := &coordWorld{env: e, tb: e.timebank("Barrio Norte")}
	if _, _, err := e.ex.SetTimebankRules(ctx, e.admin, w.tb.ID, exchange.TimebankSettings{CreditLimit: decimal.NewFromInt(5)}); err != nil {
		t.Fatal(err)
	}
	_, _, code, err := e.ex.Invite(ctx, e.admin, exchange.NewInvitation{OrgID: w.tb.ID, Role: exchange.RoleCoordinator})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := e.ex.AcceptInvitation(ctx, exchange.Acceptance{Code: code, Name: "Carmen", Address: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	w.carmen = acc.Member.ID
	w.ana, w.ben = e.newMember(w.tb, "Ana"), e.newMember(w.tb, "Ben")
	w.pAna, w.pBen, w.pCarm = e.principal(w.ana), e.principal(w.ben), e.principal(w.carmen)
	return w
}

// principal returns a member's principal, through a token the admin makes.
func (e *env) principal(member uuid.UUID) exchange.Principal {
	e.t.Helper()
	ctx := context.Background()
	_, secret, err := e.ex.CreateToken(ctx, e.admin, member, "test", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	p, err := e.ex.Authenticate(ctx, secret)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// disputed makes an agreement of two hours, Ben giving to Ana, that Ana
// disputes.
func (w *coordWorld) disputed() exchange.Agreement {
	w.t.Helper()
	ctx := context.Background()
	listing := func(p exchange.Principal, kind exchange.ListingKind, title string) exchange.Listing {
		l, err := w.ex.PostListing(ctx, p, exchange.NewListing{OrgID: w.tb.ID, Owner: p.MemberID, Kind: kind, Title: title,
			Description: "Two hours on Saturday.", Category: "repairs", Quantity: decimal.NewFromInt(2),
			Place: exchange.Point{Lat: 17.07, Lon: -96.72}, City: "Oaxaca", Neighborhood: "Centro", Visibility: exchange.VisibilityOrg})
		if err != nil {
			w.t.Fatal(err)
		}
		return l
	}
	offer, need := listing(w.pBen, exchange.Offer, "Bike repair"), listing(w.pAna, exchange.Need, "Fix my bike")
	a, err := w.ex.ProposeAgreement(ctx, w.pBen, exchange.NewAgreement{OfferID: offer.ID, NeedID: need.ID})
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err = w.ex.AcceptAgreement(ctx, w.pAna, a.ID, nil); err != nil {
		w.t.Fatal(err)
	}
	if a, err = w.ex.DisputeAgreement(ctx, w.pAna, a.ID, "He came for one hour, not two"); err != nil {
		w.t.Fatal(err)
	}
	return a
}

// signIn signs a browser in as a member with a code the admin issues.
func (e *env) signIn(ctx context.Context, member uuid.UUID) {
	e.t.Helper()
	_, code, err := e.ex.IssueSigninCode(context.Background(), e.admin, member)
	if err != nil {
		e.t.Fatal(err)
	}
	open(e.t, ctx, e.srv.URL+"/signin?member="+member.String())
	typeInto(e.t, ctx, "f-code", code)
	submit(e.t, ctx, `form[action="/signin/code"] button`)
	if got := location(e.t, ctx); got != "/home" {
		e.t.Fatalf("signing in: at %s", got)
	}
}

// available is an account's available balance.
func (w *coordWorld) available(id uuid.UUID) string {
	w.t.Helper()
	var d decimal.Decimal
	if err := w.db.Pool.QueryRow(context.Background(), "SELECT balance - pending_debits FROM accounts WHERE id = $1", id).Scan(&d); err != nil {
		w.t.Fatal(err)
	}
	return d.String()
}

// hoursOf is a member's time-bank account.
func (w *coordWorld) hoursOf(member uuid.UUID) uuid.UUID {
	w.t.Helper()
	var id uuid.UUID
	if err := w.db.Pool.QueryRow(context.Background(), "SELECT id FROM accounts WHERE owner = $1 AND kind = 'member'", exchange.MemberOwner(member)).Scan(&id); err != nil {
		w.t.Fatal(err)
	}
	return id
}

// wantH1 checks the page's heading against a catalogue message.
func wantH1(t *testing.T, ctx context.Context, lang, id string, args ...string) {
	t.Helper()
	if got, want := text(t, ctx, "h1"), msg(t, lang, id, args...); got != want {
		t.Errorf("h1 = %q, want %q (%s)", got, want, id)
	}
}

// wantFlash checks the flash message.
func wantFlash(t *testing.T, ctx context.Context, id string) {
	t.Helper()
	if got, want := text(t, ctx, ".flash"), msg(t, "en", id); got != want {
		t.Errorf("flash = %q, want %q", got, want)
	}
}

// TestCoordinatorJourney: a coordinator, in a real browser, invites a
// person (and sees the link, the code and the QR code), who joins in a
// second browser; issues them a sign-in code, which signs them in; sets
// their credit limit; acts for Ben to give his hours to the pool (the
// banner says so, and the audit log records both people); grants hours
// from the pool; resolves a dispute; reads the statement and the audit
// log. Refused forms show their error beside the field and write nothing;
// every page passes axe-core, and each is read once in Spanish and French.
func TestCoordinatorJourney(t *testing.T) {
	w := newCoordWorld(t)
	bg := context.Background()
	dispute := w.disputed()
	org := "/coord/" + w.tb.ID.String()
	ctx := browser.User(t)
	w.signIn(ctx, w.carmen)

	// The list of organizations, then the members.
	submit(t, ctx, `header a[href="/coord"]`) // waits for the page, as a click alone does not
	wantH1(t, ctx, "en", "coord.heading")
	browser.Axe(t, ctx)
	submit(t, ctx, `main a[href="`+org+`"]`)
	wantH1(t, ctx, "en", "coord.members_heading", "Org", "Barrio Norte")
	browser.Axe(t, ctx)

	// A refused invitation (a name too long) says why beside the name and
	// writes nothing.
	invitations := w.count("invitations")
	typeInto(t, ctx, "f-name", strings.Repeat("x", 201))
	if st := submit(t, ctx, "main form button[type=submit]"); st != http.StatusUnprocessableEntity {
		t.Errorf("a refused invitation answered %d", st)
	}
	if got, want := text(t, ctx, "#f-name-error"), msg(t, "en", "error.field.name"); got != want {
		t.Errorf("beside the name: %q, want %q", got, want)
	}
	if attr(t, ctx, "#f-name", "aria-invalid") != "true" || w.count("invitations") != invitations {
		t.Errorf("the refused invitation: aria-invalid %q, invitations %d -> %d", attr(t, ctx, "#f-name", "aria-invalid"), invitations, w.count("invitations"))
	}
	browser.Axe(t, ctx)

	// The invitation: its link, its code, its QR code.
	typeInto(t, ctx, "f-name", "Dora")
	if st := submit(t, ctx, "main form button[type=submit]"); st != http.StatusCreated {
		t.Fatalf("inviting answered %d", st)
	}
	wantH1(t, ctx, "en", "coord.invitation_heading", "Org", "Barrio Norte")
	link, code := text(t, ctx, "#invitation-link"), text(t, ctx, "#invitation-code")
	if !strings.HasPrefix(link, w.srv.URL+exchange.InvitationLinkPath) || len(code) < 8 {
		t.Fatalf("the invitation shows link %q, code %q", link, code)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("svg.qr path").length`)); n != 1 {
		t.Errorf("the invitation holds %d QR paths, want 1", n)
	}
	browser.Axe(t, ctx)

	// Dora joins by the link in her own browser.
	dora := browser.User(t)
	open(t, dora, link)
	typeInto(t, dora, "f-name", "Dora")
	submit(t, dora, "main button[type=submit]")
	wantH1(t, dora, "en", "home.heading", "Name", "Dora")
	doraID := w.memberNamed("Dora")

	// Carmen finds her among the members and issues her a sign-in code.
	open(t, ctx, w.srv.URL+org)
	submit(t, ctx, `main a[href="`+org+`/members/`+doraID.String()+`"]`)
	if got := text(t, ctx, "h1"); got != "Dora" {
		t.Errorf("the member page's h1 = %q", got)
	}
	browser.Axe(t, ctx)
	submit(t, ctx, `form[action$="/code"] button`)
	signinCode, signinLink := text(t, ctx, "#signin-code"), text(t, ctx, "#signin-link")
	if signinLink != w.srv.URL+"/signin?member="+doraID.String() {
		t.Errorf("the sign-in link shown is %q", signinLink)
	}
	browser.Axe(t, ctx)
	open(t, dora, signinLink)
	typeInto(t, dora, "f-code", signinCode)
	submit(t, dora, `form[action="/signin/code"] button`)
	if got := location(t, dora); got != "/home" {
		t.Errorf("Dora signing in with the code Carmen issued is at %s", got)
	}

	// Her credit limit: a word is refused beside the field; 8 is set.
	doraHours := w.hoursOf(doraID)
	typeInto(t, ctx, "f-credit_limit", "lots")
	if st := submit(t, ctx, `form[action$="/limit"] button`); st != http.StatusUnprocessableEntity {
		t.Errorf("a credit limit of words answered %d", st)
	}
	if got, want := text(t, ctx, "#f-credit_limit-error"), msg(t, "en", "error.field.credit_limit"); got != want {
		t.Errorf("beside the credit limit: %q, want %q", got, want)
	}
	browser.Axe(t, ctx)
	typeInto(t, ctx, "f-credit_limit", "8")
	submit(t, ctx, `form[action$="/limit"] button`)
	wantFlash(t, ctx, "flash.coord_limit_set")
	var lower decimal.Decimal
	if err := w.db.Pool.QueryRow(bg, "SELECT lower_bound FROM accounts WHERE id = $1", doraHours).Scan(&lower); err != nil || !lower.Equal(decimal.NewFromInt(-8)) {
		t.Errorf("Dora's account's lower bound = %s (%v), want -8", lower, err)
	}

	// Carmen acts for Ben, gives 3 of his hours to the pool, and stops.
	open(t, ctx, w.srv.URL+org+"/members/"+w.ben.String())
	submit(t, ctx, `form[action="/coord/act"] button`)
	if got, want := text(t, ctx, ".acting p"), msg(t, "en", "coord.acting_banner", "Agent", "Carmen", "Name", "Ben"); got != want {
		t.Errorf("the banner says %q, want %q", got, want)
	}
	wantH1(t, ctx, "en", "coord.acting_heading", "Name", "Ben")
	browser.Axe(t, ctx)
	typeInto(t, ctx, "f-amount", "3")
	submit(t, ctx, `form[action="/coord/acting/give"] button`)
	wantFlash(t, ctx, "flash.coord_given")
	if got := w.available(w.hoursOf(w.ben)); got != "-3" {
		t.Errorf("Ben's hours after giving 3: %s", got)
	}
	var actor, onBehalf uuid.UUID
	if err := w.db.Pool.QueryRow(bg, "SELECT actor_id, on_behalf_of FROM audit_events WHERE kind = 'timebank.donation'").Scan(&actor, &onBehalf); err != nil || actor != w.carmen || onBehalf != w.ben {
		t.Errorf("the donation is recorded as by %s for %s (%v), want Carmen for Ben", actor, onBehalf, err)
	}
	// While acting, Carmen's own pages are not hers: the exchange decides
	// as for Ben.
	if st := open(t, ctx, w.srv.URL+org+"/timebank"); st != http.StatusForbidden && st != http.StatusNotFound {
		t.Errorf("the time bank's coordinator page, acting for Ben, answered %d", st)
	}
	submit(t, ctx, ".acting button")
	wantFlash(t, ctx, "flash.coord_acting_stopped")
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(".acting").length`)); n != 0 {
		t.Errorf("the banner stays after stopping")
	}

	// The pool: 3 hours. Granting 100 is refused beside the amount and
	// moves nothing; 2 to Ana are granted. (Carmen's second browser: each
	// browser's steps must end within the harness's time limit.)
	ctx = browser.User(t)
	w.signIn(ctx, w.carmen)
	open(t, ctx, w.srv.URL+org+"/timebank")
	wantH1(t, ctx, "en", "coord.timebank_heading", "Org", "Barrio Norte")
	if got, want := text(t, ctx, "#pool-balance"), msg(t, "en", "coord.pool_balance", "Amount", "3", "Unit", "HOUR"); got != want {
		t.Errorf("the pool: %q, want %q", got, want)
	}
	browser.Axe(t, ctx)
	transfers := w.count("transfers")
	do(t, ctx, chromedp.SetValue(chromedp.ID("f-member_id"), w.ana.String()))
	typeInto(t, ctx, "f-amount", "100")
	if st := submit(t, ctx, `form[action$="/grants"] button`); st != http.StatusUnprocessableEntity {
		t.Errorf("granting more than the pool holds answered %d", st)
	}
	if got, want := text(t, ctx, "#f-amount-error"), msg(t, "en", "error.reason.insufficient_funds"); got != want {
		t.Errorf("beside the amount: %q, want %q", got, want)
	}
	if v, _ := chromedp.Run(ctx, chromedp.Value(chromedp.ID("f-member_id"))); v != w.ana.String() || w.count("transfers") != transfers {
		t.Errorf("after the refused grant: member kept %q, transfers %d -> %d", v, transfers, w.count("transfers"))
	}
	browser.Axe(t, ctx)
	typeInto(t, ctx, "f-amount", "2")
	submit(t, ctx, `form[action$="/grants"] button`)
	wantFlash(t, ctx, "flash.coord_granted")
	if got := w.available(w.hoursOf(w.ana)); got != "0" { // 2 held for the disputed agreement, 2 granted
		t.Errorf("Ana's available hours after the grant: %s, want 0", got)
	}
	typeInto(t, ctx, "f-credit_limit", "6")
	submit(t, ctx, `form[action$="/timebank"] button`)
	wantFlash(t, ctx, "flash.coord_rules_set")
	if r, err := w.ex.TimebankRules(bg, w.pCarm, w.tb.ID); err != nil || !r.CreditLimit.Equal(decimal.NewFromInt(6)) {
		t.Errorf("the rules after saving: %+v %v", r, err)
	}

	// The dispute: a resolution without a note is refused; one hour given
	// settles it.
	open(t, ctx, w.srv.URL+org+"/disputes")
	wantH1(t, ctx, "en", "coord.disputes_heading", "Org", "Barrio Norte")
	browser.Axe(t, ctx)
	submit(t, ctx, `main a[href$="/disputes/`+dispute.ID.String()+`"]`)
	wantH1(t, ctx, "en", "coord.dispute_heading", "Giver", "Ben", "Receiver", "Ana")
	browser.Axe(t, ctx)
	typeInto(t, ctx, "f-quantity", "1")
	if st := submit(t, ctx, "main form button[type=submit]"); st != http.StatusUnprocessableEntity {
		t.Errorf("resolving without a note answered %d", st)
	}
	if got, want := text(t, ctx, "#f-note-error"), msg(t, "en", "error.field.note"); got != want {
		t.Errorf("beside the note: %q, want %q", got, want)
	}
	if a, _ := w.ex.Agreement(bg, w.pCarm, dispute.ID); a.Status != exchange.AgreementDisputed {
		t.Errorf("a refused resolution changed the agreement to %s", a.Status)
	}
	browser.Axe(t, ctx)
	do(t, ctx, chromedp.SendKeys(chromedp.ID("f-note"), "One hour given, both agree"))
	submit(t, ctx, "main form button[type=submit]")
	wantFlash(t, ctx, "flash.coord_resolved")
	if a, err := w.ex.Agreement(bg, w.pCarm, dispute.ID); err != nil || a.Status != exchange.AgreementCompleted {
		t.Errorf("after resolving, the agreement is %s (%v)", a.Status, err)
	}
	if got := w.available(w.hoursOf(w.ben)); got != "-2" {
		t.Errorf("Ben's hours after the resolution: %s, want -2", got)
	}

	// The statement, and a refused period.
	open(t, ctx, w.srv.URL+org+"/statement")
	wantH1(t, ctx, "en", "coord.statement_heading", "Org", "Barrio Norte")
	if body := text(t, ctx, "main"); !strings.Contains(body, "Barrio Norte community pool") {
		t.Errorf("the statement does not show the pool:\n%s", body)
	}
	browser.Axe(t, ctx)
	if st := open(t, ctx, w.srv.URL+org+"/statement?from=2026-02-31"); st != http.StatusUnprocessableEntity {
		t.Errorf("a statement from February 31 answered %d", st)
	}
	if got, want := text(t, ctx, "#f-from-error"), msg(t, "en", "error.field.date"); got != want {
		t.Errorf("beside from: %q, want %q", got, want)
	}
	browser.Axe(t, ctx)

	// The audit log, by member and kind: the donation names both people.
	open(t, ctx, w.srv.URL+org+"/audit?"+url.Values{"member": {w.ben.String()}, "kind": {"timebank"}}.Encode())
	wantH1(t, ctx, "en", "coord.audit_heading", "Org", "Barrio Norte")
	if body := text(t, ctx, "tbody"); !strings.Contains(body, msg(t, "en", "coord.audit_for", "Actor", "Carmen", "Member", "Ben")) || strings.Contains(body, "timebank.grant") {
		t.Errorf("the audit log of Ben's time-bank events:\n%s", body)
	}
	browser.Axe(t, ctx)

	// Each page once in Spanish and in French, in a third browser.
	ctx = browser.User(t)
	w.signIn(ctx, w.carmen)
	pages := []struct {
		path, id string
		args     []string
	}{
		{"/coord", "coord.heading", nil},
		{org, "coord.members_heading", []string{"Org", "Barrio Norte"}},
		{org + "/timebank", "coord.timebank_heading", []string{"Org", "Barrio Norte"}},
		{org + "/disputes", "coord.disputes_heading", []string{"Org", "Barrio Norte"}},
		{org + "/statement", "coord.statement_heading", []string{"Org", "Barrio Norte"}},
		{org + "/audit", "coord.audit_heading", []string{"Org", "Barrio Norte"}},
	}
	for _, lang := range []string{"es", "fr"} {
		open(t, ctx, w.srv.URL+"/language?lang="+lang+"&next=/coord")
		for _, p := range pages {
			if st := open(t, ctx, w.srv.URL+p.path); st != http.StatusOK {
				t.Errorf("%s in %s answered %d", p.path, lang, st)
			}
			wantH1(t, ctx, lang, p.id, p.args...)
		}
		open(t, ctx, w.srv.URL+org+"/members/"+w.ana.String())
		if got, want := text(t, ctx, "#limit-heading"), msg(t, lang, "coord.limit_heading"); got != want {
			t.Errorf("the member page in %s: %q, want %q", lang, got, want)
		}
		submit(t, ctx, `form[action="/coord/act"] button`)
		wantH1(t, ctx, lang, "coord.acting_heading", "Name", "Ana")
		browser.Axe(t, ctx)
		submit(t, ctx, ".acting button")
		open(t, ctx, w.srv.URL+org)
		typeInto(t, ctx, "f-name", "Eva")
		submit(t, ctx, "main form button[type=submit]")
		wantH1(t, ctx, lang, "coord.invitation_heading", "Org", "Barrio Norte")
		browser.Axe(t, ctx)
	}
}

// TestCoordPagesAskTheExchange: a member who coordinates nothing is
// refused the coordinators' pages and their forms, which write nothing;
// a cookie naming a member to act for does not make her act for anyone
// the exchange does not allow.
func TestCoordPagesAskTheExchange(t *testing.T) {
	w := newCoordWorld(t)
	org := w.srv.URL + "/coord/" + w.tb.ID.String()
	c := w.signInByHTTP(w.ana)
	for _, path := range []string{"", "/timebank", "/disputes", "/statement", "/audit", "/members/" + w.ben.String()} {
		if resp, _ := get(t, c, org+path); resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusNotFound {
			t.Errorf("Ana opening %s: %d, want 403 or 404", path, resp.StatusCode)
		}
	}
	transfers, invitations, codes := w.count("transfers"), w.count("invitations"), w.count("signin_codes")
	for path, form := range map[string]url.Values{
		"/grants":                               {"member_id": {w.ana.String()}, "amount": {"1"}},
		"/invitations":                          {"name": {"Mallory"}},
		"/members/" + w.ben.String() + "/code":  nil,
		"/members/" + w.ben.String() + "/limit": {"credit_limit": {"100"}},
	} {
		if resp, _ := post(t, c, org+path, form); resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusNotFound {
			t.Errorf("Ana posting %s: %d, want 403 or 404", path, resp.StatusCode)
		}
	}
	if w.count("transfers") != transfers || w.count("invitations") != invitations || w.count("signin_codes") != codes {
		t.Errorf("refused forms wrote")
	}
	if resp, _ := post(t, c, w.srv.URL+"/coord/act", url.Values{"member": {w.ben.String()}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("Ana asking to act for Ben: %d, want 403", resp.StatusCode)
	}
	// A forged cookie naming Ben (even with her own session's id) is
	// ignored: the exchange refuses, and she stays herself.
	u, _ := url.Parse(w.srv.URL)
	var sess uuid.UUID
	if err := w.db.Pool.QueryRow(context.Background(), "SELECT id FROM sessions WHERE member_id = $1 ORDER BY created_at DESC LIMIT 1", w.ana).Scan(&sess); err != nil {
		t.Fatal(err)
	}
	c.Jar.SetCookies(u, []*http.Cookie{{Name: "mutual_act_for", Value: w.ben.String() + "." + sess.String(), Path: "/"}})
	resp, body := get(t, c, w.srv.URL+"/home")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, htmlEscape(msg(t, "en", "home.heading", "Name", "Ana"))) || strings.Contains(body, `class="acting"`) {
		t.Errorf("with a forged acting cookie, home = %d and is not Ana's own", resp.StatusCode)
	}
}

// TestCoordPagesAtPhoneWidth: the coordinators' pages, with data in them,
// fit a 360 px wide screen without scrolling sideways (wide tables scroll
// in their own box), pass axe-core there, and weigh under 100 KB.
func TestCoordPagesAtPhoneWidth(t *testing.T) {
	w := newCoordWorld(t)
	ctx := context.Background()
	w.disputed()
	if _, err := w.ex.DonateHours(ctx, w.pBen, exchange.TimebankMove{OrgID: w.tb.ID, Amount: decimal.NewFromInt(2), Memo: "For whoever needs them"}); err != nil {
		t.Fatal(err)
	}
	org := "/coord/" + w.tb.ID.String()
	c := w.signInByHTTP(w.carmen)
	b := browser.User(t, browsertest.Width(360))
	w.signIn(b, w.carmen)
	pages := []string{"/coord", org, org + "/members/" + w.ana.String(), org + "/timebank", org + "/disputes", org + "/statement", org + "/audit"}
	for _, p := range pages {
		resp, body := get(t, c, w.srv.URL+p)
		if resp.StatusCode != http.StatusOK || len(body) > 100<<10 {
			t.Errorf("%s: %d, %d bytes", p, resp.StatusCode, len(body))
		}
		open(t, b, w.srv.URL+p)
		if width, err := chromedp.Run(b, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); err != nil || width > 360 {
			t.Errorf("%s is %d px wide at 360 px (%v)", p, width, err)
		}
		browser.Axe(t, b)
	}
	open(t, b, w.srv.URL+org)
	typeInto(t, b, "f-name", "Dora")
	submit(t, b, "main form button[type=submit]")
	if width, _ := chromedp.Run(b, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); width > 360 {
		t.Errorf("the invitation is %d px wide at 360 px", width)
	}
	browser.Axe(t, b)
}

// TestStatementDaysInTheZone: a statement's days are the organization's
// days, as the times on the page are: a donation made now is in the
// statement of today where the organization is, not of today in UTC.
func TestStatementDaysInTheZone(t *testing.T) {
	w := newCoordWorld(t)
	ctx := context.Background()
	// A zone whose date differs from UTC's now: 14 hours ahead in the UTC
	// afternoon, 12 behind in the morning.
	now := time.Now().UTC()
	zone := "Etc/GMT+12"
	if now.Hour() >= 12 {
		zone = "Etc/GMT-14"
	}
	if _, err := w.ex.SetOrgMatching(ctx, w.admin, w.tb.ID, 10, zone); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ex.DonateHours(ctx, w.pBen, exchange.TimebankMove{OrgID: w.tb.ID, Amount: decimal.NewFromInt(2), Memo: "For whoever needs them"}); err != nil {
		t.Fatal(err)
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	there := time.Now().In(loc).Format(time.DateOnly)
	utc := time.Now().UTC().Format(time.DateOnly)
	if there == utc {
		t.Fatalf("the date in %s is UTC's (%s): the test cannot tell them apart", zone, utc)
	}
	c := w.signInByHTTP(w.carmen)
	for day, want := range map[string]bool{there: true, utc: false} {
		resp, body := get(t, c, w.srv.URL+"/coord/"+w.tb.ID.String()+"/statement?"+url.Values{"from": {day}, "to": {day}}.Encode())
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("the statement of %s: %d", day, resp.StatusCode)
		}
		if got := strings.Contains(body, "For whoever needs them"); got != want {
			t.Errorf("the statement of %s (today in %s is %s) shows the donation: %v, want %v", day, zone, there, got, want)
		}
		// The entry is dated as the statement's period counts days.
		if d := time.Now().In(loc); want && !strings.Contains(body, fmt.Sprintf("<td>%s %d, %d</td>", d.Month(), d.Day(), d.Year())) {
			t.Errorf("the statement of %s does not date the donation %s:\n%s", day, there, regexp.MustCompile(`<tr><td>[^<]*</td>`).FindAllString(body, -1))
		}
	}
}
