package httpapi_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
)

// admitToTimebank admits a new member to org as its coordinator, gives them a token,
// and returns them with the account the admission opened ("" if none).
func (w *world) admitToTimebank(coord actor, org exchange.Org, name string) (actor, string) {
	w.t.Helper()
	body := w.must(w.call("POST", "/v1/orgs/"+org.ID.String()+"/members", coord.token,
		map[string]any{"name": name, "role": "member"}), 201)
	id := uuid.MustParse(body["id"].(string))
	_, secret, err := w.ex.CreateToken(context.Background(), exchange.Principal{MemberID: id}, id, "test", nil)
	if err != nil {
		w.t.Fatal(err)
	}
	account, _ := body["account_id"].(string)
	return actor{id: id, token: secret}, account
}

// accountBounds returns an account's lower and upper bounds as the admin sees them
// ("" for none).
func (w *world) accountBounds(id string) (lower, upper string) {
	w.t.Helper()
	a := w.must(w.call("GET", "/v1/accounts/"+id, w.admin.token, nil), 200)
	lower, _ = a["lower_bound"].(string)
	upper, _ = a["upper_bound"].(string)
	return lower, upper
}

func (w *world) wantHours(what, account, want string) {
	w.t.Helper()
	if posted, _ := w.balance(account); posted != want {
		w.t.Errorf("%s: balance %s, want %s", what, posted, want)
	}
}

