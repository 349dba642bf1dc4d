package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
)

// count returns how many elements a selector matches on the page.
func countOf(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+quote(sel)+`).length`))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAccountJourney: Zelda, who holds two hours granted from the pool,
// opens My account in a real browser: she sees her three sessions (this
// browser's marked) and signs her phone's out, whose cookie then no longer
// works; leaving her time bank is refused while she holds hours (the
// message says so, in her language, and she stays a member); erasing her
// data, after the page that says what it does, is refused while not
// settled; once the coordinator settles her balance with the pool, the
// erasure is done, she is signed out and told so, and her name is nowhere
// on the coordinator's members page. The pages are read once in Spanish
// and French, and each passes axe-core.
func TestAccountJourney(t *testing.T) {
	w := newCoordWorld(t)
	bg := context.Background()
	zelda := w.newMember(w.tb, "Zelda Okafor")
	if _, err := w.ex.DonateHours(bg, w.pBen, exchange.TimebankMove{OrgID: w.tb.ID, Amount: decimal.NewFromInt(2)}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ex.GrantHours(bg, w.pCarm, exchange.TimebankMove{OrgID: w.tb.ID, MemberID: zelda, Amount: decimal.NewFromInt(2), Memo: "Welcome"}); err != nil {
		t.Fatal(err)
	}
	phone := w.signInByHTTP(zelda)
	ctx := browser.User(t)
	_, code, err := w.ex.IssueSigninCode(bg, w.admin, zelda)
	if err != nil {
		t.Fatal(err)
	}
	open(t, ctx, w.srv.URL+"/signin?member="+zelda.String())
	typeInto(t, ctx, "f-code", code)
	submit(t, ctx, `form[action="/signin/code"] button`)
	if got := location(t, ctx); got != "/home" {
		t.Fatalf("signing in: at %s", got)
	}

	// Her sessions, newest first: this browser's, the phone's, and the one
	// her invitation opened.
	submit(t, ctx, `main a[href="/account"]`)
	wantH1(t, ctx, "en", "account.heading")
	if n, cur := countOf(t, ctx, "table.sessions tbody tr"), countOf(t, ctx, "table.sessions tbody tr.current"); n != 3 || cur != 1 {
		t.Fatalf("the sessions table shows %d sessions, %d current; want 3, 1", n, cur)
	}
	if got, want := text(t, ctx, "table.sessions tbody tr.current td"), msg(t, "en", "account.method.signin_code")+" "+msg(t, "en", "account.this_browser"); got != want {
		t.Errorf("this browser's session reads %q, want %q", got, want)
	}
	browser.Axe(t, ctx)
	submit(t, ctx, "table.sessions tbody tr:not(.current) button")
	wantFlash(t, ctx, "flash.account_session_ended")
	if n := countOf(t, ctx, "table.sessions tbody tr"); n != 2 {
		t.Errorf("after signing the phone out, %d sessions are listed", n)
	}
	if resp, _ := get(t, phone, w.srv.URL+"/home"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/signin") {
		t.Errorf("the phone's home after it was signed out = %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}

	// Leaving is refused while she holds hours; she stays a member.
	if st := submit(t, ctx, `form[action="/account/orgs/`+w.tb.ID.String()+`/leave"] button`); st != http.StatusConflict {
		t.Errorf("leaving while holding hours answered %d", st)
	}
	if got, want := text(t, ctx, ".errors li"), msg(t, "en", "error.reason.balance_not_settled"); got != want {
		t.Errorf("leaving refused says %q, want %q", got, want)
	}
	browser.Axe(t, ctx)
	m, err := w.ex.Member(bg, w.pCarm, zelda)
	if err != nil || len(m.Memberships) != 1 || m.Memberships[0].OrgID != w.tb.ID {
		t.Errorf("after a refused leave, Zelda's memberships are %+v (%v)", m.Memberships, err)
	}

	// The account page in Spanish, the erasure page in French.
	open(t, ctx, w.srv.URL+"/language?lang=es&next=/account")
	wantH1(t, ctx, "es", "account.heading")
	if got, want := text(t, ctx, "#sessions-heading"), msg(t, "es", "account.sessions"); got != want {
		t.Errorf("the sessions heading in Spanish is %q, want %q", got, want)
	}
	browser.Axe(t, ctx)
	open(t, ctx, w.srv.URL+"/language?lang=fr&next=/account/erase")
	wantH1(t, ctx, "fr", "account.erase_heading")
	if got, want := text(t, ctx, "main li:nth-of-type(3)"), msg(t, "fr", "account.erase_books"); got != want {
		t.Errorf("the erasure page in French says %q, want %q", got, want)
	}
	browser.Axe(t, ctx)
	open(t, ctx, w.srv.URL+"/language?lang=en&next=/account")

	// Erasure: the confirmation step, refused while not settled.
	submit(t, ctx, `main a[href="/account/erase"]`)
	wantH1(t, ctx, "en", "account.erase_heading")
	browser.Axe(t, ctx)
	if st := submit(t, ctx, `form[action="/account/erase"] button`); st != http.StatusConflict {
		t.Errorf("erasing while holding hours answered %d", st)
	}
	if got, want := text(t, ctx, ".errors li"), msg(t, "en", "error.reason.not_settled"); got != want {
		t.Errorf("erasure refused says %q, want %q", got, want)
	}
	browser.Axe(t, ctx)
	if got := w.memberNamed("Zelda Okafor"); got != zelda {
		t.Errorf("after a refused erasure, the member named Zelda Okafor is %s", got)
	}

	// The coordinator settles her balance with the pool; now it is done.
	if _, err := w.ex.SettleWithPool(bg, w.pCarm, w.tb.ID, zelda); err != nil {
		t.Fatal(err)
	}
	submit(t, ctx, `form[action="/account/erase"] button`)
	if got := location(t, ctx); got != "/account/erased" {
		t.Fatalf("after erasing, the browser is at %s", got)
	}
	wantH1(t, ctx, "en", "account.erased_heading")
	if n := countOf(t, ctx, `a[href="/account"]`); n != 0 {
		t.Errorf("the erased page still shows the signed-in nav")
	}
	browser.Axe(t, ctx)
	open(t, ctx, w.srv.URL+"/home")
	if got := location(t, ctx); !strings.HasPrefix(got, "/signin") {
		t.Errorf("after erasure, /home leads to %s, not the sign-in page", got)
	}

	var name string
	if err := w.db.Pool.QueryRow(bg, "SELECT name FROM members WHERE id = $1", zelda).Scan(&name); err != nil || !strings.HasPrefix(name, exchange.FormerMemberName+" ") {
		t.Errorf("after erasure, the member's row is named %q (%v)", name, err)
	}

	// Her name is nowhere on the coordinator's members page.
	coord := w.signInByHTTP(w.carmen)
	resp, body := get(t, coord, w.srv.URL+"/coord/"+w.tb.ID.String())
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Ben") {
		t.Fatalf("the members page = %d, or lists no Ben", resp.StatusCode)
	}
	for _, s := range []string{"Zelda", "Okafor"} {
		if strings.Contains(body, s) {
			t.Errorf("the coordinator's members page still holds %q after erasure", s)
		}
	}
}
