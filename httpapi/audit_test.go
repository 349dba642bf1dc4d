package httpapi_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mutual-ledger/mutual/exchange"
)

// auditRows are the authorization matrix's rows for the audit log,
// erasure and settlement. Callers: none, bad, Ana, Ben (Ana's time bank),
// Cam (the co-op), the time bank's coordinator, the co-op's, the admin.
// They run after the matrix's own rows, which set the time bank's rules.
func (w *world) auditRows() []authzRow {
	tb := "/v1/orgs/" + w.timebank.ID.String()
	n := 0
	fresh := func() actor {
		n++
		return w.member(w.timebank, exchange.RoleMember, fmt.Sprintf("Member %d", n))
	}
	return []authzRow{
		{"GET /v1/orgs/{id}/audit", func(tk string) resp { return w.call("GET", tb+"/audit", tk, nil) },
			[]int{401, 401, 404, 404, 404, 200, 404, 200}},
		{"GET /v1/members/{id}/audit", func(tk string) resp { return w.call("GET", "/v1/members/"+w.ana.id.String()+"/audit", tk, nil) },
			[]int{401, 401, 200, 404, 404, 200, 404, 200}},
		{"POST /v1/members/{id}/erase", func(tk string) resp {
			return w.call("POST", "/v1/members/"+fresh().id.String()+"/erase", tk, nil)
		}, []int{401, 401, 404, 404, 404, 403, 404, 200}},
		{"POST /v1/orgs/{id}/timebank/settlements", func(tk string) resp {
			return w.call("POST", tb+"/timebank/settlements", tk, map[string]any{"member_id": fresh().id.String()})
		}, []int{401, 401, 403, 403, 404, 200, 404, 200}},
	}
}

// auditPage reads every page of an audit listing, limit at a time.
func (w *world) auditPages(path, token string, limit int) []map[string]any {
	w.t.Helper()
	var out []map[string]any
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	next := ""
	for range 100 {
		p := fmt.Sprintf("%s%slimit=%d", path, sep, limit)
		if next != "" {
			p += "&after=" + url.QueryEscape(next)
		}
		body := w.must(w.call("GET", p, token, nil), 200)
		items := body["items"].([]any)
		if len(items) > limit {
			w.t.Fatalf("a page of %d items, limit %d", len(items), limit)
		}
		for _, it := range items {
			out = append(out, it.(map[string]any))
		}
		if body["next"] == nil {
			return out
		}
		next = body["next"].(string)
	}
	w.t.Fatal("pages never end")
	return nil
}

// TestActingForAMemberOverHTTP: the time bank's coordinator, with her own
// token or session and the Mutual-On-Behalf-Of header, posts a listing and
// gives hours for Ana; both people are recorded and Ana sees it in her
// history. A coordinator of another organization, a plain member and a bad
// header are refused, and change nothing.
func TestActingForAMemberOverHTTP(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ana := w.ana.id.String()
	listing := map[string]any{"org_id": w.timebank.ID.String(), "kind": "offer", "title": "Soup on Sundays",
		"category": "food", "quantity": "2", "place": map[string]any{"lat": 45.5, "lon": -73.5}}
	l := w.must(w.call("POST", "/v1/listings", w.coordTB.token, listing, "Mutual-On-Behalf-Of", ana), 201)
	if l["owner"] != ana {
		t.Errorf("listing posted for Ana is owned by %v", l["owner"])
	}
	// As herself, the coordinator may not move Ana's hours.
	w.problem(w.transfer(w.coordTB.token, "", posting(w.anaHours, w.benHours, "1", "HOUR")), 403, "forbidden")
	gift := w.must(w.call("POST", "/v1/transfers", w.coordTB.token, map[string]any{
		"postings": []any{posting(w.anaHours, w.benHours, "1", "HOUR")}}, "Mutual-On-Behalf-Of", ana), 201)

	// With a session: the coordinator signs in with a code.
	code := w.must(w.call("POST", "/v1/members/"+w.coordTB.id.String()+"/signin-codes", w.admin.token, nil), 201)["code"].(string)
	signin := w.call("POST", "/v1/signin/code", "", map[string]any{"member_id": w.coordTB.id.String(), "code": code})
	cookie := setCookie(t, signin, plainCookie)
	bySession := w.must(w.call("POST", "/v1/transfers", "", map[string]any{
		"postings": []any{posting(w.anaHours, w.benHours, "0.5", "HOUR")}},
		"Mutual-On-Behalf-Of", ana, "Cookie", cookie.Name+"="+cookie.Value), 201)

	// Refusals.
	w.problem(w.call("POST", "/v1/listings", w.coordCoop.token, listing, "Mutual-On-Behalf-Of", ana), 403, "forbidden")
	w.problem(w.call("POST", "/v1/listings", w.ben.token, listing, "Mutual-On-Behalf-Of", ana), 403, "forbidden")
	w.problem(w.call("POST", "/v1/listings", w.coordTB.token, listing, "Mutual-On-Behalf-Of", w.cam.id.String()), 403, "forbidden")
	w.problem(w.call("POST", "/v1/listings", w.coordTB.token, listing, "Mutual-On-Behalf-Of", "Ana"), 400, "malformed-request")
	w.wantBalance("Ana's hours", w.anaHours, "-1.50", "-1.50")

	// Ana's history shows both gifts and the listing, each with both people.
	hist := w.auditPages("/v1/members/"+ana+"/audit", w.ana.token, 50)
	found := map[string]string{}
	for _, ev := range hist {
		if ev["on_behalf_of"] == ana && ev["actor"] == w.coordTB.id.String() {
			found[fmt.Sprint(ev["subject"])] = fmt.Sprint(ev["kind"], " ", ev["credential"])
		}
	}
	for id, want := range map[string]string{l["id"].(string): "listing.created token", gift["id"].(string): "transfer.created token",
		bySession["id"].(string): "transfer.created session"} {
		if found[id] != want {
			t.Errorf("Ana's history for %s: %q, want %q (all: %v)", id, found[id], want, found)
		}
	}
	if len(found) != 3 {
		t.Errorf("Ana's history has %d actions done for her, want 3: %v", len(found), found)
	}
	// Ben may not read Ana's history.
	w.problem(w.call("GET", "/v1/members/"+ana+"/audit", w.ben.token, nil), 404, "not-found")
}

