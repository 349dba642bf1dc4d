package httpapi_test

import (
	"context"
	"sync"
	"testing"

	"github.com/mutual-ledger/mutual/exchange"
)

// TestFundRulesOverHTTP: a fund made with rules shows them; decisions that
// lack the quorum or contradict their tally are 422 naming the field and
// change nothing; only the admin changes the rules, and the governors read
// the record of each change.
func TestFundRulesOverHTTP(t *testing.T) {
	t.Parallel()
	w := newFundWorld(t)
	w.problem(w.call("POST", "/v1/funds", w.admin.token, map[string]any{"name": "Bad", "unit": "USD", "rules": map[string]any{"majority": "most"}}), 422, "validation-failed")
	w.problem(w.call("POST", "/v1/funds", w.admin.token, map[string]any{"name": "Bad", "unit": "USD", "rules": map[string]any{"quorum": -1}}), 422, "validation-failed")
	p := w.problem(w.call("POST", "/v1/funds", w.admin.token, map[string]any{"name": "Bad", "unit": "USD", "rules": map[string]any{"second_approval_above": "0.001"}}), 422, "too-many-decimals")
	if !hasField(p, "second_approval_above") {
		t.Errorf("a second-approval amount finer than cents names %v", p.Errors)
	}
	if n := len(w.must(w.call("GET", "/v1/funds", "", nil), 200)["items"].([]any)); n != 1 {
		t.Fatalf("refused funds were created: %d funds", n)
	}
	f := w.must(w.call("POST", "/v1/funds", w.admin.token, map[string]any{"name": "Assembly fund", "unit": "USD",
		"rules": map[string]any{"quorum": 5, "majority": "two_thirds", "second_approval_above": "100.00"}}), 201)
	rules := f["rules"].(map[string]any)
	if rules["quorum"] != 5.0 || rules["majority"] != "two_thirds" || rules["second_approval_above"] != "100.00" {
		t.Errorf("rules = %v", rules)
	}
	def := w.must(w.call("GET", w.path(""), w.cam.token, nil), 200)["rules"].(map[string]any)
	if def["quorum"] != 0.0 || def["majority"] != "simple" || def["second_approval_above"] != nil {
		t.Errorf("default rules = %v", def)
	}
	w.fund = f["id"].(string)
	if got := w.report("")["fund"].(map[string]any)["rules"].(map[string]any); got["majority"] != "two_thirds" {
		t.Errorf("the public report shows rules %v", got)
	}

	g := w.must(w.call("POST", w.path("/grants"), w.coordTB.token, map[string]any{
		"org_id": w.timebank.ID.String(), "amount": "50.00", "purpose": "Rides", "to_account": w.timebankUSD}), 201)
	grant := "/v1/grants/" + g["id"].(string)
	before := w.must(w.call("GET", grant, w.admin.token, nil), 200)
	votes := func(f, a, x int) map[string]any { return map[string]any{"for": f, "against": a, "abstain": x} }
	for _, c := range []struct {
		name  string
		body  map[string]any
		typ   string
		field string
	}{
		{"no tally", map[string]any{"decision": "approve"}, "quorum-not-reached", "votes"},
		{"too few votes", map[string]any{"decision": "approve", "votes": votes(4, 0, 0)}, "quorum-not-reached", "votes"},
		{"approved 1 for, 9 against", map[string]any{"decision": "approve", "votes": votes(1, 9, 0)}, "decision-against-tally", "decision"},
		{"approved 3 for, 2 against", map[string]any{"decision": "approve", "votes": votes(3, 2, 0)}, "decision-against-tally", "decision"},
		{"rejected with exactly two thirds", map[string]any{"decision": "reject", "votes": votes(4, 2, 1)}, "decision-against-tally", "decision"},
	} {
		p := w.problem(w.call("POST", grant+"/decision", w.admin.token, c.body), 422, c.typ)
		if !hasField(p, c.field) {
			t.Errorf("%s names %v, want %s", c.name, p.Errors, c.field)
		}
	}
	if after := w.must(w.call("GET", grant, w.admin.token, nil), 200); after["status"] != "requested" || after["updated_at"] != before["updated_at"] {
		t.Errorf("refused decisions changed the grant: %v", after)
	}
	if d := w.must(w.call("POST", grant+"/decision", w.admin.token, map[string]any{"decision": "approve", "votes": votes(4, 2, 0)}), 200); d["status"] != "approved" {
		t.Errorf("approving with exactly two thirds = %v", d)
	}

	// Only the admin changes the rules; the change is recorded.
	change := map[string]any{"quorum": 0, "majority": "simple", "reason": "the assembly of April changed them"}
	w.problem(w.call("PUT", w.path("/rules"), w.coordTB.token, change), 403, "forbidden")
	w.problem(w.call("PUT", w.path("/rules"), w.admin.token, map[string]any{"quorum": 0, "majority": "simple"}), 422, "validation-failed")
	w.problem(w.call("PUT", "/v1/funds/0193a5b0-7c1e-7d2a-9c4b-3f1e2d4c5b6a/rules", w.admin.token, change), 404, "not-found")
	changed := w.must(w.call("PUT", w.path("/rules"), w.admin.token, change), 200)["rules"].(map[string]any)
	if changed["quorum"] != 0.0 || changed["majority"] != "simple" || changed["second_approval_above"] != nil {
		t.Errorf("changed rules = %v", changed)
	}
	w.must(w.call("PUT", w.path("/rules"), w.admin.token, change), 200) // the same again records nothing
	list := w.must(w.call("GET", w.path("/rules/changes"), w.admin.token, nil), 200)["items"].([]any)
	if len(list) != 1 {
		t.Fatalf("%d rule changes recorded, want 1", len(list))
	}
	rec := list[0].(map[string]any)
	if rec["changed_by"] != w.admin.id.String() || rec["reason"] != "the assembly of April changed them" ||
		rec["old"].(map[string]any)["quorum"] != 5.0 || rec["old"].(map[string]any)["second_approval_above"] != "100.00" ||
		rec["new"].(map[string]any)["majority"] != "simple" || rec["changed_at"] != "2026-03-01T09:00:00Z" {
		t.Errorf("rule change = %v", rec)
	}
	w.problem(w.call("GET", w.path("/rules/changes"), w.coordTB.token, nil), 403, "forbidden")
}

