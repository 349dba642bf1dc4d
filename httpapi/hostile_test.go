package httpapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// dbSnapshot is the content of every table of the database, one digest per
// table: what a refused request must leave as it was.
func (e *env) dbSnapshot() map[string]string {
	e.t.Helper()
	ctx := context.Background()
	rows, err := e.db.Pool.Query(ctx, `SELECT table_name FROM information_schema.tables
WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`)
	if err != nil {
		e.t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		e.t.Fatal(err)
	}
	if len(tables) < 10 {
		e.t.Fatalf("only %d tables: %v", len(tables), tables)
	}
	snap := make(map[string]string, len(tables))
	for _, table := range tables {
		// The names come from the catalog, not from a request.
		q := fmt.Sprintf(`SELECT count(*)::text || ':' || COALESCE(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM %s t`,
			pgx.Identifier{table}.Sanitize())
		var s string
		if err := e.db.Pool.QueryRow(ctx, q).Scan(&s); err != nil {
			e.t.Fatal(err)
		}
		snap[table] = s
	}
	return snap
}

// sameSnapshot fails the test for every table that changed.
func (e *env) sameSnapshot(what string, before, after map[string]string) {
	e.t.Helper()
	for table, b := range before {
		if after[table] != b {
			e.t.Errorf("%s changed table %s", what, table)
		}
	}
}

