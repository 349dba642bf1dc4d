package httpapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/mutual-ledger/mutual/exchange"
)

// coops is two co-ops trading produce for money, a municipal department
// that gives produce to a community garden, and their people.
type coops struct {
	*env
	orchard, kitchen, parks, garden, bakery exchange.Org
	carla, bruno, bea, mara, gus, stranger  actor // coordinators of each, but bea: a plain member of the kitchen
	orchardKG, orchardUSD                   string
	kitchenKG, kitchenUSD                   string
	parksKG, gardenKG                       string
}

func newCoops(t *testing.T) *coops {
	e := newEnv(t)
	c := &coops{env: e}
	local := e.org(e.network, exchange.KindLocal, "Valley federation")
	c.orchard = e.org(local, exchange.KindCoop, "Orchard co-op")
	c.kitchen = e.org(local, exchange.KindCoop, "Kitchen co-op")
	c.bakery = e.org(local, exchange.KindCoop, "Bakery co-op")
	c.parks = e.org(local, exchange.KindMunicipality, "Parks department")
	c.garden = e.org(local, exchange.KindCouncil, "Community garden")
	c.carla = e.member(c.orchard, exchange.RoleCoordinator, "Carla")
	c.bruno = e.member(c.kitchen, exchange.RoleCoordinator, "Bruno")
	c.bea = e.member(c.kitchen, exchange.RoleMember, "Bea")
	c.mara = e.member(c.parks, exchange.RoleCoordinator, "Mara")
	c.gus = e.member(c.garden, exchange.RoleCoordinator, "Gus")
	c.stranger = e.member(c.bakery, exchange.RoleCoordinator, "Stan")
	e.unit("KG_PRODUCE", 1)
	e.unit("USD", 2)
	c.orchardKG = c.open(c.orchard, "KG_PRODUCE", "organization", "Orchard produce")
	c.orchardUSD = c.open(c.orchard, "USD", "organization", "Orchard cash")
	c.kitchenKG = c.open(c.kitchen, "KG_PRODUCE", "organization", "Kitchen pantry")
	c.kitchenUSD = c.open(c.kitchen, "USD", "organization", "Kitchen cash")
	c.parksKG = c.open(c.parks, "KG_PRODUCE", "organization", "Parks harvest")
	c.gardenKG = c.open(c.garden, "KG_PRODUCE", "organization", "Garden stores")
	// What each starts with comes from outside the ledger, through the
	// organizations' external accounts.
	harvest := c.open(c.orchard, "KG_PRODUCE", "external", "Orchard harvest")
	bank := c.open(c.kitchen, "USD", "external", "Kitchen bank")
	parksHarvest := c.open(c.parks, "KG_PRODUCE", "external", "Parks harvest in")
	e.must(e.transfer(c.carla.token, "harvest", posting(harvest, c.orchardKG, "1000", "KG_PRODUCE")), 201)
	e.must(e.transfer(c.bruno.token, "deposit", posting(bank, c.kitchenUSD, "500", "USD")), 201)
	e.must(e.transfer(c.mara.token, "harvest", posting(parksHarvest, c.parksKG, "300", "KG_PRODUCE")), 201)
	return c
}

// open opens an account of an organization as the admin.
func (c *coops) open(o exchange.Org, unit, kind, name string) string {
	c.t.Helper()
	return c.must(c.call("POST", "/v1/accounts", c.admin.token, map[string]any{
		"owner": orgOwner(o), "unit": unit, "kind": kind, "name": name}), 201)["id"].(string)
}

func leg(from, to, amount, unit string) map[string]any {
	return map[string]any{"from_account": from, "to_account": to, "amount": amount, "unit": unit}
}

// statementAccount finds an account in a statement.
func statementAccount(t *testing.T, st map[string]any, id string) map[string]any {
	t.Helper()
	for _, a := range st["accounts"].([]any) {
		if a := a.(map[string]any); a["id"] == id {
			return a
		}
	}
	t.Fatalf("account %s is not in the statement of %v", id, st["org"].(map[string]any)["name"])
	return nil
}

