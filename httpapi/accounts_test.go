package httpapi_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestOpenAccounts(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ana := memberOwner(w.ana)
	open := func(token string, body map[string]any) resp {
		t.Helper()
		return w.call("POST", "/v1/accounts", token, body)
	}
	// A coordinator opens an account for a member of their time bank, with
	// a credit limit.
	acc := w.must(open(w.coordTB.token, map[string]any{
		"owner": ana, "org_id": w.timebank.ID.String(), "unit": "USD", "kind": "member", "name": "Ana's dollars",
		"lower_bound": "-5", "upper_bound": "100.5"}), 201)
	if acc["lower_bound"] != "-5.00" || acc["upper_bound"] != "100.50" || acc["status"] != "open" ||
		acc["owner"].(map[string]any)["member"] != w.ana.id.String() {
		t.Errorf("account %v", acc)
	}
	b := acc["balances"].(map[string]any)
	if b["posted"] != "0.00" || b["available"] != "0.00" || b["pending_debits"] != "0.00" || b["pending_credits"] != "0.00" {
		t.Errorf("balances %v", b)
	}
	// ... and for the time bank itself; a coordinator of the local
	// organization above it may too.
	w.must(open(w.coordTB.token, map[string]any{"owner": orgOwner(w.timebank), "unit": "USD", "kind": "fund"}), 201)

	for _, tc := range []struct {
		name   string
		token  string
		body   map[string]any
		status int
		typ    string
		field  string
	}{
		{"member account without org_id", w.coordTB.token,
			map[string]any{"owner": ana, "unit": "USD", "kind": "member"}, 422, "validation-failed", "org_id"},
		{"an org the coordinator does not run", w.coordCoop.token,
			map[string]any{"owner": ana, "org_id": w.timebank.ID.String(), "unit": "USD", "kind": "member"}, 403, "forbidden", "org_id"},
		{"a member of another org", w.coordCoop.token,
			map[string]any{"owner": ana, "org_id": w.coop.ID.String(), "unit": "USD", "kind": "member"}, 422, "not-a-member", "org_id"},
		{"an unknown member", w.admin.token,
			map[string]any{"owner": map[string]any{"member": uuid.NewString()}, "unit": "USD", "kind": "member"}, 404, "not-found", "owner.member"},
		{"an unknown org", w.admin.token,
			map[string]any{"owner": map[string]any{"org": uuid.NewString()}, "unit": "USD", "kind": "pool"}, 404, "not-found", "owner.org"},
		{"another org's account", w.coordCoop.token,
			map[string]any{"owner": orgOwner(w.timebank), "unit": "USD", "kind": "pool"}, 403, "forbidden", "owner.org"},
		{"a member's own", w.ana.token,
			map[string]any{"owner": ana, "org_id": w.timebank.ID.String(), "unit": "USD", "kind": "member"}, 403, "forbidden", "org_id"},
		{"an external account, not admin", w.coordCoop.token,
			map[string]any{"owner": orgOwner(w.coop), "unit": "USD", "kind": "external"}, 403, "forbidden", ""},
		{"both owners", w.admin.token,
			map[string]any{"owner": map[string]any{"member": w.ana.id.String(), "org": w.coop.ID.String()}, "unit": "USD", "kind": "member"}, 422, "validation-failed", "owner"},
		{"no owner", w.admin.token,
			map[string]any{"owner": map[string]any{}, "unit": "USD", "kind": "member"}, 422, "validation-failed", "owner"},
		{"a member account of kind pool", w.admin.token,
			map[string]any{"owner": ana, "unit": "USD", "kind": "pool"}, 422, "validation-failed", "kind"},
		{"an org account of kind member", w.admin.token,
			map[string]any{"owner": orgOwner(w.coop), "unit": "USD", "kind": "member"}, 422, "validation-failed", "kind"},
		{"an unknown kind", w.admin.token,
			map[string]any{"owner": orgOwner(w.coop), "unit": "USD", "kind": "piggybank"}, 422, "validation-failed", "kind"},
		{"a bound as a number", w.admin.token,
			map[string]any{"owner": orgOwner(w.coop), "unit": "USD", "kind": "pool", "lower_bound": -5}, 422, "validation-failed", "lower_bound"},
		{"a bound finer than the unit", w.admin.token,
			map[string]any{"owner": orgOwner(w.coop), "unit": "USD", "kind": "pool", "lower_bound": "-5.001"}, 422, "too-many-decimals", "lower_bound"},
		{"a positive lower bound", w.admin.token,
			map[string]any{"owner": orgOwner(w.coop), "unit": "USD", "kind": "pool", "lower_bound": "5"}, 422, "invalid-request", "lower_bound"},
		{"a lower bound on an external account", w.admin.token,
			map[string]any{"owner": orgOwner(w.coop), "unit": "USD", "kind": "external", "lower_bound": "-5"}, 422, "invalid-request", "lower_bound"},
		{"an unknown unit", w.admin.token,
			map[string]any{"owner": orgOwner(w.coop), "unit": "EUR", "kind": "pool"}, 404, "not-found", "unit"},
		{"an org_id not a UUID", w.admin.token,
			map[string]any{"owner": ana, "org_id": "timebank", "unit": "USD", "kind": "member"}, 422, "validation-failed", "org_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := w.problem(open(tc.token, tc.body), tc.status, tc.typ)
			if tc.field != "" && !hasField(p, tc.field) {
				t.Errorf("problem does not name %q: %+v", tc.field, p.Errors)
			}
		})
	}
	p := w.problem(open(w.admin.token, map[string]any{"owner": orgOwner(w.coop), "unit": "USD", "kind": "pool", "lower_bound": 5}), 422, "validation-failed")
	if p.Errors[0].Message != `lower_bound must be a decimal string, such as "2.50"` {
		t.Errorf("message %q", p.Errors[0].Message)
	}
	// The external account the world made has no lower bound.
	if got := w.must(w.call("GET", "/v1/accounts/"+w.bankUSD, w.admin.token, nil), 200)["lower_bound"]; got != nil {
		t.Errorf("external account's lower bound %v, want null", got)
	}
}