// TestOrgAuditOverHTTP pages through the time bank's log and filters it by
// member, kind and time.
func TestOrgAuditOverHTTP(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	tb := "/v1/orgs/" + w.timebank.ID.String() + "/audit"
	start := w.clock.Now()
	for range 4 {
		w.must(w.transfer(w.ana.token, "", posting(w.anaHours, w.benHours, "1", "HOUR")), 201)
	}
	w.clock.Advance(2 * time.Hour)
	for range 3 {
		w.must(w.transfer(w.ben.token, "", posting(w.benHours, w.anaHours, "1", "HOUR")), 201)
	}
	all := w.auditPages(tb, w.coordTB.token, 3)
	seen := map[string]bool{}
	count := map[string]int{}
	for _, ev := range all {
		id := ev["id"].(string)
		if seen[id] {
			t.Errorf("event %s on two pages", id)
		}
		seen[id] = true
		count[ev["kind"].(string)]++
	}
	if count["transfer.created"] != 7 { // Ana's four and Ben's three
		t.Errorf("transfers in the log: %v", count)
	}
	// Ana's: her four; Ben's three into her account are Ben's (they
	// concern the account moved from).
	byAna := w.auditPages(tb+"?kind=transfer.created&member="+w.ana.id.String(), w.coordTB.token, 2)
	if len(byAna) != 4 {
		t.Errorf("Ana's transfers: %d, want 4", len(byAna))
	}
	for _, ev := range byAna {
		if ev["actor"] != w.ana.id.String() || ev["credential"] != "token" || ev["credential_id"] == nil {
			t.Errorf("Ana's event: %v", ev)
		}
	}
	from := url.QueryEscape(start.Add(time.Hour).Format(time.RFC3339))
	if later := w.auditPages(tb+"?kind=transfer&from="+from, w.coordTB.token, 50); len(later) != 3 {
		t.Errorf("transfers after the first hour: %d, want 3", len(later))
	}
	to := url.QueryEscape(start.Add(time.Hour).Format(time.RFC3339))
	if earlier := w.auditPages(tb+"?kind=transfer&member="+w.ana.id.String()+"&to="+to, w.coordTB.token, 50); len(earlier) != 4 {
		t.Errorf("Ana's transfers in the first hour: %d, want 4", len(earlier))
	}
	// Bad filters are 400 or 422 and name the parameter.
	for q, field := range map[string]string{"?member=ana": "member", "?from=yesterday": "from", "?kind=Transfer!": "kind",
		"?after=" + base64.RawURLEncoding.EncodeToString([]byte("orgs:x")): "after"} {
		r := w.call("GET", tb+q, w.coordTB.token, nil)
		if r.status != 400 && r.status != 422 {
			t.Errorf("%s: %d", q, r.status)
			continue
		}
		if p := w.problem(r, r.status, map[int]string{400: "malformed-request", 422: "invalid-request"}[r.status]); !hasField(p, field) {
			t.Errorf("%s: problem does not name %s: %+v", q, field, p)
		}
	}
	// The co-op's coordinator, and anyone for an organization that does
	// not exist, gets 404.
	w.problem(w.call("GET", tb, w.coordCoop.token, nil), 404, "not-found")
	w.problem(w.call("GET", "/v1/orgs/"+w.coop.ID.String()+"/audit", w.coordTB.token, nil), 404, "not-found")
	// The coordinator of the local organization above sees the time bank's.
	coordLocal := w.member(w.local, exchange.RoleCoordinator, "Lou")
	if got := w.auditPages(tb+"?kind=transfer.created", coordLocal.token, 50); len(got) != 7 {
		t.Errorf("the local coordinator sees %d transfers, want 7", len(got))
	}
}