// wantEntries checks an account's statement entries: amount, running
// balance and the other side's organization, in order.
func wantEntries(t *testing.T, acc map[string]any, want ...[3]string) []map[string]any {
	t.Helper()
	entries := acc["entries"].([]any)
	if len(entries) != len(want) {
		t.Fatalf("%s has %d entries, want %d: %v", acc["name"], len(entries), len(want), entries)
	}
	out := make([]map[string]any, len(entries))
	for i, e := range entries {
		e := e.(map[string]any)
		cp := e["counterparty"].(map[string]any)
		if e["amount"] != want[i][0] || e["balance_after"] != want[i][1] || cp["org_name"] != want[i][2] {
			t.Errorf("%s entry %d: amount %v, balance %v, with %v; want %v", acc["name"], i, e["amount"], e["balance_after"], cp["org_name"], want[i])
		}
		out[i] = e
	}
	return out
}

// TestCoopTradeInTwoUnits is the scenario end to end: the orchard
// proposes 100 kg of produce against 200 USD, the kitchen's coordinator
// (not a plain member) accepts, one transfer moves both, and both
// statements show it; the parks department gives 50 kg to the community
// garden directly, and both statements show that too.
func TestCoopTradeInTwoUnits(t *testing.T) {
	t.Parallel()
	c := newCoops(t)
	c.clock.Advance(time.Hour)
	tradeTime := c.clock.Now()

	// Nobody moves value that is not theirs: the orchard cannot take the
	// kitchen's money by itself.
	c.must(c.transfer(c.carla.token, "", posting(c.orchardKG, c.kitchenKG, "100", "KG_PRODUCE"), posting(c.kitchenUSD, c.orchardUSD, "200", "USD")), 404)

	proposed := c.must(c.call("POST", "/v1/trades", c.carla.token, map[string]any{
		"counterparty_org": c.kitchen.ID.String(), "memo": "apples for the soup kitchen",
		"legs": []any{leg(c.orchardKG, c.kitchenKG, "100", "KG_PRODUCE"), leg(c.kitchenUSD, c.orchardUSD, "200", "USD")},
	}), 201)
	id := proposed["id"].(string)
	if proposed["status"] != "proposed" || proposed["proposer_org"] != c.orchard.ID.String() || proposed["transfer_id"] != nil {
		t.Fatalf("proposed trade: %v", proposed)
	}
	if legs := proposed["legs"].([]any); legs[0].(map[string]any)["amount"] != "100.0" || legs[1].(map[string]any)["amount"] != "200.00" {
		t.Errorf("legs %v, want amounts with their units' scales", legs)
	}
	c.wantBalances(map[string]string{c.orchardKG: "1000.0", c.kitchenKG: "0.0", c.orchardUSD: "0.00", c.kitchenUSD: "500.00"})

	// The kitchen's plain member sees the trade but may not accept it; a
	// stranger does not even see it.
	c.must(c.call("GET", "/v1/trades/"+id, c.bea.token, nil), 200)
	c.problem(c.call("POST", "/v1/trades/"+id+"/accept", c.bea.token, nil), 403, "forbidden")
	c.problem(c.call("POST", "/v1/trades/"+id+"/accept", c.carla.token, nil), 403, "forbidden")
	c.problem(c.call("GET", "/v1/trades/"+id, c.stranger.token, nil), 404, "not-found")
	c.problem(c.call("POST", "/v1/trades/"+id+"/accept", c.stranger.token, nil), 404, "not-found")
	c.wantBalances(map[string]string{c.orchardKG: "1000.0", c.kitchenUSD: "500.00"})

	accepted := c.must(c.call("POST", "/v1/trades/"+id+"/accept", c.bruno.token, nil, "Idempotency-Key", "accept-apples"), 200)
	if accepted["status"] != "accepted" || accepted["decided_by"] != c.bruno.id.String() || accepted["transfer_id"] == nil {
		t.Fatalf("accepted trade: %v", accepted)
	}
	transferID := accepted["transfer_id"].(string)
	// The same request again gets the same answer; an accept by the same
	// member without the key gets the trade as it stands (a retry whose
	// first answer was lost); a cancel finds the trade decided.
	again := c.call("POST", "/v1/trades/"+id+"/accept", c.bruno.token, nil, "Idempotency-Key", "accept-apples")
	if again.status != 200 || again.header.Get("Idempotent-Replayed") != "true" || again.object(t)["transfer_id"] != transferID {
		t.Errorf("repeated accept: %s", again)
	}
	if repeat := c.must(c.call("POST", "/v1/trades/"+id+"/accept", c.bruno.token, nil), 200); repeat["transfer_id"] != transferID {
		t.Errorf("accept repeated without a key: %v", repeat)
	}
	c.problem(c.call("POST", "/v1/trades/"+id+"/cancel", c.carla.token, nil), 409, "trade-not-proposed")

	// ONE transfer, two postings in two units.
	xfer := c.must(c.call("GET", "/v1/transfers/"+transferID, c.carla.token, nil), 200)
	ps := xfer["postings"].([]any)
	if len(ps) != 2 || ps[0].(map[string]any)["unit"] != "KG_PRODUCE" || ps[1].(map[string]any)["unit"] != "USD" ||
		xfer["metadata"].(map[string]any)["trade"] != id || xfer["memo"] != "apples for the soup kitchen" {
		t.Fatalf("the trade's transfer: %v", xfer)
	}
	c.wantBalances(map[string]string{c.orchardKG: "900.0", c.kitchenKG: "100.0", c.orchardUSD: "200.00", c.kitchenUSD: "300.00"})
	// The trade's transfer is undone by no one by hand, not even the admin:
	// the trade would still say accepted.
	c.problem(c.call("POST", "/v1/transfers/"+transferID+"/reverse", c.admin.token, nil), 409, "managed-transfer")
	listed := c.must(c.call("GET", "/v1/trades?org="+c.kitchen.ID.String(), c.bea.token, nil), 200)["items"].([]any)
	if len(listed) != 1 || listed[0].(map[string]any)["status"] != "accepted" {
		t.Errorf("the kitchen's trades: %v", listed)
	}

	// A trade the kitchen cannot pay for is refused and stays proposed.
	big := c.must(c.call("POST", "/v1/trades", c.carla.token, map[string]any{
		"counterparty_org": c.kitchen.ID.String(),
		"legs":             []any{leg(c.orchardKG, c.kitchenKG, "10", "KG_PRODUCE"), leg(c.kitchenUSD, c.orchardUSD, "1000", "USD")},
	}), 201)["id"].(string)
	p := c.problem(c.call("POST", "/v1/trades/"+big+"/accept", c.bruno.token, nil), 422, "insufficient-funds")
	if p.Account == nil || p.Account.String() != c.kitchenUSD || p.Available != "300.00" {
		t.Errorf("insufficient funds names %v with %q available, want the kitchen's cash with 300.00", p.Account, p.Available)
	}
	if st := c.must(c.call("GET", "/v1/trades/"+big, c.bruno.token, nil), 200)["status"]; st != "proposed" {
		t.Errorf("refused trade is %v, want proposed", st)
	}
	c.wantBalances(map[string]string{c.orchardKG: "900.0", c.kitchenKG: "100.0", c.orchardUSD: "200.00", c.kitchenUSD: "300.00"})
	if st := c.must(c.call("POST", "/v1/trades/"+big+"/decline", c.bruno.token, nil), 200)["status"]; st != "declined" {
		t.Errorf("declined trade is %v", st)
	}

	// In-kind support: the parks department gives its own produce, which
	// needs no one's consent; the garden cannot take it by itself.
	c.must(c.transfer(c.gus.token, "", posting(c.parksKG, c.gardenKG, "50", "KG_PRODUCE")), 404)
	gift := c.must(c.call("POST", "/v1/transfers", c.mara.token, map[string]any{
		"postings": []any{posting(c.parksKG, c.gardenKG, "50", "KG_PRODUCE")}, "memo": "spring support",
		"metadata": map[string]any{"kind": "in_kind", "description": "50 kg of seedlings and compost"},
	}), 201)

	// The statements: the orchard's from the trade on shows its opening
	// balance, and both sides show the one trade transfer.
	orchard := c.must(c.call("GET", "/v1/orgs/"+c.orchard.ID.String()+"/statement?from="+tradeTime.Format(time.RFC3339), c.carla.token, nil), 200)
	kg := statementAccount(t, orchard, c.orchardKG)
	if kg["opening_balance"] != "1000.0" || kg["closing_balance"] != "900.0" || kg["unit"] != "KG_PRODUCE" {
		t.Errorf("orchard produce: opening %v, closing %v", kg["opening_balance"], kg["closing_balance"])
	}
	e := wantEntries(t, kg, [3]string{"-100.0", "900.0", "Kitchen co-op"})[0]
	if e["transfer_id"] != transferID || e["metadata"].(map[string]any)["trade"] != id || e["counterparty"].(map[string]any)["account_name"] != "Kitchen pantry" {
		t.Errorf("orchard produce entry: %v", e)
	}
	wantEntries(t, statementAccount(t, orchard, c.orchardUSD), [3]string{"200.00", "200.00", "Kitchen co-op"})

	kitchen := c.must(c.call("GET", "/v1/orgs/"+c.kitchen.ID.String()+"/statement", c.bruno.token, nil), 200)
	if kitchen["from"] != nil {
		t.Errorf("a statement from the beginning has from %v, want null", kitchen["from"])
	}
	pantry := statementAccount(t, kitchen, c.kitchenKG)
	if e := wantEntries(t, pantry, [3]string{"100.0", "100.0", "Orchard co-op"})[0]; e["transfer_id"] != transferID {
		t.Errorf("the kitchen's produce entry is transfer %v, want %s", e["transfer_id"], transferID)
	}
	cash := statementAccount(t, kitchen, c.kitchenUSD)
	wantEntries(t, cash, [3]string{"500.00", "500.00", "Kitchen co-op"}, [3]string{"-200.00", "300.00", "Orchard co-op"})
	if cash["opening_balance"] != "0.00" || cash["closing_balance"] != "300.00" {
		t.Errorf("kitchen cash: opening %v, closing %v", cash["opening_balance"], cash["closing_balance"])
	}

	parks := c.must(c.call("GET", "/v1/orgs/"+c.parks.ID.String()+"/statement", c.mara.token, nil), 200)
	out := wantEntries(t, statementAccount(t, parks, c.parksKG),
		[3]string{"300.0", "300.0", "Parks department"}, [3]string{"-50.0", "250.0", "Community garden"})[1]
	garden := c.must(c.call("GET", "/v1/orgs/"+c.garden.ID.String()+"/statement", c.gus.token, nil), 200)
	in := wantEntries(t, statementAccount(t, garden, c.gardenKG), [3]string{"50.0", "50.0", "Parks department"})[0]
	for _, e := range []map[string]any{out, in} {
		meta := e["metadata"].(map[string]any)
		if e["transfer_id"] != gift["id"] || meta["kind"] != "in_kind" || meta["description"] != "50 kg of seedlings and compost" || e["memo"] != "spring support" {
			t.Errorf("in-kind entry: %v", e)
		}
	}

	// Statements are for those who may read the organization's accounts.
	c.must(c.call("GET", "/v1/orgs/"+c.kitchen.ID.String()+"/statement", c.admin.token, nil), 200)
	c.problem(c.call("GET", "/v1/orgs/"+c.parks.ID.String()+"/statement", c.stranger.token, nil), 404, "not-found")
	c.problem(c.call("GET", "/v1/orgs/"+c.kitchen.ID.String()+"/statement", c.bea.token, nil), 404, "not-found")
	c.problem(c.call("GET", "/v1/orgs/"+c.kitchen.ID.String()+"/statement", c.carla.token, nil), 404, "not-found")
	c.problem(c.call("GET", "/v1/orgs/"+c.orchard.ID.String()+"/statement?from=yesterday", c.carla.token, nil), 400, "malformed-request")
	c.problem(c.call("GET", "/v1/orgs/"+c.orchard.ID.String()+"/statement?from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z", c.carla.token, nil), 422, "invalid-request")

	if problems, err := c.led.Verify(context.Background()); err != nil || len(problems) > 0 {
		t.Fatalf("ledger verify: %v %v", problems, err)
	}
}

