package httpapi_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestTransfer(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := w.call("POST", "/v1/transfers", w.ana.token, map[string]any{
		"postings": []any{posting(w.anaHours, w.benHours, "2.5", "HOUR")},
		"memo":     "bike repair", "metadata": map[string]any{"listing": "42", "tags": []string{"repair"}},
	})
	tr := w.must(r, 201)
	if r.header.Get("Location") != "/v1/transfers/"+tr["id"].(string) {
		t.Errorf("Location %q", r.header.Get("Location"))
	}
	ps := tr["postings"].([]any)
	if tr["state"] != "posted" || tr["memo"] != "bike repair" || len(ps) != 1 ||
		ps[0].(map[string]any)["amount"] != "2.50" || tr["created_at"] != "2026-03-01T09:00:00Z" {
		t.Errorf("transfer %v", tr)
	}
	if md := tr["metadata"].(map[string]any); md["listing"] != "42" {
		t.Errorf("metadata %v", md)
	}
	if p, a := w.balance(w.anaHours); p != "-2.50" || a != "-2.50" {
		t.Errorf("ana %s/%s", p, a)
	}
	if p, _ := w.balance(w.benHours); p != "2.50" {
		t.Errorf("ben %s", p)
	}
	// Multi-unit: the co-op pays the pool in dollars while the pool gives
	// hours to Cam, in one transfer (the admin may move from any account).
	w.must(w.transfer(w.admin.token, "fund", posting(w.bankUSD, w.coopUSD, "100", "USD")), 201)
	w.must(w.transfer(w.admin.token, "swap", posting(w.coopUSD, w.bankUSD, "12.34", "USD"), posting(w.poolHours, w.camHours, "0", "HOUR")), 422)
	w.must(w.transfer(w.admin.token, "swap", posting(w.coopUSD, w.bankUSD, "12.34", "USD"), posting(w.benHours, w.camHours, "1", "HOUR")), 201)
}

