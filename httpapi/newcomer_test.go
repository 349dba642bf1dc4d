package httpapi_test

import "testing"

// TestNewcomerFlow walks a fresh installation from the one admin token the
// first run prints to a posted transfer between two members, over HTTP
// alone: a unit, a time bank, its coordinator and members with their own
// tokens, their accounts with a credit limit, and a transfer each member may
// or may not make.
func TestNewcomerFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t) // exchange.Bootstrap: the network, its admin, a token
	admin := e.admin.token

	me := e.must(e.call("GET", "/v1/me", admin, nil), 200)
	if me["admin"] != true {
		t.Fatalf("the first-run token is not an admin's: %v", me)
	}
	network := me["memberships"].([]any)[0].(map[string]any)["org_id"].(string)

	e.must(e.call("POST", "/v1/units", admin, map[string]any{"code": "HOUR", "scale": 2, "name": "hours"}, "Idempotency-Key", "unit-hour"), 201)
	tb := e.must(e.call("POST", "/v1/orgs", admin, map[string]any{
		"name": "Riverside time bank", "kind": "timebank", "parent_id": network, "city": "Riverside"}, "Idempotency-Key", "org-tb"), 201)["id"].(string)

	// The admin admits the coordinator; the coordinator admits the members.
	tess := e.must(e.call("POST", "/v1/orgs/"+tb+"/members", admin, map[string]any{
		"name": "Tess", "email": "tess@example.org", "role": "coordinator"}, "Idempotency-Key", "tess"), 201)["id"].(string)
	// A token acts as its member: the admin makes each one, as may a
	// coordinator for the members of their subtree (never for the admin),
	// and the member may make more themselves.
	token := func(member, name string) string {
		t.Helper()
		return e.must(e.call("POST", "/v1/tokens", admin, map[string]any{"member_id": member, "name": name}), 201)["secret"].(string)
	}
	tessToken := token(tess, "tess laptop")
	ana := e.must(e.call("POST", "/v1/orgs/"+tb+"/members", tessToken, map[string]any{"name": "Ana", "role": "member"}, "Idempotency-Key", "ana"), 201)["id"].(string)
	ben := e.must(e.call("POST", "/v1/orgs/"+tb+"/members", tessToken, map[string]any{"name": "Ben", "role": "member"}, "Idempotency-Key", "ben"), 201)["id"].(string)
	e.must(e.call("POST", "/v1/tokens", tessToken, map[string]any{"member_id": ana, "name": "by the coordinator"}), 201)
	e.problem(e.call("POST", "/v1/tokens", tessToken, map[string]any{"member_id": e.admin.id.String(), "name": "by the coordinator"}), 404, "not-found")
	anaToken, benToken := token(ana, "ana phone"), token(ben, "ben phone")

	// The coordinator opens their accounts, 10 hours of credit each.
	open := func(member, key string) string {
		t.Helper()
		acc := e.must(e.call("POST", "/v1/accounts", tessToken, map[string]any{
			"owner": map[string]any{"member": member}, "org_id": tb, "unit": "HOUR", "kind": "member", "lower_bound": "-10"},
			"Idempotency-Key", key), 201)
		if acc["lower_bound"] != "-10.00" {
			t.Errorf("lower bound %v", acc["lower_bound"])
		}
		return acc["id"].(string)
	}
	anaHours, benHours := open(ana, "acct-ana"), open(ben, "acct-ben")

	// Ana pays Ben 2.5 hours with her own token.
	pay := e.must(e.call("POST", "/v1/transfers", anaToken, map[string]any{
		"postings": []any{posting(anaHours, benHours, "2.5", "HOUR")}, "memo": "bike repair"}, "Idempotency-Key", "pay-1"), 201)
	if pay["state"] != "posted" {
		t.Errorf("transfer %v", pay)
	}
	// Ben may not move out of Ana's account: he may not even see it.
	e.problem(e.call("POST", "/v1/transfers", benToken, map[string]any{
		"postings": []any{posting(anaHours, benHours, "1", "HOUR")}}), 404, "not-found")
	e.problem(e.call("GET", "/v1/accounts/"+anaHours, benToken, nil), 404, "not-found")
	// Nor may the coordinator, who sees it: a member's account is theirs.
	e.problem(e.call("POST", "/v1/transfers", tessToken, map[string]any{
		"postings": []any{posting(anaHours, benHours, "1", "HOUR")}}), 403, "forbidden")
	// Ana's credit ends at -10.
	over := e.problem(e.call("POST", "/v1/transfers", anaToken, map[string]any{
		"postings": []any{posting(anaHours, benHours, "8", "HOUR")}}), 422, "insufficient-funds")
	if over.Available != "7.50" || over.Requested != "8.00" {
		t.Errorf("insufficient funds: available %q, requested %q", over.Available, over.Requested)
	}

	for _, c := range []struct{ token, account, want string }{
		{anaToken, anaHours, "-2.50"},
		{benToken, benHours, "2.50"},
		{tessToken, anaHours, "-2.50"},
		{admin, benHours, "2.50"},
	} {
		b := e.must(e.call("GET", "/v1/accounts/"+c.account, c.token, nil), 200)["balances"].(map[string]any)
		if b["posted"] != c.want || b["available"] != c.want {
			t.Errorf("account %s: %v, want %s", c.account, b, c.want)
		}
	}
	// The coordinator sees the roster.
	if l := e.must(e.call("GET", "/v1/orgs/"+tb+"/members", tessToken, nil), 200); len(l["items"].([]any)) != 3 {
		t.Errorf("roster %v", l)
	}
}
