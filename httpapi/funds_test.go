package httpapi_test

import (
	"strings"
	"testing"
)

// fundWorld is the world with a USD fund of the network, money in the
// co-op's account and in Cam's, and a USD account of the time bank to
// receive grants.
type fundWorld struct {
	*world
	fund, fundAccount   string
	camUSD, timebankUSD string
}

func newFundWorld(t *testing.T) *fundWorld {
	w := &fundWorld{world: newWorld(t)}
	f := w.must(w.call("POST", "/v1/funds", w.admin.token, map[string]any{"name": "Solidarity fund", "unit": "USD"}), 201)
	w.fund, w.fundAccount = f["id"].(string), f["account_id"].(string)
	w.camUSD = w.must(w.call("POST", "/v1/accounts", w.admin.token, map[string]any{
		"owner": memberOwner(w.cam), "org_id": w.coop.ID.String(), "unit": "USD", "kind": "member"}), 201)["id"].(string)
	w.timebankUSD = w.account(orgOwner(w.timebank), "USD", "organization", "")
	w.must(w.transfer(w.coordCoop.token, "sales", posting(w.bankUSD, w.coopUSD, "500.00", "USD")), 201)
	w.must(w.transfer(w.coordCoop.token, "wages", posting(w.bankUSD, w.camUSD, "80.00", "USD")), 201)
	return w
}

func (w *fundWorld) path(rest string) string { return "/v1/funds/" + w.fund + rest }

// report fetches the fund's public report without a token.
func (w *fundWorld) report(query string) map[string]any {
	w.t.Helper()
	return w.must(w.call("GET", w.path("/report")+query, "", nil), 200)
}