func TestTransferRefusals(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.must(w.transfer(w.ana.token, "", posting(w.anaHours, w.benHours, "2.50", "HOUR")), 201)

	// Insufficient funds names the account, its unit, what it had and what
	// was asked, as fields.
	p := w.problem(w.transfer(w.ana.token, "", posting(w.anaHours, w.benHours, "30", "HOUR")), 422, "insufficient-funds")
	if p.Account == nil || p.Account.String() != w.anaHours || p.Unit != "HOUR" || p.Available != "17.50" || p.Requested != "30.00" {
		t.Errorf("insufficient funds problem: %+v", p)
	}

	for _, tc := range []struct {
		name   string
		token  string
		body   any
		status int
		typ    string
		field  string
	}{
		{"amount as a number", w.ana.token, `{"postings":[{"from":"` + w.anaHours + `","to":"` + w.benHours + `","amount":2.5,"unit":"HOUR"}]}`,
			422, "validation-failed", "postings[0].amount"},
		{"amount with an exponent", w.ana.token, `{"postings":[{"from":"` + w.anaHours + `","to":"` + w.benHours + `","amount":"1e2","unit":"HOUR"}]}`,
			422, "validation-failed", "postings[0].amount"},
		{"too many decimals", w.ana.token, map[string]any{"postings": []any{posting(w.anaHours, w.benHours, "1.234", "HOUR")}},
			422, "too-many-decimals", "postings[0].amount"},
		{"zero", w.ana.token, map[string]any{"postings": []any{posting(w.anaHours, w.benHours, "0", "HOUR")}},
			422, "non-positive-amount", "postings[0].amount"},
		{"negative", w.ana.token, map[string]any{"postings": []any{posting(w.anaHours, w.benHours, "-1", "HOUR")}},
			422, "non-positive-amount", "postings[0].amount"},
		{"no postings", w.ana.token, map[string]any{"postings": []any{}}, 422, "validation-failed", "postings"},
		{"a from that is not a UUID", w.ana.token, map[string]any{"postings": []any{posting("ana", w.benHours, "1", "HOUR")}},
			422, "validation-failed", "postings[0].from"},
		{"missing fields", w.ana.token, map[string]any{"postings": []any{map[string]any{"from": w.anaHours}}},
			422, "validation-failed", "postings[0].amount"},
		{"to itself", w.ana.token, map[string]any{"postings": []any{posting(w.anaHours, w.anaHours, "1", "HOUR")}},
			422, "same-account", "postings[0]"},
		{"wrong unit", w.ana.token, map[string]any{"postings": []any{posting(w.anaHours, w.benHours, "1", "USD")}},
			422, "unit-mismatch", "postings[0].from"},
		{"unknown unit", w.ana.token, map[string]any{"postings": []any{posting(w.anaHours, w.benHours, "1", "EUR")}},
			404, "not-found", "postings[0].unit"},
		{"unknown to", w.ana.token, map[string]any{"postings": []any{posting(w.anaHours, uuid.NewString(), "1", "HOUR")}},
			404, "not-found", "postings[0].to"},
		{"unknown from", w.ana.token, map[string]any{"postings": []any{posting(uuid.NewString(), w.benHours, "1", "HOUR")}},
			404, "not-found", "postings[0].from"},
		{"from an account one may not see", w.ana.token, map[string]any{"postings": []any{posting(w.camHours, w.anaHours, "1", "HOUR")}},
			404, "not-found", "postings[0].from"},
		{"from a member's account, as their coordinator", w.coordTB.token, map[string]any{"postings": []any{posting(w.anaHours, w.benHours, "1", "HOUR")}},
			403, "forbidden", "postings[0].from"},
		{"the second posting not one's own", w.ana.token, map[string]any{"postings": []any{
			posting(w.anaHours, w.benHours, "1", "HOUR"), posting(w.benHours, w.anaHours, "1", "HOUR")}},
			404, "not-found", "postings[1].from"},
		{"metadata not an object", w.ana.token, map[string]any{"postings": []any{posting(w.anaHours, w.benHours, "1", "HOUR")}, "metadata": []int{1}},
			422, "invalid-request", "metadata"},
		{"expiry without pending", w.ana.token, map[string]any{"postings": []any{posting(w.anaHours, w.benHours, "1", "HOUR")}, "expires_at": "2026-03-02T00:00:00Z"},
			422, "invalid-request", "expires_at"},
		{"expiry not a time", w.ana.token, map[string]any{"postings": []any{posting(w.anaHours, w.benHours, "1", "HOUR")}, "pending": true, "expires_at": "tomorrow"},
			422, "validation-failed", "expires_at"},
		{"memo too long", w.ana.token, map[string]any{"postings": []any{posting(w.anaHours, w.benHours, "1", "HOUR")}, "memo": strings.Repeat("m", 1001)},
			422, "validation-failed", "memo"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := w.problem(w.call("POST", "/v1/transfers", tc.token, tc.body), tc.status, tc.typ)
			if !hasField(p, tc.field) {
				t.Errorf("problem does not name %q: %+v", tc.field, p.Errors)
			}
		})
	}
	p = w.problem(w.call("POST", "/v1/transfers", w.ana.token, `{"postings":[{"from":"`+w.anaHours+`","to":"`+w.benHours+`","amount":2.5,"unit":"HOUR"}]}`), 422, "validation-failed")
	if p.Errors[0].Message != `amount must be a decimal string, such as "2.50"` {
		t.Errorf("message %q", p.Errors[0].Message)
	}
	// A coordinator moves the time bank's own value.
	w.must(w.transfer(w.coordTB.token, "pool gift", posting(w.poolHours, w.anaHours, "1", "HOUR")), 422) // the pool is empty
	w.must(w.transfer(w.ben.token, "donation", posting(w.benHours, w.poolHours, "2", "HOUR")), 201)
	w.must(w.transfer(w.coordTB.token, "pool gift", posting(w.poolHours, w.anaHours, "1", "HOUR")), 201)
	// None of the refusals moved anything.
	if p, _ := w.balance(w.anaHours); p != "-1.50" {
		t.Errorf("ana %s after refusals", p)
	}
}