// findIn reports, for each needle, the table.column values that hold it:
// every text, character varying, jsonb and bytea column of every table of
// the schema, the identifiers read from the catalog, never from input.
func findIn(t *testing.T, pool *pgxpool.Pool, needles ...string) map[string][]string {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `
SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c
JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
  AND c.data_type IN ('text', 'character varying', 'jsonb', 'bytea')
ORDER BY c.table_name, c.column_name`)
	if err != nil {
		t.Fatal(err)
	}
	type col struct{ table, column, typ string }
	var cols []col
	for rows.Next() {
		var c col
		if err := rows.Scan(&c.table, &c.column, &c.typ); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(cols) < 40 {
		t.Fatalf("only %d text columns found: the catalog query is wrong", len(cols))
	}
	out := map[string][]string{}
	for _, c := range cols {
		ident := pgx.Identifier{c.table}.Sanitize()
		column := pgx.Identifier{c.column}.Sanitize()
		expr := column + "::text"
		if c.typ == "bytea" {
			expr = "convert_from(" + column + ", 'UTF8')"
		}
		for _, needle := range needles {
			var n int
			q := `SELECT count(*) FROM ` + ident + ` WHERE strpos(` + expr + `, $1) > 0`
			if c.typ == "bytea" {
				q = `SELECT count(*) FROM ` + ident + ` WHERE position(convert_to($1, 'UTF8') IN ` + column + `) > 0`
			}
			if err := pool.QueryRow(ctx, q, needle).Scan(&n); err != nil {
				t.Fatalf("searching %s.%s: %v", c.table, c.column, err)
			}
			if n > 0 {
				out[needle] = append(out[needle], c.table+"."+c.column)
			}
		}
	}
	return out
}