// TestGrantSelfApprovalAndSecondApprovalOverHTTP: the requesting side may
// not decide or pay its own grant even when it governs the fund; above the
// fund's amount a first governor's disbursement is 202 and moves nothing,
// the same governor again is 403, and a second governor pays.
func TestGrantSelfApprovalAndSecondApprovalOverHTTP(t *testing.T) {
	t.Parallel()
	w := newFundWorld(t)
	w.fund = w.must(w.call("POST", "/v1/funds", w.admin.token, map[string]any{"name": "Careful fund", "unit": "USD",
		"rules": map[string]any{"second_approval_above": "100.00"}}), 201)["id"].(string)
	w.must(w.call("POST", w.path("/contributions"), w.admin.token, map[string]any{"source": "Riverside Foundation", "amount": "1000.00"}), 201)
	// Tom coordinates the time bank and the network; Nia the network.
	tom := w.member(w.timebank, exchange.RoleCoordinator, "Tom")
	if _, err := w.ex.AddMembership(context.Background(), exchange.System(), w.network.ID, tom.id, exchange.RoleCoordinator); err != nil {
		t.Fatal(err)
	}
	nia := w.member(w.network, exchange.RoleCoordinator, "Nia")

	ask := func(amount string) string {
		return "/v1/grants/" + w.must(w.call("POST", w.path("/grants"), w.coordTB.token, map[string]any{
			"org_id": w.timebank.ID.String(), "amount": amount, "purpose": "Rides", "to_account": w.timebankUSD}), 201)["id"].(string)
	}
	g := ask("100.00")
	p := w.problem(w.call("POST", g+"/decision", tom.token, map[string]any{"decision": "approve"}), 403, "forbidden")
	if p.Detail == "" || p.Detail == "Forbidden" {
		t.Errorf("the refusal does not say why: %q", p.Detail)
	}
	w.problem(w.call("POST", g+"/decision", w.coordTB.token, map[string]any{"decision": "approve"}), 403, "forbidden")
	w.must(w.call("POST", g+"/decision", nia.token, map[string]any{"decision": "approve"}), 200)
	w.problem(w.call("POST", g+"/disburse", tom.token, nil), 403, "forbidden")
	paid := w.call("POST", g+"/disburse", nia.token, nil)
	if body := w.must(paid, 200); body["status"] != "disbursed" || body["disbursed_by"] != nia.id.String() || paid.header.Get("Location") == "" {
		t.Errorf("disbursing at the threshold = %v", body)
	}

	big := ask("100.01")
	w.must(w.call("POST", big+"/decision", nia.token, map[string]any{"decision": "approve"}), 200)
	first := w.call("POST", big+"/disburse", nia.token, nil)
	body := w.must(first, 202)
	if body["status"] != "awaiting_second_approval" || body["first_approved_by"] != nia.id.String() || body["transfer_id"] != nil || first.header.Get("Location") != "" {
		t.Errorf("first approval = %v", body)
	}
	if posted, _ := w.balance(w.timebankUSD); posted != "100.00" {
		t.Errorf("the first approval moved money: the time bank holds %s", posted)
	}
	w.problem(w.call("POST", big+"/disburse", nia.token, nil), 403, "forbidden")
	w.problem(w.call("POST", big+"/disburse", tom.token, nil), 403, "forbidden")
	body = w.must(w.call("POST", big+"/disburse", w.admin.token, nil), 200)
	if body["status"] != "disbursed" || body["disbursed_by"] != w.admin.id.String() || body["first_approved_by"] != nia.id.String() {
		t.Errorf("second approval = %v", body)
	}
	if posted, _ := w.balance(w.timebankUSD); posted != "200.01" {
		t.Errorf("the time bank holds %s, want 200.01", posted)
	}
	// The public report names both governors of the large grant.
	bigID := big[len("/v1/grants/"):]
	found := false
	for _, o := range w.report("")["periods"].([]any)[0].(map[string]any)["outflows"].([]any) {
		for _, pg := range o.(map[string]any)["grants"].([]any) {
			pg := pg.(map[string]any)
			if pg["grant_id"] == bigID {
				found = true
				if pg["first_approved_by"] != "Nia" || pg["disbursed_by"] != "admin" {
					t.Errorf("the report's paid grant = %v", pg)
				}
			}
		}
	}
	if !found {
		t.Error("the report does not list the large grant")
	}

	// Two governors racing over HTTP pay once.
	race := ask("300.00")
	w.must(w.call("POST", race+"/decision", nia.token, map[string]any{"decision": "approve"}), 200)
	var wg sync.WaitGroup
	statuses := make([]int, 6)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			token := nia.token
			if i%2 == 1 {
				token = w.admin.token
			}
			r, err := w.do("POST", race+"/disburse", token, nil)
			if err != nil {
				t.Error(err)
				return
			}
			statuses[i] = r.status
		}()
	}
	wg.Wait()
	count := map[int]int{}
	for _, s := range statuses {
		count[s]++
	}
	if count[200] != 1 || count[202] != 1 || count[200]+count[202]+count[403]+count[409] != len(statuses) {
		t.Errorf("racing disbursements answered %v: want one 202, one 200, the rest 403 or 409", statuses)
	}
	if posted, _ := w.balance(w.timebankUSD); posted != "500.01" {
		t.Errorf("after the race the time bank holds %s, want 500.01", posted)
	}

	// The time bank's coordinator heard of each step of their request.
	ns := w.must(w.call("GET", "/v1/me/notifications", w.coordTB.token, nil), 200)["items"].([]any)
	kinds := map[string]int{}
	for _, n := range ns {
		m := n.(map[string]any)
		if m["grant_id"] == nil || m["trade_id"] != nil || m["agreement_id"] != nil {
			t.Errorf("notification %v does not name its grant alone", m)
		}
		kinds[m["kind"].(string)]++
	}
	if kinds["grant_approved"] != 3 || kinds["grant_disbursed"] != 3 || kinds["grant_awaiting_second_approval"] != 2 || kinds["grant_requested"] != 0 {
		t.Errorf("the requester's notifications = %v", kinds)
	}
	// Nia, a governor, heard of the requests.
	ns = w.must(w.call("GET", "/v1/me/notifications?unread=true", nia.token, nil), 200)["items"].([]any)
	if len(ns) == 0 || ns[0].(map[string]any)["kind"] != "grant_requested" {
		t.Errorf("Nia's notifications = %v", ns)
	}
}