func TestReadTransfers(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	var ids []string
	for i := range 3 {
		w.clock.Advance(time.Minute)
		tr := w.must(w.transfer(w.ana.token, "t"+string(rune('0'+i)), posting(w.anaHours, w.benHours, "1", "HOUR")), 201)
		ids = append(ids, tr["id"].(string))
	}
	for _, tc := range []struct {
		who    string
		token  string
		status int
	}{
		{"payer", w.ana.token, 200},
		{"payee", w.ben.token, 200},
		{"their coordinator", w.coordTB.token, 200},
		{"admin", w.admin.token, 200},
		{"a stranger", w.cam.token, 404},
		{"another org's coordinator", w.coordCoop.token, 404},
	} {
		r := w.call("GET", "/v1/transfers/"+ids[0], tc.token, nil)
		if r.status != tc.status {
			t.Errorf("%s: GET transfer %d, want %d", tc.who, r.status, tc.status)
		}
		if tc.status == 404 {
			if p := w.problem(r, 404, "not-found"); p.Detail != "unknown transfer "+ids[0] {
				t.Errorf("detail %q", p.Detail)
			}
		}
	}
	ghost := uuid.NewString()
	if p := w.problem(w.call("GET", "/v1/transfers/"+ghost, w.admin.token, nil), 404, "not-found"); p.Detail != "unknown transfer "+ghost {
		t.Errorf("detail %q", p.Detail)
	}

	// The account's transfers, newest first, one per page.
	var got []string
	path := "/v1/transfers?limit=1&account=" + w.benHours
	for range 5 {
		l := w.must(w.call("GET", path, w.ben.token, nil), 200)
		for _, it := range l["items"].([]any) {
			got = append(got, it.(map[string]any)["id"].(string))
		}
		next, _ := l["next"].(string)
		if next == "" {
			break
		}
		path = "/v1/transfers?limit=1&account=" + w.benHours + "&after=" + next
	}
	if strings.Join(got, ",") != strings.Join([]string{ids[2], ids[1], ids[0]}, ",") {
		t.Errorf("transfers of ben's account %v, want %v newest first", got, ids)
	}
	w.problem(w.call("GET", "/v1/transfers", w.ben.token, nil), 400, "malformed-request")
	w.problem(w.call("GET", "/v1/transfers?account="+w.anaHours, w.ben.token, nil), 404, "not-found")
	w.problem(w.call("GET", "/v1/transfers?account=nope", w.ben.token, nil), 404, "not-found")
	// An entries cursor is not a transfers cursor.
	l := w.must(w.call("GET", "/v1/accounts/"+w.benHours+"/entries?limit=1", w.ben.token, nil), 200)
	w.problem(w.call("GET", "/v1/transfers?account="+w.benHours+"&after="+l["next"].(string), w.ben.token, nil), 400, "malformed-request")
}

func TestHolds(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	hold := func(amount string, expires time.Duration) string {
		t.Helper()
		body := map[string]any{"postings": []any{posting(w.anaHours, w.benHours, amount, "HOUR")}, "pending": true, "memo": "childcare"}
		if expires > 0 {
			body["expires_at"] = w.clock.Now().Add(expires).Format(time.RFC3339)
		}
		tr := w.must(w.call("POST", "/v1/transfers", w.ana.token, body), 201)
		if tr["state"] != "pending" {
			t.Fatalf("hold %v", tr)
		}
		return tr["id"].(string)
	}
	h1 := hold("3", time.Hour)
	if p, a := w.balance(w.anaHours); p != "0.00" || a != "-3.00" {
		t.Errorf("ana with a hold: posted %s available %s", p, a)
	}
	// Ben, who receives, may not post it; Ana may, in part.
	w.problem(w.call("POST", "/v1/transfers/"+h1+"/post", w.ben.token, nil), 403, "forbidden")
	w.problem(w.call("POST", "/v1/transfers/"+h1+"/post", w.cam.token, nil), 404, "not-found")
	w.problem(w.call("POST", "/v1/transfers/"+h1+"/post", w.ana.token, map[string]any{"amounts": []string{"3.01"}}), 422, "invalid-request")
	w.problem(w.call("POST", "/v1/transfers/"+h1+"/post", w.ana.token, map[string]any{"amounts": []any{2}}), 422, "validation-failed")
	r := w.call("POST", "/v1/transfers/"+h1+"/post", w.ana.token, map[string]any{"amounts": []string{"2"}})
	posted := w.must(r, 201)
	if posted["pending_id"] != h1 || posted["state"] != "posted" || posted["postings"].([]any)[0].(map[string]any)["amount"] != "2.00" ||
		posted["memo"] != "childcare" {
		t.Errorf("posting transfer %v", posted)
	}
	if p, a := w.balance(w.anaHours); p != "-2.00" || a != "-2.00" {
		t.Errorf("ana after posting 2 of 3: posted %s available %s", p, a)
	}
	h := w.must(w.call("GET", "/v1/transfers/"+h1, w.ana.token, nil), 200)
	if h["state"] != "posted" || h["resolved_by"] != posted["id"] {
		t.Errorf("posted hold %v", h)
	}
	w.problem(w.call("POST", "/v1/transfers/"+h1+"/post", w.ana.token, nil), 409, "hold-not-pending")
	w.problem(w.call("POST", "/v1/transfers/"+h1+"/void", w.ana.token, nil), 409, "hold-not-pending")

	// Voiding.
	h2 := hold("4", 0)
	w.problem(w.call("POST", "/v1/transfers/"+h2+"/void", w.ben.token, nil), 403, "forbidden")
	w.problem(w.call("POST", "/v1/transfers/"+h2+"/void", w.ana.token, `{"reason":"x"}`), 400, "malformed-request")
	v := w.must(w.call("POST", "/v1/transfers/"+h2+"/void", w.ana.token, `{}`), 200)
	if v["state"] != "voided" || v["id"] != h2 {
		t.Errorf("voided hold %v", v)
	}
	if _, a := w.balance(w.anaHours); a != "-2.00" {
		t.Errorf("ana after the void: available %s", a)
	}
	// Posting nothing voids too.
	h3 := hold("1", 0)
	if v := w.must(w.call("POST", "/v1/transfers/"+h3+"/post", w.ana.token, map[string]any{"amounts": []string{"0"}}), 200); v["state"] != "voided" {
		t.Errorf("hold posted with nothing %v", v)
	}
	// An expired hold cannot be posted.
	h4 := hold("1", time.Minute)
	w.clock.Advance(2 * time.Minute)
	w.problem(w.call("POST", "/v1/transfers/"+h4+"/post", w.ana.token, nil), 409, "hold-expired")
	w.problem(w.call("POST", "/v1/transfers/"+uuid.NewString()+"/void", w.ana.token, nil), 404, "not-found")
	w.problem(w.call("POST", "/v1/transfers", w.ana.token, map[string]any{
		"postings": []any{posting(w.anaHours, w.benHours, "1", "HOUR")}, "pending": true,
		"expires_at": w.clock.Now().Add(-time.Minute).Format(time.RFC3339)}), 422, "invalid-request")
}