// TestFundGrantFromRequestToPublicReport follows money through a fund over
// HTTP: an outside donation, an organization's and a member's
// contributions, a grant requested by a local organization, refused to a
// coordinator who does not govern the fund, decided by the admin with a
// tally, disbursed once, and the public report, read without a token,
// listing every inflow and outflow by organization and period, with totals
// that match the ledger.
func TestFundGrantFromRequestToPublicReport(t *testing.T) {
	t.Parallel()
	w := newFundWorld(t)
	contrib := w.path("/contributions")

	// Money from outside, by the fund's governor, retried with its key.
	donation := map[string]any{"source": "Riverside Foundation", "amount": "1000.00", "memo": "yearly gift"}
	first := w.must(w.call("POST", contrib, w.admin.token, donation, "Idempotency-Key", "gift-2026"), 201)
	again := w.call("POST", contrib, w.admin.token, donation, "Idempotency-Key", "gift-2026")
	if again.status != 201 || again.header.Get("Idempotent-Replayed") != "true" || again.object(t)["id"] != first["id"] {
		t.Fatalf("retried donation: %s", again)
	}
	if first["org_id"] != nil || first["source"] != "Riverside Foundation" || first["direction"] != "in" {
		t.Errorf("donation = %v", first)
	}
	w.problem(w.call("POST", contrib, w.coordCoop.token, donation), 403, "forbidden")

	// The co-op gives from its account; Cam gives in the co-op's name.
	coop := w.must(w.call("POST", contrib, w.coordCoop.token, map[string]any{"from_account": w.coopUSD, "amount": "200.00"}), 201)
	if coop["org_id"] != w.coop.ID.String() {
		t.Errorf("co-op contribution credited to %v", coop["org_id"])
	}
	cam := w.must(w.call("POST", contrib, w.cam.token, map[string]any{"from_account": w.camUSD, "org_id": w.coop.ID.String(), "amount": "50.00", "memo": "from the bakery"}), 201)
	if cam["org_id"] != w.coop.ID.String() {
		t.Errorf("Cam's contribution credited to %v", cam["org_id"])
	}

	// Bad contributions are problems and change nothing.
	before := w.report("")
	p := w.problem(w.call("POST", contrib, w.cam.token, map[string]any{"from_account": w.camUSD, "org_id": w.timebank.ID.String(), "amount": "1.00"}), 422, "not-a-member")
	if !hasField(p, "org_id") {
		t.Errorf("not-a-member names %v", p.Errors)
	}
	w.problem(w.call("POST", contrib, w.cam.token, map[string]any{"from_account": w.camUSD, "amount": "1.00"}), 422, "invalid-request")
	w.problem(w.call("POST", contrib, w.cam.token, map[string]any{"from_account": w.camUSD, "org_id": w.coop.ID.String(), "amount": 1}), 422, "validation-failed")
	w.problem(w.call("POST", contrib, w.admin.token, map[string]any{"from_account": w.coopUSD, "source": "X", "amount": "1.00"}), 422, "validation-failed")
	w.problem(w.call("POST", contrib, w.cam.token, map[string]any{"from_account": w.camUSD, "org_id": w.coop.ID.String(), "amount": "1.00", "donor": "Cam"}), 400, "malformed-request")
	w.problem(w.call("POST", contrib, w.cam.token, map[string]any{"from_account": w.camUSD, "org_id": w.coop.ID.String(), "amount": "30.01"}), 422, "insufficient-funds")
	w.problem(w.call("POST", contrib, w.cam.token, map[string]any{"from_account": w.coopUSD, "amount": "1.00"}), 404, "not-found")
	if after := w.report(""); after["balance"] != before["balance"] || len(after["movements"].([]any)) != 3 {
		t.Fatalf("refused contributions changed the fund: %v → %v", before["balance"], after["balance"])
	}
	if posted, _ := w.balance(w.camUSD); posted != "30.00" {
		t.Errorf("Cam's balance = %s, want 30.00", posted)
	}

	// The time bank asks for a grant; a member of it may not.
	grantBody := map[string]any{"org_id": w.timebank.ID.String(), "amount": "600.00", "purpose": "Rides to the clinic", "to_account": w.timebankUSD}
	w.problem(w.call("POST", w.path("/grants"), w.ana.token, grantBody), 403, "forbidden")
	p = w.problem(w.call("POST", w.path("/grants"), w.coordTB.token, map[string]any{"org_id": w.timebank.ID.String(), "amount": "600.00", "purpose": "x", "to_account": w.coopUSD}), 422, "invalid-request")
	if !hasField(p, "to_account") {
		t.Errorf("a grant to another organization's account names %v", p.Errors)
	}
	g := w.must(w.call("POST", w.path("/grants"), w.coordTB.token, grantBody), 201)
	grant := "/v1/grants/" + g["id"].(string)
	if g["status"] != "requested" || g["requested_by"] != w.coordTB.id.String() || g["decided_by"] != nil {
		t.Errorf("grant = %v", g)
	}

	// Only the fund's governors decide: the time bank's coordinator sees
	// the request but may not decide it, the co-op's does not see it.
	decision := map[string]any{"decision": "approve", "note": "Assembly of 1 March", "votes": map[string]any{"for": 12, "against": 3, "abstain": 1}}
	w.problem(w.call("POST", grant+"/decision", w.coordTB.token, decision), 403, "forbidden")
	w.problem(w.call("POST", grant+"/decision", w.coordCoop.token, decision), 404, "not-found")
	w.problem(w.call("POST", grant+"/decision", w.admin.token, map[string]any{"decision": "maybe"}), 422, "validation-failed")
	w.problem(w.call("POST", grant+"/decision", w.admin.token, map[string]any{"decision": "approve", "votes": map[string]any{"for": -1, "against": 0, "abstain": 0}}), 422, "validation-failed")
	w.problem(w.call("POST", grant+"/disburse", w.admin.token, nil), 409, "grant-status")
	d := w.must(w.call("POST", grant+"/decision", w.admin.token, decision), 200)
	if d["status"] != "approved" || d["decided_by"] != w.admin.id.String() || d["decided_at"] != "2026-03-01T09:00:00Z" ||
		d["votes"].(map[string]any)["for"] != 12.0 {
		t.Errorf("decision = %v", d)
	}
	w.problem(w.call("POST", grant+"/decision", w.admin.token, decision), 409, "grant-status")

	// Disbursed once, by a governor.
	w.problem(w.call("POST", grant+"/disburse", w.coordTB.token, nil), 403, "forbidden")
	paid := w.call("POST", grant+"/disburse", w.admin.token, nil)
	g = w.must(paid, 200)
	transfer, _ := g["transfer_id"].(string)
	if g["status"] != "disbursed" || transfer == "" || paid.header.Get("Location") != "/v1/transfers/"+transfer {
		t.Fatalf("disbursed grant = %v, Location %q", g, paid.header.Get("Location"))
	}
	w.problem(w.call("POST", grant+"/disburse", w.admin.token, nil), 409, "grant-status")

	// A second grant larger than what is left is refused by the ledger and
	// stays approved.
	big := w.must(w.call("POST", w.path("/grants"), w.coordTB.token, map[string]any{
		"org_id": w.timebank.ID.String(), "amount": "651.00", "purpose": "A van", "to_account": w.timebankUSD}), 201)
	bigPath := "/v1/grants/" + big["id"].(string)
	w.must(w.call("POST", bigPath+"/decision", w.admin.token, map[string]any{"decision": "approve"}), 200)
	w.problem(w.call("POST", bigPath+"/disburse", w.admin.token, nil), 422, "insufficient-funds")
	if got := w.must(w.call("GET", bigPath, w.coordTB.token, nil), 200); got["status"] != "approved" || got["transfer_id"] != nil {
		t.Errorf("refused disbursement left the grant %v", got["status"])
	}

	// The public report, without a token.
	r := w.report("")
	fundPosted, _ := w.balance(w.fundAccount)
	tbPosted, _ := w.balance(w.timebankUSD)
	totals := r["totals"].(map[string]any)
	if r["balance"] != "650.00" || fundPosted != "650.00" || r["reconciled"] != true || r["recorded"] != "650.00" ||
		totals["in"] != "1250.00" || totals["out"] != "600.00" || tbPosted != totals["out"] {
		t.Errorf("report balance %v (ledger %s), recorded %v, reconciled %v, totals %v; time bank holds %s",
			r["balance"], fundPosted, r["recorded"], r["reconciled"], totals, tbPosted)
	}
	periods := r["periods"].([]any)
	if len(periods) != 1 {
		t.Fatalf("periods = %v", periods)
	}
	march := periods[0].(map[string]any)
	inflows, outflows := march["inflows"].([]any), march["outflows"].([]any)
	if march["period"] != "2026-03" || march["in"] != "1250.00" || march["out"] != "600.00" || len(inflows) != 2 || len(outflows) != 1 {
		t.Fatalf("March = %v", march)
	}
	outside, coopIn := inflows[0].(map[string]any), inflows[1].(map[string]any)
	if outside["name"] != "Riverside Foundation" || outside["org_id"] != nil || outside["amount"] != "1000.00" ||
		coopIn["name"] != "Bread co-op" || coopIn["org_id"] != w.coop.ID.String() || coopIn["amount"] != "250.00" || coopIn["count"] != 2.0 {
		t.Errorf("inflows = %v", inflows)
	}
	out := outflows[0].(map[string]any)
	grants, _ := out["grants"].([]any)
	if out["name"] != "Riverside time bank" || out["amount"] != "600.00" || len(grants) != 1 {
		t.Fatalf("outflows = %v", outflows)
	}
	pg := grants[0].(map[string]any)
	votes, _ := pg["votes"].(map[string]any)
	if pg["purpose"] != "Rides to the clinic" || pg["decided_by"] != "admin" || pg["decided_at"] != "2026-03-01T09:00:00Z" ||
		pg["transfer_id"] != transfer || votes["for"] != 12.0 || votes["against"] != 3.0 || votes["abstain"] != 1.0 {
		t.Errorf("paid grant = %v", pg)
	}
	if ms := r["movements"].([]any); len(ms) != 4 {
		t.Errorf("%d movements, want 4", len(ms))
	}
	for _, secret := range []string{w.cam.id.String(), "Cam", w.camUSD} {
		if strings.Contains(w.call("GET", w.path("/report"), "", nil).String(), secret) {
			t.Errorf("the public report names the contributing member (%s)", secret)
		}
	}

	// Periods and ranges; bad queries are problems.
	if y := w.report("?period=year"); y["periods"].([]any)[0].(map[string]any)["period"] != "2026" {
		t.Errorf("yearly report = %v", y["periods"])
	}
	if later := w.report("?from=2026-04-01T00:00:00Z"); len(later["movements"].([]any)) != 0 || later["totals"].(map[string]any)["in"] != "0.00" || later["balance"] != "650.00" {
		t.Errorf("report from April = %v", later)
	}
	w.problem(w.call("GET", w.path("/report?period=week"), "", nil), 400, "malformed-request")
	w.problem(w.call("GET", w.path("/report?from=yesterday"), "", nil), 400, "malformed-request")
	w.problem(w.call("GET", "/v1/funds/0193a5b0-7c1e-7d2a-9c4b-3f1e2d4c5b6a/report", "", nil), 404, "not-found")
}