// TestTradeNotificationsOverHTTP: the time bank's coordinator hears of the
// co-op's proposal, the co-op's of the refusal; the members hear
// nothing.
func TestTradeNotificationsOverHTTP(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	trade := w.coopTradeToTimebank()
	w.must(w.call("POST", "/v1/trades/"+trade+"/decline", w.coordTB.token, nil), 200)
	for _, c := range []struct {
		name, token string
		kinds       []string
	}{
		{"the time bank's coordinator", w.coordTB.token, []string{"trade_proposed"}},
		{"the co-op's coordinator", w.coordCoop.token, []string{"trade_declined"}},
		{"a member of the time bank", w.ana.token, nil},
		{"a member of the co-op", w.cam.token, nil},
	} {
		items := w.must(w.call("GET", "/v1/me/notifications", c.token, nil), 200)["items"].([]any)
		var kinds []string
		for _, it := range items {
			n := it.(map[string]any)
			if n["trade_id"] != trade || n["grant_id"] != nil || n["agreement_id"] != nil {
				t.Errorf("%s's notification %v does not name the trade alone", c.name, n)
			}
			kinds = append(kinds, n["kind"].(string))
		}
		if len(kinds) != len(c.kinds) || (len(kinds) > 0 && kinds[0] != c.kinds[0]) {
			t.Errorf("%s's notifications = %v, want %v", c.name, kinds, c.kinds)
		}
	}
}