// wantBalances checks accounts' posted balances.
func (c *coops) wantBalances(want map[string]string) {
	c.t.Helper()
	for id, w := range want {
		if got, _ := c.balance(id); got != w {
			c.t.Errorf("account %s holds %s, want %s", id, got, w)
		}
	}
}

// TestProposeTradeRefusalsOverHTTP: a bad proposal is a problem naming the
// field, and leaves no trade.
func TestProposeTradeRefusalsOverHTTP(t *testing.T) {
	t.Parallel()
	c := newCoops(t)
	kitchen := c.kitchen.ID.String()
	good := func() []any {
		return []any{leg(c.orchardKG, c.kitchenKG, "100", "KG_PRODUCE"), leg(c.kitchenUSD, c.orchardUSD, "200", "USD")}
	}
	cases := []struct {
		name   string
		token  string
		body   map[string]any
		status int
		typ    string
		field  string
	}{
		{"no legs", c.carla.token, map[string]any{"counterparty_org": kitchen}, 422, "validation-failed", "legs"},
		{"a number for an amount", c.carla.token, map[string]any{"counterparty_org": kitchen, "legs": []any{
			map[string]any{"from_account": c.orchardKG, "to_account": c.kitchenKG, "amount": 100, "unit": "KG_PRODUCE"}}}, 422, "validation-failed", "legs[0].amount"},
		{"finer than a tenth of a kg", c.carla.token, map[string]any{"counterparty_org": kitchen, "legs": []any{leg(c.orchardKG, c.kitchenKG, "100.05", "KG_PRODUCE")}}, 422, "too-many-decimals", "legs[0].amount"},
		{"dollars of produce", c.carla.token, map[string]any{"counterparty_org": kitchen, "legs": []any{leg(c.orchardKG, c.kitchenKG, "100", "USD")}}, 422, "unit-mismatch", "legs[0].unit"},
		{"an unknown counterparty", c.carla.token, map[string]any{"counterparty_org": "0193a5b0-7c1e-7d2a-9c4b-3f1e2d4c5b6a", "legs": good()}, 404, "not-found", "counterparty_org"},
		{"with itself", c.carla.token, map[string]any{"counterparty_org": kitchen, "proposer_org": kitchen, "legs": good()}, 422, "invalid-request", "counterparty_org"},
		{"a plain member", c.bea.token, map[string]any{"counterparty_org": c.orchard.ID.String(), "legs": good()}, 404, "not-found", "legs[0].to_account"},
		{"a stranger", c.stranger.token, map[string]any{"counterparty_org": kitchen, "legs": good()}, 404, "not-found", "legs[0].from_account"},
		{"proposer_org not governed", c.stranger.token, map[string]any{"counterparty_org": kitchen, "proposer_org": c.orchard.ID.String(), "legs": good()}, 403, "forbidden", "proposer_org"},
		{"a leg within the kitchen", c.carla.token, map[string]any{"counterparty_org": kitchen, "legs": []any{leg(c.kitchenUSD, c.kitchenUSD, "1", "USD")}}, 422, "same-account", "legs[0]"},
	}
	for _, tc := range cases {
		p := c.problem(c.call("POST", "/v1/trades", tc.token, tc.body), tc.status, tc.typ)
		if tc.field != "" && !hasField(p, tc.field) {
			t.Errorf("%s: problem names %v, want %s", tc.name, p.Errors, tc.field)
		}
	}
	for _, org := range []exchange.Org{c.orchard, c.kitchen} {
		if items := c.must(c.call("GET", "/v1/trades?org="+org.ID.String(), c.admin.token, nil), 200)["items"].([]any); len(items) != 0 {
			t.Errorf("%s has trades after refused proposals: %v", org.Name, items)
		}
	}
	c.problem(c.call("GET", "/v1/trades?org="+c.kitchen.ID.String(), c.stranger.token, nil), 403, "forbidden")
	c.problem(c.call("GET", "/v1/trades", c.carla.token, nil), 400, "malformed-request")
	c.problem(c.call("GET", "/v1/trades/"+c.orchard.ID.String(), c.carla.token, nil), 404, "not-found")
}

// coopTradeToTimebank proposes, as the co-op's coordinator, a trade of
// 0.01 USD of the co-op's against 0.01 hour of the time bank's pool, for
// the authorization matrix, and returns its id. Each trade has accounts of
// its own, so that deciding one never changes another.
func (w *world) coopTradeToTimebank() string {
	w.t.Helper()
	return w.must(w.call("POST", "/v1/trades", w.coordCoop.token, w.coopTradeBody()), 201)["id"].(string)
}

// coopTradeBody is the body of coopTradeToTimebank's proposal.
func (w *world) coopTradeBody() map[string]any {
	w.t.Helper()
	coopHours := w.account(orgOwner(w.coop), "HOUR", "organization", "")
	timebankUSD := w.account(orgOwner(w.timebank), "USD", "organization", "")
	w.must(w.transfer(w.coordCoop.token, "", posting(w.bankUSD, w.coopUSD, "0.01", "USD")), 201)
	return map[string]any{"counterparty_org": w.timebank.ID.String(), "legs": []any{
		leg(w.coopUSD, timebankUSD, "0.01", "USD"), leg(w.poolHours, coopHours, "0.01", "HOUR")}}
}