func TestReverse(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	pay := func() string {
		t.Helper()
		return w.must(w.transfer(w.ana.token, "lesson", posting(w.anaHours, w.benHours, "2", "HOUR")), 201)["id"].(string)
	}
	id := pay()
	// The payer cannot take the value back; the payee can give it back.
	w.problem(w.call("POST", "/v1/transfers/"+id+"/reverse", w.ana.token, nil), 403, "forbidden")
	w.problem(w.call("POST", "/v1/transfers/"+id+"/reverse", w.coordTB.token, nil), 403, "forbidden")
	w.problem(w.call("POST", "/v1/transfers/"+id+"/reverse", w.cam.token, nil), 404, "not-found")
	rev := w.must(w.call("POST", "/v1/transfers/"+id+"/reverse", w.ben.token, map[string]any{"memo": "lesson cancelled"}), 201)
	p := rev["postings"].([]any)[0].(map[string]any)
	if rev["reverses"] != id || p["from"] != w.benHours || p["to"] != w.anaHours || rev["memo"] != "lesson cancelled" {
		t.Errorf("reversal %v", rev)
	}
	if b, _ := w.balance(w.anaHours); b != "0.00" {
		t.Errorf("ana after the reversal %s", b)
	}
	w.problem(w.call("POST", "/v1/transfers/"+id+"/reverse", w.ben.token, nil), 409, "already-reversed")
	// The admin may reverse; a reversal obeys the bounds like any transfer.
	id2 := pay()
	w.must(w.transfer(w.ben.token, "spent", posting(w.benHours, w.camHours, "21", "HOUR")), 201) // ben: 2 - 21 = -19
	ip := w.problem(w.call("POST", "/v1/transfers/"+id2+"/reverse", w.admin.token, nil), 422, "insufficient-funds")
	if ip.Account == nil || ip.Account.String() != w.benHours || ip.Available != "1.00" || ip.Requested != "2.00" {
		t.Errorf("reversal refusal %+v", ip)
	}
	hold := w.must(w.call("POST", "/v1/transfers", w.ana.token, map[string]any{
		"postings": []any{posting(w.anaHours, w.benHours, "1", "HOUR")}, "pending": true}), 201)["id"].(string)
	w.problem(w.call("POST", "/v1/transfers/"+hold+"/reverse", w.admin.token, nil), 409, "not-reversible")
}