func TestTimebankOverHTTP(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	tb := "/v1/orgs/" + w.timebank.ID.String() + "/timebank"

	// No rules yet.
	w.problem(w.call("GET", tb, w.ana.token, nil), 404, "not-found")

	// The coordinator sets a credit limit of 10 h and a cap of 40 h: the
	// first time opens the pool.
	rules := w.must(w.call("PUT", tb, w.coordTB.token, map[string]any{"credit_limit": "10", "cap": "40"}), 201)
	pool := rules["pool_account"].(string)
	if rules["unit"] != "HOUR" || rules["credit_limit"] != "10.00" || rules["cap"] != "40.00" ||
		rules["updated_by"] != w.coordTB.id.String() || rules["pool_balances"].(map[string]any)["posted"] != "0.00" {
		t.Errorf("rules = %v", rules)
	}
	again := w.must(w.call("PUT", tb, w.coordTB.token, map[string]any{"credit_limit": "10", "cap": "40"}), 200)
	if again["pool_account"] != pool {
		t.Errorf("setting the rules again opened pool %v, want %s", again["pool_account"], pool)
	}

	// A new member gets an account with those bounds.
	dana, danaHours := w.admitToTimebank(w.coordTB, w.timebank, "Dana")
	if lower, upper := w.accountBounds(danaHours); lower != "-10.00" || upper != "40.00" {
		t.Fatalf("Dana's account bounds %s..%s, want -10.00..40.00", lower, upper)
	}
	// She may spend down to -10 h and no further.
	w.must(w.transfer(dana.token, "garden help", posting(danaHours, w.benHours, "9.50", "HOUR")), 201)
	p := w.problem(w.transfer(dana.token, "one more", posting(danaHours, w.benHours, "1", "HOUR")), 422, "insufficient-funds")
	if p.Available != "0.50" || p.Requested != "1.00" {
		t.Errorf("overspending: available %q, requested %q; want 0.50 and 1.00", p.Available, p.Requested)
	}
	w.must(w.transfer(dana.token, "the rest", posting(danaHours, w.benHours, "0.50", "HOUR")), 201)
	w.wantHours("Dana at her limit", danaHours, "-10.00")

	// Erin cannot receive beyond the cap.
	erin, erinHours := w.admitToTimebank(w.coordTB, w.timebank, "Erin")
	w.must(w.transfer(w.ana.token, "", posting(w.anaHours, erinHours, "20", "HOUR")), 201)
	p = w.problem(w.transfer(w.ben.token, "", posting(w.benHours, erinHours, "20.01", "HOUR")), 422, "limit-exceeded")
	if p.Available != "20.00" {
		t.Errorf("over the cap: available %q, want 20.00", p.Available)
	}
	w.must(w.transfer(w.ben.token, "", posting(w.benHours, erinHours, "20", "HOUR")), 201)
	w.wantHours("Erin at the cap", erinHours, "40.00")

	// Erin donates 3 h to the pool, once even when she retries.
	donation := map[string]any{"amount": "3", "memo": "for neighbors who cannot give back"}
	d := w.must(w.call("POST", tb+"/donations", erin.token, donation, "Idempotency-Key", "erin-gives-3"), 201)
	replay := w.call("POST", tb+"/donations", erin.token, donation, "Idempotency-Key", "erin-gives-3")
	if w.must(replay, 201)["id"] != d["id"] || replay.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("the retried donation was not replayed: %s", replay.body)
	}
	meta := d["metadata"].(map[string]any)
	if meta["kind"] != "donation" || meta["timebank"] != w.timebank.ID.String() {
		t.Errorf("donation metadata = %v", meta)
	}

	// The coordinator grants 2 h from the pool to Dana, who cannot give back.
	g := w.must(w.call("POST", tb+"/grants", w.coordTB.token,
		map[string]any{"member_id": dana.id.String(), "amount": "2", "memo": "for Dana"}), 201)
	if ps := g["postings"].([]any)[0].(map[string]any); ps["from"] != pool || ps["to"] != danaHours || g["metadata"].(map[string]any)["kind"] != "grant" {
		t.Errorf("grant = %v", g)
	}
	w.wantHours("the donor", erinHours, "37.00")
	w.wantHours("the recipient", danaHours, "-8.00")
	w.wantHours("the pool", pool, "1.00")
	// Members see the pool through the time bank.
	seen := w.must(w.call("GET", tb, w.ana.token, nil), 200)
	if b := seen["pool_balances"].(map[string]any); b["posted"] != "1.00" || b["available"] != "1.00" {
		t.Errorf("the pool as a member sees it: %v", b)
	}

	// A member may not grant; strangers do not see the time bank.
	w.problem(w.call("POST", tb+"/grants", w.ben.token, map[string]any{"member_id": w.ben.id.String(), "amount": "1"}), 403, "forbidden")
	w.problem(w.call("POST", tb+"/grants", w.coordCoop.token, map[string]any{"member_id": w.cam.id.String(), "amount": "1"}), 404, "not-found")
	w.problem(w.call("GET", tb, w.cam.token, nil), 404, "not-found")
	// Over-granting the pool shows what it has and changes nothing.
	p = w.problem(w.call("POST", tb+"/grants", w.coordTB.token, map[string]any{"member_id": dana.id.String(), "amount": "1.01"}), 422, "insufficient-funds")
	if p.Available != "1.00" || p.Account == nil || p.Account.String() != pool {
		t.Errorf("over-grant: available %q on %v, want 1.00 on the pool", p.Available, p.Account)
	}
	// Grants go only to members of the time bank.
	p = w.problem(w.call("POST", tb+"/grants", w.coordTB.token, map[string]any{"member_id": w.cam.id.String(), "amount": "1"}), 422, "not-a-member")
	if !hasField(p, "member_id") {
		t.Errorf("not-a-member names no member_id: %+v", p)
	}
	w.wantHours("the pool after refusals", pool, "1.00")
	w.wantHours("the recipient after refusals", danaHours, "-8.00")

	// A member with two accounts in HOUR says which one.
	second := w.must(w.call("POST", "/v1/accounts", w.coordTB.token, map[string]any{
		"owner": memberOwner(erin), "org_id": w.timebank.ID.String(), "unit": "HOUR", "kind": "member", "name": "second"}), 201)
	if second["lower_bound"] != "-10.00" || second["upper_bound"] != "40.00" {
		t.Errorf("an account opened without bounds did not get the rules': %v", second)
	}
	p = w.problem(w.call("POST", tb+"/donations", erin.token, map[string]any{"amount": "1"}), 422, "no-account")
	if !hasField(p, "account_id") {
		t.Errorf("the ambiguity names no account_id: %+v", p)
	}
	w.must(w.call("POST", tb+"/donations", erin.token, map[string]any{"amount": "1", "account_id": erinHours}), 201)
	w.problem(w.call("POST", tb+"/donations", erin.token, map[string]any{"amount": "1", "account_id": w.anaHours}), 404, "not-found")
	w.wantHours("the pool", pool, "2.00")

	// New limits apply to accounts opened from now on.
	changed := w.must(w.call("PUT", tb, w.coordTB.token, map[string]any{"credit_limit": "5"}), 200)
	if changed["credit_limit"] != "5.00" || changed["cap"] != nil || changed["pool_account"] != pool {
		t.Errorf("changed rules = %v", changed)
	}
	if lower, upper := w.accountBounds(danaHours); lower != "-10.00" || upper != "40.00" {
		t.Errorf("Dana's bounds changed to %s..%s", lower, upper)
	}
	_, finnHours := w.admitToTimebank(w.coordTB, w.timebank, "Finn")
	if lower, upper := w.accountBounds(finnHours); lower != "-5.00" || upper != "" {
		t.Errorf("Finn's bounds %s..%q, want -5.00 and none", lower, upper)
	}
	// An existing member admitted to the time bank gets an account too; a
	// role change does not.
	r := w.must(w.call("POST", "/v1/orgs/"+w.timebank.ID.String()+"/members", w.admin.token,
		map[string]any{"member_id": w.cam.id.String(), "role": "member"}), 201)
	if _, ok := r["account_id"].(string); !ok {
		t.Errorf("admitting Cam opened no account: %v", r)
	}
	r = w.must(w.call("POST", "/v1/orgs/"+w.timebank.ID.String()+"/members", w.admin.token,
		map[string]any{"member_id": w.cam.id.String(), "role": "coordinator"}), 200)
	if _, ok := r["account_id"]; ok {
		t.Errorf("a role change opened an account: %v", r)
	}
}