// balances returns every account's posted and held amounts.
func balances(t *testing.T, pool *pgxpool.Pool) map[string]string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT id::text, balance::text || '/' || pending_debits::text || '/' || pending_credits::text FROM accounts`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for rows.Next() {
		var id, b string
		if err := rows.Scan(&id, &b); err != nil {
			t.Fatal(err)
		}
		out[id] = b
	}
	return out
}

// TestErasureOverHTTP: a member admitted with an email, invited by email
// and phone, holding a token, a session and hours, asks to be erased: 409
// until a coordinator settles her hours with the pool; then her name, email
// and phone are in no column of any table and not in the journal export,
// the books verify with every balance unchanged, she can no longer sign
// in, and her account takes no more movements.
func TestErasureOverHTTP(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	pool := w.db.Pool.Pool
	const name, email, phone = "Zelda Quintanilla-Erasmus", "zelda.q@example.org", "+1 514 555 0199"
	tb := "/v1/orgs/" + w.timebank.ID.String()
	w.must(w.call("PUT", tb+"/timebank", w.coordTB.token, map[string]any{"credit_limit": "10"}), 201)
	// Admitted with an email, the answer kept for the Idempotency-Key.
	adm := w.must(w.call("POST", tb+"/members", w.coordTB.token, map[string]any{"name": name, "email": email, "role": "member"},
		"Idempotency-Key", "admit-zelda"), 201)
	zelda, account := adm["id"].(string), adm["account_id"].(string)
	// Invited again to the co-op by email and phone (never accepted).
	w.must(w.call("POST", "/v1/orgs/"+w.coop.ID.String()+"/invitations", w.coordCoop.token,
		map[string]any{"role": "member", "name": name, "email": email, "phone": phone}), 201)
	// A token and a session.
	tok := w.must(w.call("POST", "/v1/tokens", w.coordTB.token, map[string]any{"member_id": zelda, "name": "Zelda's phone"}), 201)["secret"].(string)
	code := w.must(w.call("POST", "/v1/members/"+zelda+"/signin-codes", w.coordTB.token, nil), 201)["code"].(string)
	cookie := setCookie(t, w.call("POST", "/v1/signin/code", "", map[string]any{"member_id": zelda, "code": code}), plainCookie)
	session := cookie.Name + "=" + cookie.Value
	// Hours: Ben gives her 3, she gives 1 back.
	w.must(w.transfer(w.ben.token, "for the soup", posting(w.benHours, account, "3", "HOUR")), 201)
	w.must(w.call("POST", "/v1/transfers", "", map[string]any{"postings": []any{posting(account, w.benHours, "1", "HOUR")}}, "Cookie", session), 201)

	// Before: the scan finds her, so it can fail.
	before := findIn(t, pool, name, email, phone)
	for _, needle := range []string{name, email, phone} {
		if len(before[needle]) == 0 {
			t.Fatalf("before erasure %q is in no column: the scan cannot see it", needle)
		}
	}

	// Erasing with 2 hours: 409, nothing changes.
	p := w.problem(w.call("POST", "/v1/members/"+zelda+"/erase", tok, nil), 409, "not-settled")
	if !strings.Contains(p.Detail, "2.00") {
		t.Errorf("the refusal does not say what is left: %s", p.Detail)
	}
	w.must(w.call("GET", "/v1/members/"+zelda, tok, nil), 200)
	// Ben may not settle; the coordinator does, into the pool.
	w.problem(w.call("POST", tb+"/timebank/settlements", w.ben.token, map[string]any{"member_id": zelda}), 403, "forbidden")
	st := w.must(w.call("POST", tb+"/timebank/settlements", w.coordTB.token, map[string]any{"member_id": zelda}), 200)
	if st["moved"].(map[string]any)[account] != "2.00" || st["transfer"] == nil {
		t.Errorf("settlement: %v", st)
	}
	w.wantHours("Zelda after settlement", account, "0.00")

	balancesBefore := balances(t, pool)
	er := w.must(w.call("POST", "/v1/members/"+zelda+"/erase", "", nil, "Cookie", session), 200)
	if er["name"] != "former member 1" || er["number"] != float64(1) {
		t.Errorf("erasure: %v", er)
	}
	// Every balance as it was; the books verify.
	if after := balances(t, pool); fmt.Sprint(after) != fmt.Sprint(balancesBefore) {
		t.Errorf("balances changed by the erasure:\nbefore %v\nafter  %v", balancesBefore, after)
	}
	if v, err := w.led.Verify(ctx); err != nil || len(v) > 0 {
		t.Errorf("verify after erasure: %v, %v", v, err)
	}
	// Her name, email and phone are nowhere.
	for needle, where := range findIn(t, pool, name, email, phone) {
		t.Errorf("%q is still in %v", needle, where)
	}
	journal := w.call("GET", "/v1/export/journal?format=hledger", w.admin.token, nil)
	if journal.status != 200 || len(journal.body) == 0 {
		t.Fatalf("journal export: %s", journal)
	}
	for _, needle := range []string{name, email, phone} {
		if strings.Contains(string(journal.body), needle) {
			t.Errorf("the journal export holds %q", needle)
		}
	}
	// She can no longer sign in: her token and session are gone.
	w.problem(w.call("GET", "/v1/members/"+zelda, tok, nil), 401, "unauthenticated")
	r := w.call("GET", "/v1/members/"+zelda, "", nil, "Cookie", session)
	if r.status != 401 {
		t.Errorf("her session after erasure: %s", r)
	}
	w.problem(w.call("POST", "/v1/members/"+zelda+"/signin-codes", w.admin.token, nil), 409, "member-erased")
	// Her account stays, closed: no more movements, with a clear error.
	w.problem(w.transfer(w.ben.token, "", posting(w.benHours, account, "1", "HOUR")), 422, "account-closed")
	acc := w.must(w.call("GET", "/v1/accounts/"+account, w.admin.token, nil), 200)
	if acc["status"] != "closed" {
		t.Errorf("her account: %v", acc)
	}
	// The admin sees the erasure in the log, without the erased data.
	evs := w.auditPages("/v1/orgs/"+w.network.ID.String()+"/audit?kind=member.erased", w.admin.token, 10)
	if len(evs) != 1 || evs[0]["actor"] != zelda || evs[0]["credential"] != "session" || evs[0]["subject"] != zelda {
		t.Errorf("erasure events: %v", evs)
	}
	// Erasing again answers the same.
	again := w.must(w.call("POST", "/v1/members/"+zelda+"/erase", w.admin.token, nil), 200)
	if again["name"] != "former member 1" {
		t.Errorf("erasing again: %v", again)
	}
}