func TestBatch(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	tr := func(from, to, amount string) map[string]any {
		return map[string]any{"postings": []any{posting(from, to, amount, "HOUR")}}
	}
	// Atomic: all or nothing; a later transfer may spend what an earlier
	// one brought.
	usd := func(from, to, amount string) map[string]any {
		return map[string]any{"postings": []any{posting(from, to, amount, "USD")}}
	}
	r := w.call("POST", "/v1/transfers/batch", w.admin.token, map[string]any{"atomic": true, "transfers": []any{
		usd(w.bankUSD, w.coopUSD, "20"), usd(w.coopUSD, w.bankUSD, "19.5")}})
	out := w.must(r, 201)
	if n := len(out["transfers"].([]any)); n != 2 {
		t.Fatalf("%d transfers", n)
	}
	p := w.problem(w.call("POST", "/v1/transfers/batch", w.ana.token, map[string]any{"atomic": true, "transfers": []any{
		tr(w.anaHours, w.benHours, "5"), tr(w.anaHours, w.benHours, "16")}}), 422, "insufficient-funds")
	if p.Index == nil || *p.Index != 1 || p.Available != "15.00" || p.Requested != "16.00" {
		t.Errorf("atomic refusal %+v", p)
	}
	if b, _ := w.balance(w.anaHours); b != "0.00" {
		t.Errorf("the refused batch moved value: ana %s", b)
	}
	p = w.problem(w.call("POST", "/v1/transfers/batch", w.ana.token, map[string]any{"atomic": true, "transfers": []any{
		tr(w.anaHours, w.benHours, "1"), tr(w.camHours, w.benHours, "1")}}), 404, "not-found")
	if p.Index == nil || *p.Index != 1 || !hasField(p, "transfers[1].postings[0].from") {
		t.Errorf("atomic batch with a foreign account %+v", p)
	}
	p = w.problem(w.call("POST", "/v1/transfers/batch", w.ana.token, map[string]any{"atomic": true, "transfers": []any{
		tr(w.anaHours, w.benHours, "1"), tr(w.anaHours, w.benHours, "1.001")}}), 422, "too-many-decimals")
	if p.Index == nil || *p.Index != 1 || !hasField(p, "transfers[1].postings[0].amount") {
		t.Errorf("atomic batch with too many decimals %+v", p)
	}

	// Not atomic: each on its own, one result per transfer.
	res := w.must(w.call("POST", "/v1/transfers/batch", w.ana.token, map[string]any{"atomic": false, "transfers": []any{
		tr(w.anaHours, w.benHours, "5"), tr(w.anaHours, w.benHours, "16"), tr(w.camHours, w.anaHours, "1"), tr(w.anaHours, w.benHours, "15")}}), 200)
	results := res["results"].([]any)
	var statuses []float64
	for _, x := range results {
		statuses = append(statuses, x.(map[string]any)["status"].(float64))
	}
	if len(statuses) != 4 || statuses[0] != 201 || statuses[1] != 422 || statuses[2] != 404 || statuses[3] != 201 {
		t.Fatalf("statuses %v", statuses)
	}
	prob := results[1].(map[string]any)["problem"].(map[string]any)
	if prob["type"] != "https://mutual.example/problems/insufficient-funds" || prob["index"] != 1.0 || prob["requested"] != "16.00" {
		t.Errorf("item problem %v", prob)
	}
	if b, _ := w.balance(w.anaHours); b != "-20.00" {
		t.Errorf("ana after the non-atomic batch %s", b)
	}

	w.problem(w.call("POST", "/v1/transfers/batch", w.ana.token, map[string]any{"transfers": []any{tr(w.anaHours, w.benHours, "1")}}), 422, "validation-failed")
	p = w.problem(w.call("POST", "/v1/transfers/batch", w.ana.token, map[string]any{"atomic": true, "transfers": []any{
		tr(w.anaHours, w.benHours, "1"), map[string]any{"postings": []any{map[string]any{"from": w.anaHours, "to": w.benHours, "unit": "HOUR", "amount": 1}}}}}), 422, "validation-failed")
	if !hasField(p, "transfers[1].postings[0].amount") {
		t.Errorf("batch validation %+v", p.Errors)
	}
	w.problem(w.call("POST", "/v1/transfers/batch", w.ana.token, map[string]any{"atomic": true, "transfers": []any{}}), 422, "validation-failed")
}
