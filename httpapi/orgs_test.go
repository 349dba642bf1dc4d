package httpapi_test

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
)

func TestCreateOrgs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	net := e.network.ID.String()
	r := e.call("POST", "/v1/orgs", e.admin.token, map[string]any{
		"name": " Asamblea de Oaxaca ", "kind": "local", "parent_id": net, "city": "Oaxaca", "region": "mx-south", "membership": "partner"})
	local := e.must(r, 201)
	id, _ := local["id"].(string)
	if local["name"] != "Asamblea de Oaxaca" || local["kind"] != "local" || local["parent_id"] != net || local["city"] != "Oaxaca" ||
		local["region"] != "mx-south" || local["membership"] != "partner" || local["created_at"] != "2026-03-01T09:00:00Z" {
		t.Errorf("created %v", local)
	}
	if loc := r.header.Get("Location"); loc != "/v1/orgs/"+id {
		t.Errorf("Location %q", loc)
	}
	// A coordinator of the local organization creates under it; defaults
	// fill what is not given, and the region is the parent's.
	lola := e.member(exchange.Org{ID: uuid.MustParse(id)}, exchange.RoleCoordinator, "Lola")
	tb := e.must(e.call("POST", "/v1/orgs", lola.token, map[string]any{"name": "Barrio time bank", "kind": "timebank", "parent_id": id}), 201)
	if tb["membership"] != "member" || tb["city"] != "" || tb["region"] != "mx-south" || tb["parent_id"] != id {
		t.Errorf("defaults: %v", tb)
	}
	// ... and under what is under it.
	e.must(e.call("POST", "/v1/orgs", lola.token, map[string]any{"name": "Calle 5", "kind": "council", "parent_id": tb["id"]}), 201)

	ghost := uuid.NewString()
	for _, tc := range []struct {
		name   string
		token  string
		body   any
		status int
		typ    string
		field  string
	}{
		{"the network", e.admin.token, map[string]any{"name": "Another network", "kind": "network", "parent_id": net}, 422, "validation-failed", "kind"},
		{"an unknown kind", e.admin.token, map[string]any{"name": "Club", "kind": "club", "parent_id": net}, 422, "validation-failed", "kind"},
		{"no parent", e.admin.token, map[string]any{"name": "Orphan", "kind": "coop"}, 422, "validation-failed", "parent_id"},
		{"a parent not a UUID", e.admin.token, map[string]any{"name": "Orphan", "kind": "coop", "parent_id": "network"}, 422, "validation-failed", "parent_id"},
		{"an unknown parent", e.admin.token, map[string]any{"name": "Lost", "kind": "coop", "parent_id": ghost}, 404, "not-found", "parent_id"},
		{"a parent the caller does not run", lola.token, map[string]any{"name": "Elsewhere", "kind": "coop", "parent_id": net}, 403, "forbidden", "parent_id"},
		{"no name", e.admin.token, map[string]any{"kind": "coop", "parent_id": net}, 422, "validation-failed", "name"},
		{"a blank name", e.admin.token, map[string]any{"name": "  ", "kind": "coop", "parent_id": net}, 422, "invalid-request", "name"},
		{"a long name", e.admin.token, map[string]any{"name": strings.Repeat("é", 201), "kind": "coop", "parent_id": net}, 422, "validation-failed", "name"},
		{"a long region", e.admin.token, map[string]any{"name": "C", "kind": "coop", "parent_id": net, "region": strings.Repeat("r", 65)}, 422, "validation-failed", "region"},
		{"a bad membership", e.admin.token, map[string]any{"name": "C", "kind": "coop", "parent_id": net, "membership": "friend"}, 422, "validation-failed", "membership"},
		{"an unknown field", e.admin.token, map[string]any{"name": "C", "kind": "coop", "parent_id": net, "colour": "red"}, 400, "malformed-request", "colour"},
		{"not JSON", e.admin.token, `{"name":`, 400, "malformed-request", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := e.problem(e.call("POST", "/v1/orgs", tc.token, tc.body), tc.status, tc.typ)
			if tc.field != "" && !hasField(p, tc.field) {
				t.Errorf("problem does not name %q: %+v", tc.field, p.Errors)
			}
		})
	}
	p := e.problem(e.call("POST", "/v1/orgs", e.admin.token, map[string]any{"name": "N", "kind": "network", "parent_id": net}), 422, "validation-failed")
	if !strings.Contains(p.Detail, "first starts") {
		t.Errorf("the refusal of a network does not say why: %q", p.Detail)
	}
	if p := e.problem(e.call("POST", "/v1/orgs", e.admin.token, map[string]any{"name": "Lost", "kind": "coop", "parent_id": ghost}), 404, "not-found"); p.Detail != "unknown organization "+ghost {
		t.Errorf("detail %q", p.Detail)
	}
	// None of the refusals made anything.
	if n := len(e.must(e.call("GET", "/v1/orgs", e.admin.token, nil), 200)["items"].([]any)); n != 4 {
		t.Errorf("%d organizations, want 4: the network, the local, the time bank and the council", n)
	}

	// A retry with the same Idempotency-Key is answered with the first
	// response, and makes nothing more.
	coop := map[string]any{"name": "Café co-op", "kind": "coop", "parent_id": id}
	a := e.call("POST", "/v1/orgs", lola.token, coop, "Idempotency-Key", "coop-1")
	b := e.call("POST", "/v1/orgs", lola.token, coop, "Idempotency-Key", "coop-1")
	e.must(a, 201)
	if b.status != 201 || !bytes.Equal(a.body, b.body) || b.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("retry: %d %q\n%s\n%s", b.status, b.header.Get("Idempotent-Replayed"), a.body, b.body)
	}
	if n := len(e.must(e.call("GET", "/v1/orgs", e.admin.token, nil), 200)["items"].([]any)); n != 5 {
		t.Errorf("%d organizations after a retried create, want 5", n)
	}
}