func TestReadAccounts(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.must(w.transfer(w.ana.token, "gardening", posting(w.anaHours, w.benHours, "1.5", "HOUR")), 201)
	for _, tc := range []struct {
		who    string
		token  string
		status int
	}{
		{"owner", w.ana.token, 200},
		{"coordinator of the member's org", w.coordTB.token, 200},
		{"admin", w.admin.token, 200},
		{"another member of the same org", w.ben.token, 404},
		{"coordinator of another org", w.coordCoop.token, 404},
		{"member of another org", w.cam.token, 404},
	} {
		t.Run(tc.who, func(t *testing.T) {
			for _, path := range []string{"/v1/accounts/" + w.anaHours, "/v1/accounts/" + w.anaHours + "/entries", "/v1/accounts/" + w.anaHours + "/balance"} {
				r := w.call("GET", path, tc.token, nil)
				if r.status != tc.status {
					t.Errorf("GET %s: %d, want %d", path, r.status, tc.status)
				}
				if tc.status == 404 {
					// Exactly what an account that does not exist gets.
					p := w.problem(r, 404, "not-found")
					if p.Detail != "unknown account "+w.anaHours {
						t.Errorf("detail %q", p.Detail)
					}
				}
			}
		})
	}
	ghost := uuid.NewString()
	p := w.problem(w.call("GET", "/v1/accounts/"+ghost, w.admin.token, nil), 404, "not-found")
	if p.Detail != "unknown account "+ghost {
		t.Errorf("detail %q", p.Detail)
	}
	w.problem(w.call("GET", "/v1/accounts/not-a-uuid", w.admin.token, nil), 404, "not-found")

	a := w.must(w.call("GET", "/v1/accounts/"+w.anaHours, w.ana.token, nil), 200)
	if b := a["balances"].(map[string]any); b["posted"] != "-1.50" || b["available"] != "-1.50" {
		t.Errorf("ana's balances %v", b)
	}
}

func TestEntriesAndBalanceHistory(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	start := w.clock.Now()
	for i := 1; i <= 5; i++ {
		w.clock.Advance(time.Hour)
		w.must(w.transfer(w.ana.token, "", posting(w.anaHours, w.benHours, "1", "HOUR")), 201)
	}
	w.must(w.transfer(w.ben.token, "", posting(w.benHours, w.anaHours, "0.25", "HOUR")), 201)
	// Newest first, two at a time, following next.
	var amounts, balances []string
	path := "/v1/accounts/" + w.anaHours + "/entries?limit=2"
	for range 10 {
		l := w.must(w.call("GET", path, w.ana.token, nil), 200)
		for _, it := range l["items"].([]any) {
			en := it.(map[string]any)
			amounts = append(amounts, en["amount"].(string))
			balances = append(balances, en["balance_after"].(string))
			if en["account_id"] != w.anaHours {
				t.Errorf("entry of account %v", en["account_id"])
			}
		}
		next, _ := l["next"].(string)
		if next == "" {
			break
		}
		path = "/v1/accounts/" + w.anaHours + "/entries?limit=2&after=" + next
	}
	if got := strings.Join(amounts, " "); got != "0.25 -1.00 -1.00 -1.00 -1.00 -1.00" {
		t.Errorf("amounts newest first: %s", got)
	}
	if got := strings.Join(balances, " "); got != "-4.75 -5.00 -4.00 -3.00 -2.00 -1.00" {
		t.Errorf("balances after: %s", got)
	}
	// The balance at past instants.
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{start, "0.00"},
		{start.Add(90 * time.Minute), "-1.00"},
		{start.Add(3 * time.Hour), "-3.00"},
	} {
		b := w.must(w.call("GET", "/v1/accounts/"+w.anaHours+"/balance?at="+tc.at.Format(time.RFC3339), w.ana.token, nil), 200)
		if b["balance"] != tc.want || b["unit"] != "HOUR" || b["at"] != tc.at.UTC().Format(time.RFC3339) {
			t.Errorf("balance at %v: %v, want %s", tc.at, b, tc.want)
		}
	}
	if b := w.must(w.call("GET", "/v1/accounts/"+w.anaHours+"/balance", w.ana.token, nil), 200); b["balance"] != "-4.75" {
		t.Errorf("balance now: %v", b)
	}
	w.problem(w.call("GET", "/v1/accounts/"+w.anaHours+"/balance?at=yesterday", w.ana.token, nil), 400, "malformed-request")
	w.problem(w.call("GET", "/v1/accounts/"+w.anaHours+"/entries?after=bm9wZQ", w.ana.token, nil), 400, "malformed-request")
}