func TestTimebankRefusesBadInput(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	tb := "/v1/orgs/" + w.timebank.ID.String() + "/timebank"
	w.must(w.call("PUT", tb, w.coordTB.token, map[string]any{"credit_limit": "10", "cap": "40"}), 201)
	for _, c := range []struct {
		name   string
		body   any
		status int
		typ    string
		field  string
	}{
		{"negative limit", map[string]any{"credit_limit": "-1"}, 422, "invalid-request", "credit_limit"},
		{"cap below zero", map[string]any{"credit_limit": "1", "cap": "-1"}, 422, "invalid-request", "cap"},
		{"zero cap", map[string]any{"credit_limit": "1", "cap": "0"}, 422, "invalid-request", "cap"},
		{"too many decimals", map[string]any{"credit_limit": "1.005"}, 422, "too-many-decimals", "credit_limit"},
		{"a number, not a string", map[string]any{"credit_limit": 10}, 422, "validation-failed", "credit_limit"},
		{"no limit", map[string]any{"cap": "40"}, 422, "validation-failed", "credit_limit"},
		{"another unit", map[string]any{"unit": "USD", "credit_limit": "1"}, 422, "invalid-request", "unit"},
		{"unknown field", map[string]any{"credit_limit": "1", "apply_to_everyone": true}, 400, "malformed-request", "apply_to_everyone"},
	} {
		p := w.problem(w.call("PUT", tb, w.coordTB.token, c.body), c.status, c.typ)
		if !hasField(p, c.field) {
			t.Errorf("%s: the problem names no %s: %+v", c.name, c.field, p)
		}
	}
	// An unknown unit, on an organization without rules yet.
	p := w.problem(w.call("PUT", "/v1/orgs/"+w.coop.ID.String()+"/timebank", w.coordCoop.token,
		map[string]any{"unit": "MINUTE", "credit_limit": "1"}), 404, "not-found")
	if !hasField(p, "unit") {
		t.Errorf("unknown unit: the problem names no unit: %+v", p)
	}
	w.problem(w.call("GET", "/v1/orgs/"+w.coop.ID.String()+"/timebank", w.coordCoop.token, nil), 404, "not-found")
	// Nothing changed.
	rules := w.must(w.call("GET", tb, w.coordTB.token, nil), 200)
	if rules["credit_limit"] != "10.00" || rules["cap"] != "40.00" || rules["unit"] != "HOUR" {
		t.Errorf("refused rules changed the time bank: %v", rules)
	}

	for _, c := range []struct {
		name  string
		body  any
		typ   string
		field string
	}{
		{"zero", map[string]any{"amount": "0"}, "non-positive-amount", "amount"},
		{"negative", map[string]any{"amount": "-2"}, "non-positive-amount", "amount"},
		{"too many decimals", map[string]any{"amount": "0.001"}, "too-many-decimals", "amount"},
		{"not a decimal", map[string]any{"amount": "two"}, "validation-failed", "amount"},
		{"bad account id", map[string]any{"amount": "1", "account_id": "nope"}, "validation-failed", "account_id"},
	} {
		p := w.problem(w.call("POST", tb+"/donations", w.ana.token, c.body), 422, c.typ)
		if !hasField(p, c.field) {
			t.Errorf("donation %s: the problem names no %s: %+v", c.name, c.field, p)
		}
	}
	p = w.problem(w.call("POST", tb+"/grants", w.coordTB.token, map[string]any{"amount": "1"}), 422, "validation-failed")
	if !hasField(p, "member_id") {
		t.Errorf("a grant without member_id: %+v", p)
	}
	w.wantHours("Ana after refused donations", w.anaHours, "0.00")
}

// TestTimebankNeedsTheHourUnit: the server does not create HOUR by itself.
func TestTimebankNeedsTheHourUnit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	org := e.org(e.network, exchange.KindTimebank, "New time bank")
	p := e.problem(e.call("PUT", "/v1/orgs/"+org.ID.String()+"/timebank", e.admin.token, map[string]any{"credit_limit": "10"}), 404, "not-found")
	if !hasField(p, "unit") || !strings.Contains(p.Detail, `"HOUR"`) || !strings.Contains(p.Detail, "POST /v1/units") {
		t.Errorf("the problem should say to create the HOUR unit: %+v", p)
	}
	e.unit("HOUR", 2)
	e.must(e.call("PUT", "/v1/orgs/"+org.ID.String()+"/timebank", e.admin.token, map[string]any{"credit_limit": "10"}), 201)
}
