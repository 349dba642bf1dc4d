package httpapi_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
)

// TestRollupOverHTTP: the federation's coordinator rolls up its five
// organizations, now and at a past instant; each child's total is the
// balance of its accounts as GET /v1/accounts/{id}/balance gives it, and
// the federation's total their sum. A coordinator of one co-op asking for
// the federation gets 404, like an organization that does not exist.
func TestRollupOverHTTP(t *testing.T) {
	t.Parallel()
	c := newCoops(t) // at 09:00: 1000 kg to the orchard, 500 USD to the kitchen, 300 kg to the parks
	fed := c.kitchen.ParentID.String()
	vera := c.member(exchange.Org{ID: *c.kitchen.ParentID}, exchange.RoleCoordinator, "Vera")
	c.clock.Advance(time.Hour) // 10:00
	past := c.clock.Now()
	c.clock.Advance(time.Hour) // 11:00
	c.must(c.transfer(c.carla.token, "to the kitchen", posting(c.orchardKG, c.kitchenKG, "120.5", "KG_PRODUCE")), 201)
	c.must(c.transfer(c.mara.token, "to the garden", posting(c.parksKG, c.gardenKG, "40", "KG_PRODUCE")), 201)
	c.clock.Advance(time.Minute)

	// accounts of each child organization, by unit, as the test opened them.
	accounts := map[string]map[string][]string{
		c.orchard.ID.String(): {"KG_PRODUCE": {c.orchardKG, c.open(c.orchard, "KG_PRODUCE", "organization", "Spare")}, "USD": {c.orchardUSD}},
		c.kitchen.ID.String(): {"KG_PRODUCE": {c.kitchenKG}, "USD": {c.kitchenUSD}},
		c.parks.ID.String():   {"KG_PRODUCE": {c.parksKG}},
		c.garden.ID.String():  {"KG_PRODUCE": {c.gardenKG}},
	}
	// The external accounts the starting values came from belong to the
	// orchard, the kitchen and the parks too; the roll-up counts them.
	for _, a := range c.must(c.call("GET", "/v1/orgs/"+fed+"/statement?subtree=true", vera.token, nil), 200)["accounts"].([]any) {
		acc := a.(map[string]any)
		if acc["kind"] == "external" {
			byUnit := accounts[acc["org_id"].(string)]
			byUnit[acc["unit"].(string)] = append(byUnit[acc["unit"].(string)], acc["id"].(string))
		}
	}
	balance := func(id, at string) decimal.Decimal {
		t.Helper()
		path := "/v1/accounts/" + id + "/balance"
		if at != "" {
			path += "?at=" + at
		}
		return decimal.RequireFromString(c.must(c.call("GET", path, c.admin.token, nil), 200)["balance"].(string))
	}
	for _, at := range []string{"", past.Format(time.RFC3339)} {
		path := "/v1/orgs/" + fed + "/rollup"
		if at != "" {
			path += "?at=" + at
		}
		r := c.must(c.call("GET", path, vera.token, nil), 200)
		if r["orgs"] != 6.0 || len(r["own"].([]any)) != 0 {
			t.Errorf("%s: %v organizations, own %v; want 6 and none", path, r["orgs"], r["own"])
		}
		total := map[string]decimal.Decimal{}
		for _, ch := range r["children"].([]any) {
			child := ch.(map[string]any)
			id := child["org"].(map[string]any)["id"].(string)
			want := map[string]decimal.Decimal{}
			for unit, ids := range accounts[id] {
				for _, a := range ids {
					want[unit] = want[unit].Add(balance(a, at))
				}
			}
			for _, u := range child["totals"].([]any) {
				ut := u.(map[string]any)
				unit := ut["unit"].(string)
				got := decimal.RequireFromString(ut["balance"].(string))
				if !got.Equal(want[unit]) || ut["accounts"] != float64(len(accounts[id][unit])) {
					t.Errorf("%s: %s holds %s %s in %v accounts, want %s in %d", path, child["org"].(map[string]any)["name"], got, unit,
						ut["accounts"], want[unit], len(accounts[id][unit]))
				}
				total[unit] = total[unit].Add(got)
			}
		}
		for _, u := range r["totals"].([]any) {
			ut := u.(map[string]any)
			if got := decimal.RequireFromString(ut["balance"].(string)); !got.Equal(total[ut["unit"].(string)]) {
				t.Errorf("%s: the federation's %s total is %s, its children's sum %s", path, ut["unit"], got, total[ut["unit"].(string)])
			}
		}
	}
	c.problem(c.call("GET", "/v1/orgs/"+fed+"/rollup", c.bruno.token, nil), 404, "not-found")
	c.must(c.call("GET", "/v1/orgs/"+c.kitchen.ID.String()+"/rollup", c.bruno.token, nil), 200)
	c.problem(c.call("GET", "/v1/orgs/"+fed+"/rollup?at=yesterday", vera.token, nil), 400, "malformed-request")
	c.problem(c.call("GET", "/v1/orgs/"+fed+"/rollup?at=2099-01-01T00:00:00Z", vera.token, nil), 422, "invalid-request")
	c.problem(c.call("GET", "/v1/orgs/"+fed+"/statement?subtree=maybe", vera.token, nil), 400, "malformed-request")
}

// TestOrgRegions: a child made without a region takes its parent's; only
// the admin moves an organization, and its children that shared the
// region move with it.
func TestOrgRegions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	city := e.must(e.call("POST", "/v1/orgs", e.admin.token, map[string]any{
		"name": "Lyon", "kind": "local", "parent_id": e.network.ID.String(), "region": "eu-west1"}), 201)
	coop := e.must(e.call("POST", "/v1/orgs", e.admin.token, map[string]any{
		"name": "Pain", "kind": "coop", "parent_id": city["id"]}), 201)
	if city["region"] != "eu-west1" || coop["region"] != "eu-west1" {
		t.Errorf("regions: city %v, its co-op %v; want eu-west1 for both", city["region"], coop["region"])
	}
	e.problem(e.call("POST", "/v1/orgs", e.admin.token, map[string]any{
		"name": "Bad", "kind": "coop", "parent_id": city["id"], "region": "Europe West"}), 422, "invalid-request")
	coord := e.member(exchange.Org{ID: uuid.MustParse(city["id"].(string))}, exchange.RoleCoordinator, "Louise")
	region := "/v1/orgs/" + city["id"].(string) + "/region"
	e.problem(e.call("PUT", region, coord.token, map[string]any{"region": "eu-central1"}), 403, "forbidden")
	e.problem(e.call("PUT", region, e.admin.token, map[string]any{}), 422, "validation-failed")
	moved := e.must(e.call("PUT", region, e.admin.token, map[string]any{"region": "eu-central1"}), 200)
	child := e.must(e.call("GET", "/v1/orgs/"+coop["id"].(string), e.admin.token, nil), 200)
	if moved["region"] != "eu-central1" || child["region"] != "eu-central1" {
		t.Errorf("after the move: city %v, co-op %v; want eu-central1", moved["region"], child["region"])
	}
}
