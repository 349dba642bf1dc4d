package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

// TestNoticesInTheirLanguageAndZone: a grant's news reaches Carmen, the
// time bank's coordinator, said in her language from the catalogue with
// its amount in the language's digits, its purpose and the decision's
// note, not in the exchange's English; the time beside it is in her time
// bank's time zone, named. A notification of the time before parameters
// were kept is shown by its English text.
func TestNoticesInTheirLanguageAndZone(t *testing.T) {
	w := newCoordWorld(t)
	ctx := context.Background()
	if _, err := w.ex.CreateUnit(ctx, w.admin, ledger.Unit{Code: "USD", Scale: 2}); err != nil {
		t.Fatal(err)
	}
	fund, err := w.ex.CreateFund(ctx, w.admin, exchange.NewFund{Name: "Solidarity fund", Unit: "USD"})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := w.ex.OpenAccount(ctx, w.admin, ledger.NewAccount{Unit: "USD", Owner: exchange.OrgOwner(w.tb.ID), Kind: ledger.KindOrganization, Name: "USD"}, w.tb.ID)
	if err != nil {
		t.Fatal(err)
	}
	g, err := w.ex.RequestGrant(ctx, w.pCarm, exchange.NewGrant{FundID: fund.ID, OrgID: w.tb.ID, Amount: decimal.RequireFromString("1400.00"),
		Purpose: "Tools for the repair café", ToAccount: acc.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.ex.DecideGrant(ctx, w.admin, exchange.GrantDecision{GrantID: g.ID, Approve: true, Note: "Voted on Tuesday",
		Votes: &exchange.GrantVotes{For: 9, Against: 2, Abstain: 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ex.SetOrgMatching(ctx, w.admin, w.tb.ID, 10, "America/Mexico_City"); err != nil {
		t.Fatal(err)
	}
	c := w.signInByHTTP(w.carmen)
	for lang, amount := range map[string]string{"en": "1,400.00", "es": "1400,00", "fr": "1\u202f400,00"} {
		resp, body := get(t, c, w.srv.URL+"/home", "Accept-Language", lang)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s home: %d", lang, resp.StatusCode)
		}
		want := msg(t, lang, "home.notice.grant_approved", "Amount", msg(t, lang, "amount.unit", "Amount", amount, "Unit", "USD"),
			"Purpose", "Tools for the repair café")
		want = strings.Replace(strings.Replace(want, "{{if .Note}} {{.Note}}{{end}}", " Voted on Tuesday", 1), "{{if .Note}}", "", 1)
		if !strings.Contains(body, htmlEscape(want)) {
			t.Errorf("%s home does not say %q:\n%s", lang, want, body[strings.Index(body, "notices-heading"):])
		}
		if strings.Contains(body, "was approved: Voted") {
			t.Errorf("%s home shows the exchange's English text", lang)
		}
		if !strings.Contains(body, "(America/Mexico_City)") || strings.Contains(body, "(UTC)") {
			t.Errorf("%s home does not show times in the time bank's zone", lang)
		}
	}

	// A notification written before parameters were kept is shown as the
	// exchange wrote it.
	if _, err := w.db.Pool.Exec(ctx, `UPDATE notifications SET params = NULL WHERE member_id = $1 AND kind = 'grant_approved'`, w.carmen); err != nil {
		t.Fatal(err)
	}
	if _, body := get(t, c, w.srv.URL+"/home", "Accept-Language", "es"); !strings.Contains(body, htmlEscape(`the grant of 1400 USD for "Tools for the repair café" was approved: Voted on Tuesday`)) {
		t.Errorf("a notification without parameters is not shown by its text")
	}
}
