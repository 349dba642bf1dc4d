package httpapi_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/httpapi"
)

// TestAuthorizationMatrix calls every route as every kind of caller and
// checks each outcome: no token, a bad token, the owner of the account,
// member or token concerned (Ana), another member of her time bank (Ben), a
// member of another organization (Cam), the time bank's coordinator, the
// co-op's coordinator, and the network admin. A success where the table says
// otherwise is an unauthorized success.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.must(w.transfer(w.ben.token, "to the pool", posting(w.benHours, w.poolHours, "5", "HOUR")), 201)
	callers := []struct {
		name  string
		token string
	}{
		{"none", ""}, {"bad", "mut_" + strings.Repeat("x", 43)},
		{"owner", w.ana.token}, {"same-org member", w.ben.token}, {"other-org member", w.cam.token},
		{"coordinator", w.coordTB.token}, {"other coordinator", w.coordCoop.token}, {"admin", w.admin.token},
	}
	anaPays := func() string {
		return w.must(w.transfer(w.ana.token, "", posting(w.anaHours, w.benHours, "0.01", "HOUR")), 201)["id"].(string)
	}
	anaHolds := func() string {
		return w.must(w.call("POST", "/v1/transfers", w.ana.token, map[string]any{
			"postings": []any{posting(w.anaHours, w.benHours, "0.01", "HOUR")}, "pending": true}), 201)["id"].(string)
	}
	paid := anaPays()
	units, orgs, categories := 0, 0, 0
	// An organization-only need of Ana's in the time bank, and fresh ones to
	// withdraw.
	anaNeed := w.listing(w.ana, w.timebank, exchange.Need, "food", 40, exchange.VisibilityOrg).ID.String()
	anaOffer := func() string {
		return w.listing(w.ana, w.timebank, exchange.Offer, "food", 40, exchange.VisibilityOrg).ID.String()
	}
	// Dora is in the co-op: a stranger to the time bank's coordinator.
	dora := w.member(w.coop, exchange.RoleMember, "Dora")
	anaToken := func() string {
		tok, _, err := w.ex.CreateToken(context.Background(), exchange.Principal{MemberID: w.ana.id}, w.ana.id, "to revoke", nil)
		if err != nil {
			t.Fatal(err)
		}
		return tok.ID.String()
	}
	timebank := "/v1/orgs/" + w.timebank.ID.String()
	eve := w.member(w.timebank, exchange.RoleMember, "Eve")
	w.account(memberOwner(eve), "HOUR", "member", "-20")
	agreementListings := func() (offer, need string) {
		o := w.listing(eve, w.timebank, exchange.Offer, "repairs", 40, exchange.VisibilityOrg)
		n := w.listing(w.ana, w.timebank, exchange.Need, "repairs", 40, exchange.VisibilityOrg)
		return o.ID.String(), n.ID.String()
	}
	// agreement returns a fresh agreement between Eve and Ana in status.
	agreement := func(status string) string {
		offer, need := agreementListings()
		id := w.must(w.call("POST", "/v1/agreements", eve.token, map[string]any{"offer_id": offer, "need_id": need, "quantity": "0.01"}), 201)["id"].(string)
		if status != "proposed" {
			w.must(w.call("POST", "/v1/agreements/"+id+"/accept", w.ana.token, nil), 200)
		}
		if status == "disputed" {
			w.must(w.call("POST", "/v1/agreements/"+id+"/dispute", w.ana.token, map[string]any{"reason": "no show"}), 200)
		}
		return id
	}
	funds := w.fundFixtures()
	// Obligations: the co-op says the time bank owes it a cent; the time
	// bank has dollars to pay with.
	tbUSD := w.account(orgOwner(w.timebank), "USD", "organization", "")
	w.must(w.transfer(w.coordCoop.token, "", posting(w.bankUSD, tbUSD, "100", "USD")), 201)
	obligation := func(confirmed bool) string {
		id := w.must(w.call("POST", "/v1/obligations", w.coordCoop.token, map[string]any{"debtor_org": w.timebank.ID.String(),
			"creditor_account": w.coopUSD, "amount": "0.01", "due_date": "2026-04-30", "reference": "INV-1"}), 201)["id"].(string)
		if confirmed {
			w.must(w.call("POST", "/v1/obligations/"+id+"/confirm", w.coordTB.token, nil), 200)
		}
		return id
	}
	type row struct {
		route string
		call  func(token string) resp
		want  []int // per caller, in the order above
	}
	rows := []row{
		{"GET /healthz", func(tk string) resp { return w.call("GET", "/healthz", tk, nil) }, []int{200, 200, 200, 200, 200, 200, 200, 200}},
		{"GET /readyz", func(tk string) resp { return w.call("GET", "/readyz", tk, nil) }, []int{200, 200, 200, 200, 200, 200, 200, 200}},
		{"GET /metrics", func(tk string) resp { return w.call("GET", "/metrics", tk, nil) }, []int{200, 200, 200, 200, 200, 200, 200, 200}},
		{"GET /openapi.json", func(tk string) resp { return w.call("GET", "/openapi.json", tk, nil) }, []int{200, 200, 200, 200, 200, 200, 200, 200}},
		{"GET /v1/units", func(tk string) resp { return w.call("GET", "/v1/units", tk, nil) }, []int{401, 401, 200, 200, 200, 200, 200, 200}},
		{"POST /v1/units", func(tk string) resp {
			units++
			return w.call("POST", "/v1/units", tk, map[string]any{"code": "U" + strings.Repeat("X", units), "scale": 0})
		}, []int{401, 401, 403, 403, 403, 403, 403, 201}},
		{"POST /v1/accounts", func(tk string) resp {
			return w.call("POST", "/v1/accounts", tk, map[string]any{"owner": memberOwner(w.ana), "org_id": w.timebank.ID.String(), "unit": "USD", "kind": "member"})
		}, []int{401, 401, 403, 403, 403, 201, 403, 201}},
		{"GET /v1/accounts/{id}", func(tk string) resp { return w.call("GET", "/v1/accounts/"+w.anaHours, tk, nil) },
			[]int{401, 401, 200, 404, 404, 200, 404, 200}},
		{"GET /v1/accounts/{id}/entries", func(tk string) resp { return w.call("GET", "/v1/accounts/"+w.anaHours+"/entries", tk, nil) },
			[]int{401, 401, 200, 404, 404, 200, 404, 200}},
		{"GET /v1/accounts/{id}/balance", func(tk string) resp { return w.call("GET", "/v1/accounts/"+w.anaHours+"/balance", tk, nil) },
			[]int{401, 401, 200, 404, 404, 200, 404, 200}},
		{"POST /v1/transfers", func(tk string) resp { return w.transfer(tk, "", posting(w.anaHours, w.benHours, "0.01", "HOUR")) },
			[]int{401, 401, 201, 404, 404, 403, 404, 201}},
		{"POST /v1/transfers", func(tk string) resp { return w.transfer(tk, "", posting(w.poolHours, w.camHours, "0.01", "HOUR")) },
			[]int{401, 401, 404, 404, 404, 201, 404, 201}},
		{"POST /v1/transfers/batch", func(tk string) resp {
			return w.call("POST", "/v1/transfers/batch", tk, map[string]any{"atomic": true, "transfers": []any{
				map[string]any{"postings": []any{posting(w.anaHours, w.benHours, "0.01", "HOUR")}}}})
		}, []int{401, 401, 201, 404, 404, 403, 404, 201}},
		{"GET /v1/transfers/{id}", func(tk string) resp { return w.call("GET", "/v1/transfers/"+paid, tk, nil) },
			[]int{401, 401, 200, 200, 404, 200, 404, 200}},
		{"GET /v1/transfers", func(tk string) resp { return w.call("GET", "/v1/transfers?account="+w.anaHours, tk, nil) },
			[]int{401, 401, 200, 404, 404, 200, 404, 200}},
		{"POST /v1/transfers/{id}/post", func(tk string) resp { return w.call("POST", "/v1/transfers/"+anaHolds()+"/post", tk, nil) },
			[]int{401, 401, 201, 403, 404, 403, 404, 201}},
		{"POST /v1/transfers/{id}/void", func(tk string) resp { return w.call("POST", "/v1/transfers/"+anaHolds()+"/void", tk, nil) },
			[]int{401, 401, 200, 403, 404, 403, 404, 200}},
		{"POST /v1/transfers/{id}/reverse", func(tk string) resp { return w.call("POST", "/v1/transfers/"+anaPays()+"/reverse", tk, nil) },
			[]int{401, 401, 403, 201, 404, 403, 404, 201}},
		{"GET /v1/export/journal", func(tk string) resp { return w.call("GET", "/v1/export/journal", tk, nil) },
			[]int{401, 401, 403, 403, 403, 403, 403, 200}},
		{"GET /v1/export/journal", func(tk string) resp { // the time bank's books, for a period
			return w.call("GET", "/v1/export/journal?org="+w.timebank.ID.String()+"&from=2020-01-01T00:00:00Z", tk, nil)
		}, []int{401, 401, 403, 403, 403, 200, 403, 200}},
		{"POST /v1/orgs", func(tk string) resp {
			orgs++
			return w.call("POST", "/v1/orgs", tk, map[string]any{"name": fmt.Sprintf("Street council %d", orgs), "kind": "council", "parent_id": w.timebank.ID.String()})
		}, []int{401, 401, 403, 403, 403, 201, 403, 201}},
		{"GET /v1/orgs", func(tk string) resp { return w.call("GET", "/v1/orgs", tk, nil) }, []int{401, 401, 200, 200, 200, 200, 200, 200}},
		{"GET /v1/orgs/{id}", func(tk string) resp { return w.call("GET", timebank, tk, nil) }, []int{401, 401, 200, 200, 200, 200, 200, 200}},
		{"POST /v1/orgs/{id}/members", func(tk string) resp {
			return w.call("POST", timebank+"/members", tk, map[string]any{"name": "Newcomer", "email": "new@example.org", "role": "member"})
		}, []int{401, 401, 403, 403, 403, 201, 403, 201}},
		{"POST /v1/orgs/{id}/members", func(tk string) resp { // already a member: the role is set again
			return w.call("POST", timebank+"/members", tk, map[string]any{"member_id": w.ben.id.String(), "role": "member"})
		}, []int{401, 401, 403, 403, 403, 200, 403, 200}},
		{"POST /v1/orgs/{id}/members", func(tk string) resp { // a member the coordinator may not see
			return w.call("POST", timebank+"/members", tk, map[string]any{"member_id": dora.id.String(), "role": "member"})
		}, []int{401, 401, 403, 403, 403, 404, 403, 201}},
		{"POST /v1/orgs/{id}/members", func(tk string) resp { // an admin, on the network
			return w.call("POST", "/v1/orgs/"+w.network.ID.String()+"/members", tk, map[string]any{"name": "Second admin", "role": "admin"})
		}, []int{401, 401, 403, 403, 403, 403, 403, 201}},
		{"GET /v1/orgs/{id}/members", func(tk string) resp { return w.call("GET", timebank+"/members", tk, nil) },
			[]int{401, 401, 403, 403, 403, 200, 403, 200}},
		{"PUT /v1/orgs/{id}/timebank", func(tk string) resp { // the first success opens the pool (201)
			return w.call("PUT", timebank+"/timebank", tk, map[string]any{"credit_limit": "10", "cap": "40"})
		}, []int{401, 401, 403, 403, 404, 201, 404, 200}},
		{"GET /v1/orgs/{id}/timebank", func(tk string) resp { return w.call("GET", timebank+"/timebank", tk, nil) },
			[]int{401, 401, 200, 200, 404, 200, 404, 200}},
		{"POST /v1/orgs/{id}/timebank/donations", func(tk string) resp { // the coordinator has no HOUR account
			return w.call("POST", timebank+"/timebank/donations", tk, map[string]any{"amount": "0.01"})
		}, []int{401, 401, 201, 201, 404, 422, 404, 403}},
		{"POST /v1/orgs/{id}/timebank/grants", func(tk string) resp {
			return w.call("POST", timebank+"/timebank/grants", tk, map[string]any{"member_id": w.ana.id.String(), "amount": "0.01"})
		}, []int{401, 401, 403, 403, 404, 201, 404, 201}},
		{"GET /v1/members/{id}", func(tk string) resp { return w.call("GET", "/v1/members/"+w.ana.id.String(), tk, nil) },
			[]int{401, 401, 200, 404, 404, 200, 404, 200}},
		{"GET /v1/me", func(tk string) resp { return w.call("GET", "/v1/me", tk, nil) }, []int{401, 401, 200, 200, 200, 200, 200, 200}},
		{"POST /v1/tokens", func(tk string) resp {
			return w.call("POST", "/v1/tokens", tk, map[string]any{"member_id": w.ana.id.String(), "name": "for ana"})
		}, []int{401, 401, 201, 404, 404, 201, 404, 201}},
		{"POST /v1/tokens", func(tk string) resp { return w.call("POST", "/v1/tokens", tk, map[string]any{"name": "my own"}) },
			[]int{401, 401, 201, 201, 201, 201, 201, 201}},
		{"DELETE /v1/tokens/{id}", func(tk string) resp { return w.call("DELETE", "/v1/tokens/"+anaToken(), tk, nil) },
			[]int{401, 401, 204, 404, 404, 204, 404, 204}},
		{"GET /v1/categories", func(tk string) resp { return w.call("GET", "/v1/categories", tk, nil) }, []int{401, 401, 200, 200, 200, 200, 200, 200}},
		{"POST /v1/categories", func(tk string) resp {
			categories++
			return w.call("POST", "/v1/categories", tk, map[string]any{"code": "c" + strings.Repeat("x", categories), "name": "C"})
		}, []int{401, 401, 403, 403, 403, 403, 403, 201}},
		{"POST /v1/listings", func(tk string) resp { return w.call("POST", "/v1/listings", tk, listingBody(w.timebank, "offer", nil)) },
			[]int{401, 401, 201, 201, 422, 201, 422, 422}},
		{"GET /v1/listings", func(tk string) resp { return w.call("GET", "/v1/listings", tk, nil) }, []int{401, 401, 200, 200, 200, 200, 200, 200}},
		{"GET /v1/listings/{id}", func(tk string) resp { return w.call("GET", "/v1/listings/"+anaNeed, tk, nil) },
			[]int{401, 401, 200, 200, 404, 200, 404, 200}},
		{"POST /v1/listings/{id}/withdraw", func(tk string) resp { return w.call("POST", "/v1/listings/"+anaOffer()+"/withdraw", tk, nil) },
			[]int{401, 401, 200, 403, 404, 200, 404, 200}},
		{"GET /v1/listings/{id}/matches", func(tk string) resp { return w.call("GET", "/v1/listings/"+anaNeed+"/matches", tk, nil) },
			[]int{401, 401, 200, 200, 404, 200, 404, 200}},
		{"GET /v1/category-relations", func(tk string) resp { return w.call("GET", "/v1/category-relations", tk, nil) },
			[]int{401, 401, 200, 200, 200, 200, 200, 200}},
		{"PUT /v1/category-relations/{need}/{offer}", func(tk string) resp {
			return w.call("PUT", "/v1/category-relations/pets/childcare", tk, map[string]any{"fit": 0.3})
		}, []int{401, 401, 403, 403, 403, 403, 403, 200}},
		{"DELETE /v1/category-relations/{need}/{offer}", func(tk string) resp {
			// The admin's call removes the seeded relation; the others are refused first.
			return w.call("DELETE", "/v1/category-relations/moving/transport", tk, nil)
		}, []int{401, 401, 403, 403, 403, 403, 403, 204}},
		{"GET /v1/orgs/{id}/matching", func(tk string) resp { return w.call("GET", timebank+"/matching", tk, nil) },
			[]int{401, 401, 200, 200, 200, 200, 200, 200}},
		{"PUT /v1/orgs/{id}/matching", func(tk string) resp {
			return w.call("PUT", timebank+"/matching", tk, map[string]any{"max_km": 12, "time_zone": "Europe/Madrid"})
		}, []int{401, 401, 403, 403, 403, 200, 403, 200}},
		{"POST /v1/matching/proposals", func(tk string) resp {
			return w.call("POST", "/v1/matching/proposals", tk, map[string]any{"org_id": w.timebank.ID.String()})
		}, []int{401, 401, 403, 403, 403, 200, 403, 200}},
		{"POST /v1/matching/proposals/send", func(tk string) resp {
			offer, need := agreementListings()
			return w.call("POST", "/v1/matching/proposals/send", tk, map[string]any{"org_id": w.timebank.ID.String(),
				"pairs": []any{map[string]any{"offer_id": offer, "need_id": need, "quantity": "1"}}})
		}, []int{401, 401, 403, 403, 403, 201, 403, 201}},
		// Agreements: Eve (in the time bank) offers, Ana needs; a fresh
		// agreement for each step, so each caller meets it in the state
		// the step needs.
		{"POST /v1/agreements", func(tk string) resp {
			offer, need := agreementListings()
			return w.call("POST", "/v1/agreements", tk, map[string]any{"offer_id": offer, "need_id": need})
		}, []int{401, 401, 201, 403, 404, 403, 404, 403}},
		{"GET /v1/agreements", func(tk string) resp { return w.call("GET", "/v1/agreements", tk, nil) },
			[]int{401, 401, 200, 200, 200, 200, 200, 200}},
		{"GET /v1/agreements/{id}", func(tk string) resp { return w.call("GET", "/v1/agreements/"+agreement("proposed"), tk, nil) },
			[]int{401, 401, 200, 404, 404, 200, 404, 200}},
		{"POST /v1/agreements/{id}/accept", func(tk string) resp {
			return w.call("POST", "/v1/agreements/"+agreement("proposed")+"/accept", tk, nil)
		}, []int{401, 401, 200, 404, 404, 403, 404, 403}},
		{"POST /v1/agreements/{id}/confirm", func(tk string) resp {
			return w.call("POST", "/v1/agreements/"+agreement("accepted")+"/confirm", tk, map[string]any{"quantity": "0.01"})
		}, []int{401, 401, 200, 404, 404, 403, 404, 403}},
		{"POST /v1/agreements/{id}/cancel", func(tk string) resp {
			return w.call("POST", "/v1/agreements/"+agreement("accepted")+"/cancel", tk, nil)
		}, []int{401, 401, 200, 404, 404, 403, 404, 403}},
		{"POST /v1/agreements/{id}/dispute", func(tk string) resp {
			return w.call("POST", "/v1/agreements/"+agreement("accepted")+"/dispute", tk, map[string]any{"reason": "no show"})
		}, []int{401, 401, 200, 404, 404, 403, 404, 403}},
		{"POST /v1/agreements/{id}/resolve", func(tk string) resp {
			return w.call("POST", "/v1/agreements/"+agreement("disputed")+"/resolve", tk, map[string]any{"quantity": "0", "note": "settled"})
		}, []int{401, 401, 403, 404, 404, 200, 404, 200}},
		{"GET /v1/me/notifications", func(tk string) resp { return w.call("GET", "/v1/me/notifications", tk, nil) },
			[]int{401, 401, 200, 200, 200, 200, 200, 200}},
		{"POST /v1/me/notifications/read", func(tk string) resp {
			return w.call("POST", "/v1/me/notifications/read", tk, map[string]any{"up_to": "ffffffff-ffff-ffff-ffff-ffffffffffff"})
		}, []int{401, 401, 200, 200, 200, 200, 200, 200}},
		// Trades: the co-op (the other coordinator's) proposes to the time
		// bank (the coordinator's); a fresh trade for each decision.
		{"POST /v1/trades", func(tk string) resp { return w.call("POST", "/v1/trades", tk, w.coopTradeBody()) },
			[]int{401, 401, 404, 404, 404, 404, 201, 201}},
		{"GET /v1/trades", func(tk string) resp { return w.call("GET", "/v1/trades?org="+w.timebank.ID.String(), tk, nil) },
			[]int{401, 401, 200, 200, 403, 200, 403, 200}},
		func() row {
			id := w.coopTradeToTimebank()
			return row{"GET /v1/trades/{id}", func(tk string) resp { return w.call("GET", "/v1/trades/"+id, tk, nil) },
				[]int{401, 401, 200, 200, 200, 200, 200, 200}}
		}(),
		{"POST /v1/trades/{id}/accept", func(tk string) resp { return w.call("POST", "/v1/trades/"+w.coopTradeToTimebank()+"/accept", tk, nil) },
			[]int{401, 401, 403, 403, 403, 200, 403, 200}},
		{"POST /v1/trades/{id}/decline", func(tk string) resp { return w.call("POST", "/v1/trades/"+w.coopTradeToTimebank()+"/decline", tk, nil) },
			[]int{401, 401, 403, 403, 403, 200, 403, 200}},
		{"POST /v1/trades/{id}/cancel", func(tk string) resp { return w.call("POST", "/v1/trades/"+w.coopTradeToTimebank()+"/cancel", tk, nil) },
			[]int{401, 401, 403, 403, 403, 403, 200, 200}},
		{"GET /v1/orgs/{id}/statement", func(tk string) resp { return w.call("GET", timebank+"/statement", tk, nil) },
			[]int{401, 401, 404, 404, 404, 200, 404, 200}},
		{"GET /v1/orgs/{id}/statement", func(tk string) resp { return w.call("GET", timebank+"/statement?subtree=true", tk, nil) },
			[]int{401, 401, 404, 404, 404, 200, 404, 200}},
		{"GET /v1/orgs/{id}/rollup", func(tk string) resp { return w.call("GET", timebank+"/rollup", tk, nil) },
			[]int{401, 401, 404, 404, 404, 200, 404, 200}},
		{"PUT /v1/orgs/{id}/region", func(tk string) resp {
			return w.call("PUT", "/v1/orgs/"+w.coop.ID.String()+"/region", tk, map[string]any{"region": "eu-west1"})
		}, []int{401, 401, 403, 403, 403, 403, 403, 200}},
		{"POST /v1/obligations", func(tk string) resp {
			return w.call("POST", "/v1/obligations", tk, map[string]any{"debtor_org": w.timebank.ID.String(),
				"creditor_account": w.coopUSD, "amount": "0.01", "due_date": "2026-04-30", "reference": "INV-2"})
		}, []int{401, 401, 404, 404, 404, 404, 201, 201}},
		{"GET /v1/obligations", func(tk string) resp { return w.call("GET", "/v1/obligations?org="+w.timebank.ID.String(), tk, nil) },
			[]int{401, 401, 200, 200, 403, 200, 403, 200}},
		func() row {
			id := obligation(false)
			return row{"GET /v1/obligations/{id}", func(tk string) resp { return w.call("GET", "/v1/obligations/"+id, tk, nil) },
				[]int{401, 401, 200, 200, 200, 200, 200, 200}}
		}(),
		{"POST /v1/obligations/{id}/confirm", func(tk string) resp { return w.call("POST", "/v1/obligations/"+obligation(false)+"/confirm", tk, nil) },
			[]int{401, 401, 403, 403, 403, 200, 403, 200}},
		{"POST /v1/obligations/{id}/dispute", func(tk string) resp {
			return w.call("POST", "/v1/obligations/"+obligation(false)+"/dispute", tk, map[string]any{"reason": "no invoice"})
		}, []int{401, 401, 403, 403, 403, 200, 403, 200}},
		{"POST /v1/obligations/{id}/payments", func(tk string) resp {
			return w.call("POST", "/v1/obligations/"+obligation(true)+"/payments", tk, map[string]any{"from_account": tbUSD, "amount": "0.01"})
		}, []int{401, 401, 404, 404, 404, 201, 404, 201}},
		{"PUT /v1/orgs/{id}/clearing-credit", func(tk string) resp {
			return w.call("PUT", timebank+"/clearing-credit", tk, map[string]any{"account_id": tbUSD})
		}, []int{401, 401, 403, 403, 403, 200, 403, 200}},
		{"POST /v1/clearing/runs", func(tk string) resp {
			return w.call("POST", "/v1/clearing/runs", tk, map[string]any{"org_id": w.timebank.ID.String(), "unit": "USD"})
		}, []int{401, 401, 403, 403, 403, 201, 403, 201}},
		{"POST /v1/funds", func(tk string) resp {
			return w.call("POST", "/v1/funds", tk, map[string]any{"name": "Another fund", "unit": "USD"})
		},
			[]int{401, 401, 403, 403, 403, 403, 403, 201}},
		{"GET /v1/funds", func(tk string) resp { return w.call("GET", "/v1/funds", tk, nil) }, []int{200, 200, 200, 200, 200, 200, 200, 200}},
		{"GET /v1/funds/{id}", func(tk string) resp { return w.call("GET", funds.path(""), tk, nil) }, []int{401, 401, 200, 200, 200, 200, 200, 200}},
		{"POST /v1/funds/{id}/contributions", func(tk string) resp { // from Ana's account, in the time bank's name
			return w.call("POST", funds.path("/contributions"), tk, map[string]any{"from_account": funds.anaUSD, "org_id": w.timebank.ID.String(), "amount": "0.01"})
		}, []int{401, 401, 201, 404, 404, 403, 404, 201}},
		{"POST /v1/funds/{id}/contributions", func(tk string) resp { // from outside the network
			return w.call("POST", funds.path("/contributions"), tk, map[string]any{"source": "A neighbor", "amount": "0.01"})
		}, []int{401, 401, 403, 403, 403, 403, 403, 201}},
		{"POST /v1/funds/{id}/grants", func(tk string) resp { return w.call("POST", funds.path("/grants"), tk, funds.grantBody()) },
			[]int{401, 401, 403, 403, 403, 201, 403, 201}},
		{"PUT /v1/funds/{id}/rules", func(tk string) resp {
			return w.call("PUT", funds.path("/rules"), tk, map[string]any{"quorum": 0, "majority": "simple", "reason": "the assembly asked"})
		}, []int{401, 401, 403, 403, 403, 403, 403, 200}},
		{"GET /v1/funds/{id}/rules/changes", func(tk string) resp { return w.call("GET", funds.path("/rules/changes"), tk, nil) },
			[]int{401, 401, 403, 403, 403, 403, 403, 200}},
		{"GET /v1/funds/{id}/grants", func(tk string) resp { return w.call("GET", funds.path("/grants"), tk, nil) },
			[]int{401, 401, 200, 200, 200, 200, 200, 200}},
		{"GET /v1/funds/{id}/report", func(tk string) resp { return w.call("GET", funds.path("/report"), tk, nil) },
			[]int{200, 200, 200, 200, 200, 200, 200, 200}},
		func() row {
			g := funds.grant(false)
			return row{"GET /v1/grants/{id}", func(tk string) resp { return w.call("GET", g, tk, nil) },
				[]int{401, 401, 404, 404, 404, 200, 404, 200}}
		}(),
		{"POST /v1/grants/{id}/decision", func(tk string) resp {
			return w.call("POST", funds.grant(false)+"/decision", tk, map[string]any{"decision": "approve"})
		}, []int{401, 401, 404, 404, 404, 403, 404, 200}},
		{"POST /v1/grants/{id}/disburse", func(tk string) resp { return w.call("POST", funds.grant(true)+"/disburse", tk, nil) },
			[]int{401, 401, 404, 404, 404, 403, 404, 200}},
		{"POST /v1/grants/{id}/withdraw", func(tk string) resp { return w.call("POST", funds.grant(false)+"/withdraw", tk, nil) },
			[]int{401, 401, 404, 404, 404, 200, 404, 200}},
	}
	for _, r := range w.identityRows() {
		rows = append(rows, row(r))
	}
	for _, r := range w.auditRows() {
		rows = append(rows, row(r))
	}
	for _, r := range w.myRows() {
		rows = append(rows, row(r))
	}
	covered := map[string]bool{}
	for _, r := range rows {
		covered[r.route] = true
		for i, c := range callers {
			got := r.call(c.token)
			if got.status != r.want[i] {
				t.Errorf("%s as %s: %d, want %d: %s", r.route, c.name, got.status, r.want[i], got.body)
			}
		}
	}
	var missing []string
	for _, route := range httpapi.Routes() {
		if !covered[route] {
			missing = append(missing, route)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("routes the matrix does not cover: %v", missing)
	}
}