// TestHostileInputIsRefused sends what an attacker or a broken client
// would: NUL bytes and invalid UTF-8 in query parameters and in every kind
// of body text, duplicate and differently-cased JSON keys at every level,
// terminal escapes, bells and bidirectional overrides in what people read.
// Each is refused with a problem that names the parameter, key or field,
// and the database is left exactly as it was.
func TestHostileInputIsRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	tb, local := w.timebank.ID.String(), w.local.ID.String()
	listing := w.postListing(w.ana, "need", "Leaking kitchen sink", "2.00")

	// transfer is a valid transfer body from Ana to Ben; its parts are
	// swapped for hostile ones below.
	posting := func(amount string) string {
		return fmt.Sprintf(`{"from":%q,"to":%q,"amount":%q,"unit":"HOUR"}`, w.anaHours, w.benHours, amount)
	}
	transfer := func(memo, metadata string) string {
		return fmt.Sprintf(`{"postings":[%s],"memo":%s,"metadata":%s}`, posting("1"), memo, metadata)
	}
	if r := w.call("POST", "/v1/transfers", w.ana.token, transfer(`"ok"`, `{"a":"b"}`)); r.status != 201 {
		t.Fatalf("the valid transfer body is refused: %s", r)
	}
	listingJSON := func(title, description string) string {
		return fmt.Sprintf(`{"org_id":%q,"kind":"offer","title":%s,"description":%s,"category":"repairs","quantity":"1","place":{"lat":40,"lon":-3}}`,
			tb, title, description)
	}
	org := func(name string) string {
		return fmt.Sprintf(`{"name":%s,"kind":"council","parent_id":%q}`, name, local)
	}
	member := func(name string) string { return fmt.Sprintf(`{"name":%s,"role":"member"}`, name) }

	type hostile struct {
		name         string
		method, path string
		token        string
		body         string // sent as is; "" for none
		status       int
		typ          string
		field        string // the field, key or parameter the problem must name
	}
	var cases []hostile

	// NUL in a query parameter of every list and search endpoint.
	lists := []struct{ path, param string }{
		{"/v1/listings", "category"}, {"/v1/listings", "q"}, {"/v1/listings", "kind"},
		{"/v1/listings/" + listing + "/matches", "limit"},
		{"/v1/transfers", "account"}, {"/v1/agreements", "status"}, {"/v1/trades", "org"},
		{"/v1/me/notifications", "unread"}, {"/v1/funds", "after"}, {"/v1/funds/" + tb + "/grants", "status"},
		{"/v1/funds/" + tb + "/report", "period"}, {"/v1/orgs", "limit"}, {"/v1/orgs/" + tb + "/members", "after"},
		{"/v1/accounts/" + w.anaHours + "/entries", "after"}, {"/v1/accounts/" + w.anaHours + "/balance", "at"},
		{"/v1/orgs/" + tb + "/statement", "from"}, {"/v1/units", "limit"}, {"/v1/categories", "x"},
		{"/v1/export/journal", "format"},
	}
	for _, l := range lists {
		cases = append(cases, hostile{"NUL in ?" + l.param + " of " + l.path, "GET", l.path + "?" + l.param + "=a%00b", w.admin.token, "", 400, "malformed-request", l.param})
	}
	cases = append(cases,
		hostile{"invalid UTF-8 in ?q", "GET", "/v1/listings?q=%FF%FE", w.ana.token, "", 400, "malformed-request", "q"},
		hostile{"ESC in ?q", "GET", "/v1/listings?q=%1B%5B2J", w.ana.token, "", 400, "malformed-request", "q"},
		hostile{"U+202E in ?category", "GET", "/v1/listings?category=%E2%80%AErepairs", w.ana.token, "", 400, "malformed-request", "category"},
		hostile{"line break in ?q", "GET", "/v1/listings?q=a%0Ab", w.ana.token, "", 400, "malformed-request", "q"},
		hostile{"NUL in a parameter's name", "GET", "/v1/listings?q%00=a", w.ana.token, "", 400, "malformed-request", `"q\x00"`},
		hostile{"a malformed query string", "GET", "/v1/listings?q=%zz", w.ana.token, "", 400, "malformed-request", ""},
		hostile{"NUL in a public endpoint's query", "GET", "/v1/funds?limit=%00", "", "", 400, "malformed-request", "limit"},
	)

	// NUL and invalid UTF-8 in body text: the JSON escape and the raw byte.
	for _, bad := range []struct{ what, text string }{
		{"\\u0000", `"a\u0000b"`}, {"a raw NUL", "\"a\x00b\""}, {"invalid UTF-8", "\"a\xff\xfeb\""},
		{"a lone surrogate", `"a\ud800b"`},
	} {
		cases = append(cases,
			hostile{bad.what + " in a memo", "POST", "/v1/transfers", w.ana.token, transfer(bad.text, `{}`), 400, "malformed-request", "memo"},
			hostile{bad.what + " in a posting's unit", "POST", "/v1/transfers", w.ana.token,
				fmt.Sprintf(`{"postings":[{"from":%q,"to":%q,"amount":"1","unit":%s}]}`, w.anaHours, w.benHours, bad.text), 400, "malformed-request", "postings[0].unit"},
			hostile{bad.what + " in a metadata value", "POST", "/v1/transfers", w.ana.token, transfer(`"m"`, `{"k":`+bad.text+`}`), 400, "malformed-request", "metadata.k"},
			hostile{bad.what + " in a nested metadata value", "POST", "/v1/transfers", w.ana.token, transfer(`"m"`, `{"k":[1,{"j":`+bad.text+`}]}`), 400, "malformed-request", "metadata.k[1].j"},
			hostile{bad.what + " in a metadata key", "POST", "/v1/transfers", w.ana.token, transfer(`"m"`, `{`+bad.text+`:1}`), 400, "malformed-request", "metadata"},
			hostile{bad.what + " in an organization's name", "POST", "/v1/orgs", w.admin.token, org(bad.text), 400, "malformed-request", "name"},
			hostile{bad.what + " in a member's name", "POST", "/v1/orgs/" + tb + "/members", w.coordTB.token, member(bad.text), 400, "malformed-request", "name"},
			hostile{bad.what + " in a unit's name", "POST", "/v1/units", w.admin.token, `{"code":"KG","scale":2,"name":` + bad.text + `}`, 400, "malformed-request", "name"},
			hostile{bad.what + " in a listing's title", "POST", "/v1/listings", w.ana.token, listingJSON(bad.text, `""`), 400, "malformed-request", "title"},
		)
	}

	// Duplicate keys: the decoder would keep the last, moving 0.01 h.
	cases = append(cases,
		hostile{"a duplicate key at the top", "POST", "/v1/transfers", w.ana.token,
			fmt.Sprintf(`{"postings":[%s],"memo":"a","memo":"b"}`, posting("1")), 400, "malformed-request", "memo"},
		hostile{"a duplicate amount in a posting", "POST", "/v1/transfers", w.ana.token,
			fmt.Sprintf(`{"postings":[{"from":%q,"to":%q,"amount":"-5","amount":"0.01","unit":"HOUR"}]}`, w.anaHours, w.benHours), 400, "malformed-request", "postings[0].amount"},
		hostile{"a duplicate key written with an escape", "POST", "/v1/transfers", w.ana.token,
			fmt.Sprintf(`{"postings":[%s],"memo":"a","\u006demo":"b"}`, posting("1")), 400, "malformed-request", "memo"},
		hostile{"a duplicate key in metadata", "POST", "/v1/transfers", w.ana.token, transfer(`"m"`, `{"k":1,"k":2}`), 400, "malformed-request", "metadata.k"},
		hostile{"a duplicate key deep in metadata", "POST", "/v1/transfers", w.ana.token, transfer(`"m"`, `{"k":{"a":[{"x":1,"y":2,"x":3}]}}`), 400, "malformed-request", "metadata.k.a[0].x"},
		hostile{"a duplicate key in a trade's leg", "POST", "/v1/trades", w.coordCoop.token,
			fmt.Sprintf(`{"counterparty_org":%q,"legs":[{"from_account":%q,"to_account":%q,"amount":"1","amount":"2","unit":"HOUR"}]}`, tb, w.camHours, w.poolHours),
			400, "malformed-request", "legs[0].amount"},
	)

	// Numbers in metadata, which is stored as given, beyond what JSONB and
	// JSON readers take.
	for _, n := range []string{"1e1000000", "-1e-16384", "1E+309", "0." + strings.Repeat("0", 1000) + "1"} {
		cases = append(cases,
			hostile{"the number " + n[:min(len(n), 12)] + " in metadata", "POST", "/v1/transfers", w.ana.token, transfer(`"m"`, `{"k":[0,`+n+`]}`), 422, "validation-failed", "metadata.k[1]"})
	}

	// Keys that match a field only when case is ignored.
	cases = append(cases,
		hostile{"an upper-case key at the top", "POST", "/v1/listings", w.ana.token,
			strings.Replace(listingJSON(`"Bikes"`, `""`), `"org_id"`, `"ORG_ID"`, 1), 400, "malformed-request", "ORG_ID"},
		hostile{"a capitalised memo", "POST", "/v1/transfers", w.ana.token,
			fmt.Sprintf(`{"postings":[%s],"Memo":"a"}`, posting("1")), 400, "malformed-request", "Memo"},
		hostile{"an upper-case key in a posting", "POST", "/v1/transfers", w.ana.token,
			fmt.Sprintf(`{"postings":[{"FROM":%q,"to":%q,"amount":"1","unit":"HOUR"}]}`, w.anaHours, w.benHours), 400, "malformed-request", "postings[0].FROM"},
		hostile{"a mixed-case key in a listing's place", "POST", "/v1/listings", w.ana.token,
			strings.Replace(listingJSON(`"Bikes"`, `""`), `"lat"`, `"Lat"`, 1), 400, "malformed-request", "place.Lat"},
	)

	// Control characters, escapes and bidirectional overrides in text people read.
	for _, bad := range []struct{ what, text string }{
		{"BEL", `"Bike\u0007 repair"`}, {"ESC", `"\u001b[31mBike repair"`}, {"raw U+202E", "\"Bike \u202erepair\""},
		{"escaped U+202E", `"Bike \u202erepair"`}, {"U+2066", `"Bike \u2066repair"`}, {"DEL", `"Bike\u007f"`},
		{"C1 CSI", `"Bike\u009b2J"`}, {"zero-width space", `"Bi\u200bke"`}, {"BOM", `"\ufeffBike"`},
	} {
		cases = append(cases,
			hostile{bad.what + " in a listing's title", "POST", "/v1/listings", w.ana.token, listingJSON(bad.text, `""`), 422, "validation-failed", "title"},
			hostile{bad.what + " in a listing's description", "POST", "/v1/listings", w.ana.token, listingJSON(`"Bikes"`, bad.text), 422, "validation-failed", "description"},
			hostile{bad.what + " in an organization's name", "POST", "/v1/orgs", w.admin.token, org(bad.text), 422, "validation-failed", "name"},
			hostile{bad.what + " in a member's name", "POST", "/v1/orgs/" + tb + "/members", w.coordTB.token, member(bad.text), 422, "validation-failed", "name"},
			hostile{bad.what + " in a memo", "POST", "/v1/transfers", w.ana.token, transfer(bad.text, `{}`), 422, "validation-failed", "memo"},
			hostile{bad.what + " in a category's name", "POST", "/v1/categories", w.admin.token, `{"code":"bees","name":` + bad.text + `}`, 422, "validation-failed", "name"},
			hostile{bad.what + " in a listing's category", "POST", "/v1/listings", w.ana.token,
				strings.Replace(listingJSON(`"Bikes"`, `""`), `"repairs"`, bad.text, 1), 422, "validation-failed", "category"},
			hostile{bad.what + " in a tag", "POST", "/v1/listings", w.ana.token,
				strings.Replace(listingJSON(`"Bikes"`, `""`), `"category"`, `"tags":["ok",`+bad.text+`],"category"`, 1), 422, "validation-failed", "tags[1]"},
			hostile{bad.what + " in a metadata value", "POST", "/v1/transfers", w.ana.token, transfer(`"m"`, `{"k":`+bad.text+`}`), 422, "validation-failed", "metadata.k"},
			hostile{bad.what + " in a metadata key", "POST", "/v1/transfers", w.ana.token, transfer(`"m"`, `{"x":{`+bad.text+`:1}}`), 422, "validation-failed", "metadata.x"},
			hostile{bad.what + " in a token's name", "POST", "/v1/tokens", w.ana.token, `{"name":` + bad.text + `}`, 422, "validation-failed", "name"},
			hostile{bad.what + " in a cancellation's reason", "POST", "/v1/agreements/" + listing + "/cancel", w.ana.token, `{"reason":` + bad.text + `}`, 422, "validation-failed", "reason"},
		)
	}
	// Line breaks and tabs: not in one line of text.
	for _, br := range []string{`\n`, `\r`, `\t`, `\u2028`} {
		cases = append(cases,
			hostile{"a line break " + br + " in a title", "POST", "/v1/listings", w.ana.token, listingJSON(`"Bike`+br+`repair"`, `""`), 422, "validation-failed", "title"},
			hostile{"a line break " + br + " in an organization's name", "POST", "/v1/orgs", w.admin.token, org(`"North` + br + `side"`), 422, "validation-failed", "name"},
		)
	}

	for _, c := range cases {
		before := w.dbSnapshot()
		var body any
		if c.body != "" {
			body = c.body
		}
		r := w.call(c.method, c.path, c.token, body)
		if r.status != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.name, r.status, c.status, r.body)
			continue
		}
		p := w.problem(r, c.status, c.typ)
		if c.field != "" && !hasField(p, c.field) {
			t.Errorf("%s: the problem does not name %q: %s", c.name, c.field, r.body)
		}
		if c.field == "" && p.Detail == "" {
			t.Errorf("%s: the problem says nothing: %s", c.name, r.body)
		}
		w.sameSnapshot(c.name, before, w.dbSnapshot())
	}

	// What is refused in one line is taken in several.
	for _, br := range []string{`\n`, `\r\n`, `\t`} {
		r := w.call("POST", "/v1/listings", w.ana.token, listingJSON(`"Bike repair"`, `"Flat tyres,`+br+`brakes."`))
		got := w.must(r, 201)["description"]
		if want := strings.NewReplacer(`\n`, "\n", `\r`, "\r", `\t`, "\t").Replace("Flat tyres," + br + "brakes."); got != want {
			t.Errorf("description %q stored as %q", want, got)
		}
	}
	// And text of many scripts, with the joiners and marks they need.
	for _, good := range []string{"Café «Le Pain»", "שלום\u200f", "می\u200cخواهم", "👩\u200d👩\u200d👧 family help", "日本語の先生"} {
		r := w.call("POST", "/v1/orgs", w.admin.token, fmt.Sprintf(`{"name":%q,"kind":"council","parent_id":%q}`, good, local))
		if got := w.must(r, 201)["name"]; got != good {
			t.Errorf("name %q stored as %q", good, got)
		}
	}
}