// TestFundCreationAndGrantLists checks who may create funds, that bad
// requests create nothing, and who sees which grant requests.
func TestFundCreationAndGrantLists(t *testing.T) {
	t.Parallel()
	w := newFundWorld(t)
	w.problem(w.call("POST", "/v1/funds", w.coordTB.token, map[string]any{"name": "Mine", "unit": "USD"}), 403, "forbidden")
	w.problem(w.call("POST", "/v1/funds", w.admin.token, map[string]any{"unit": "USD"}), 422, "validation-failed")
	w.problem(w.call("POST", "/v1/funds", w.admin.token, map[string]any{"name": "Euros", "unit": "EUR"}), 404, "not-found")
	// A coordinator may create a fund of their own organization.
	tb := w.must(w.call("POST", "/v1/funds", w.coordTB.token, map[string]any{"name": "Time bank fund", "unit": "USD", "org_id": w.timebank.ID.String()}), 201)
	if tb["org_id"] != w.timebank.ID.String() {
		t.Errorf("fund = %v", tb)
	}
	list := w.must(w.call("GET", "/v1/funds", "", nil), 200)["items"].([]any)
	if len(list) != 2 {
		t.Errorf("%d funds, want 2", len(list))
	}

	// The time bank and the co-op each ask; each coordinator sees their
	// own, the admin both.
	w.must(w.call("POST", w.path("/grants"), w.coordTB.token, map[string]any{
		"org_id": w.timebank.ID.String(), "amount": "10.00", "purpose": "Rides", "to_account": w.timebankUSD}), 201)
	co := w.must(w.call("POST", w.path("/grants"), w.coordCoop.token, map[string]any{
		"org_id": w.coop.ID.String(), "amount": "20.00", "purpose": "Oven", "to_account": w.coopUSD}), 201)
	for _, c := range []struct {
		name  string
		token string
		want  int
	}{{"admin", w.admin.token, 2}, {"time bank coordinator", w.coordTB.token, 1}, {"co-op coordinator", w.coordCoop.token, 1}, {"member", w.ana.token, 0}} {
		items := w.must(w.call("GET", w.path("/grants"), c.token, nil), 200)["items"].([]any)
		if len(items) != c.want {
			t.Errorf("%s sees %d grant requests, want %d", c.name, len(items), c.want)
		}
	}
	// The co-op withdraws its request; the time bank's coordinator may not.
	coPath := "/v1/grants/" + co["id"].(string)
	w.problem(w.call("POST", coPath+"/withdraw", w.coordTB.token, nil), 404, "not-found")
	if got := w.must(w.call("POST", coPath+"/withdraw", w.coordCoop.token, nil), 200); got["status"] != "withdrawn" {
		t.Errorf("withdrawn grant = %v", got)
	}
	w.problem(w.call("POST", coPath+"/withdraw", w.coordCoop.token, nil), 409, "grant-status")
}