func TestReadOrgs(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	want := []string{w.network.ID.String(), w.local.ID.String(), w.timebank.ID.String(), w.coop.ID.String()}
	for i := range 3 {
		want = append(want, w.org(w.timebank, exchange.KindCouncil, fmt.Sprintf("council %d", i)).ID.String())
	}
	// Any member pages through every organization, in creation order.
	var got []string
	path := "/v1/orgs?limit=3"
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("paging does not end")
		}
		l := w.must(w.call("GET", path, w.cam.token, nil), 200)
		for _, it := range l["items"].([]any) {
			got = append(got, it.(map[string]any)["id"].(string))
		}
		next, _ := l["next"].(string)
		if next == "" {
			if l["next"] != nil {
				t.Errorf("next %v, want null", l["next"])
			}
			break
		}
		path = "/v1/orgs?limit=3&after=" + url.QueryEscape(next)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("listed\n%v\nwant\n%v", got, want)
	}
	// A limit above what the exchange serves gets its pages.
	if l := w.must(w.call("GET", "/v1/orgs?limit=1000", w.cam.token, nil), 200); len(l["items"].([]any)) != len(want) || l["next"] != nil {
		t.Errorf("limit 1000: %v", l)
	}
	for _, q := range []string{"limit=0", "limit=ten", "after=!!", "after=" + "dW5pdHM6SE9VUg"} { // the last is a units cursor
		w.problem(w.call("GET", "/v1/orgs?"+q, w.cam.token, nil), 400, "malformed-request")
	}

	tb := w.must(w.call("GET", "/v1/orgs/"+w.timebank.ID.String(), w.cam.token, nil), 200)
	if tb["name"] != "Riverside time bank" || tb["kind"] != "timebank" || tb["parent_id"] != w.local.ID.String() {
		t.Errorf("time bank %v", tb)
	}
	if n := w.must(w.call("GET", "/v1/orgs/"+w.network.ID.String(), w.cam.token, nil), 200); n["parent_id"] != nil || n["kind"] != "network" {
		t.Errorf("network %v", n)
	}
	ghost := uuid.NewString()
	if p := w.problem(w.call("GET", "/v1/orgs/"+ghost, w.cam.token, nil), 404, "not-found"); p.Detail != "unknown organization "+ghost {
		t.Errorf("detail %q", p.Detail)
	}
	w.problem(w.call("GET", "/v1/orgs/not-a-uuid", w.cam.token, nil), 404, "not-found")
}