// fundFixtures are what the authorization matrix calls the fund routes
// with: the network's fund with money from outside, Ana's USD account with
// money, and the time bank's USD account grants are paid into.
type fundFixtures struct {
	w                   *world
	fund, anaUSD, tbUSD string
}

func (w *world) fundFixtures() *fundFixtures {
	w.t.Helper()
	f := &fundFixtures{w: w}
	f.fund = w.must(w.call("POST", "/v1/funds", w.admin.token, map[string]any{"name": "Matrix fund", "unit": "USD"}), 201)["id"].(string)
	w.must(w.call("POST", f.path("/contributions"), w.admin.token, map[string]any{"source": "Riverside Foundation", "amount": "1000.00"}), 201)
	f.anaUSD = w.account(memberOwner(w.ana), "USD", "member", "")
	w.must(w.transfer(w.admin.token, "", posting(w.bankUSD, f.anaUSD, "100.00", "USD")), 201)
	f.tbUSD = w.account(orgOwner(w.timebank), "USD", "organization", "")
	return f
}

func (f *fundFixtures) path(rest string) string { return "/v1/funds/" + f.fund + rest }

// grantBody is a request of the time bank for a grant.
func (f *fundFixtures) grantBody() map[string]any {
	return map[string]any{"org_id": f.w.timebank.ID.String(), "amount": "0.01", "purpose": "Rides", "to_account": f.tbUSD}
}

// grant returns the path of a fresh grant request of the time bank,
// approved by the admin if asked.
func (f *fundFixtures) grant(approved bool) string {
	f.w.t.Helper()
	g := "/v1/grants/" + f.w.must(f.w.call("POST", f.path("/grants"), f.w.coordTB.token, f.grantBody()), 201)["id"].(string)
	if approved {
		f.w.must(f.w.call("POST", g+"/decision", f.w.admin.token, map[string]any{"decision": "approve"}), 200)
	}
	return g
}
