package httpapi_test

import (
	"fmt"
	"net/url"
	"testing"

	"github.com/mutual-ledger/mutual/exchange"
)

func TestUnits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.must(e.call("POST", "/v1/units", e.admin.token, map[string]any{"code": "KG_PRODUCE", "scale": 3, "name": "kilograms of produce"}), 201)
	if u["code"] != "KG_PRODUCE" || u["scale"] != 3.0 || u["name"] != "kilograms of produce" || u["created_at"] != "2026-03-01T09:00:00Z" {
		t.Errorf("unit %v", u)
	}
	e.problem(e.call("POST", "/v1/units", e.admin.token, map[string]any{"code": "KG_PRODUCE", "scale": 2}), 409, "unit-exists")

	m := e.member(e.network, exchange.RoleCoordinator, "Not an admin")
	e.problem(e.call("POST", "/v1/units", m.token, map[string]any{"code": "MEAL", "scale": 0}), 403, "forbidden")

	for _, c := range []string{"HOUR", "USD", "MEAL", "KWH"} {
		e.unit(c, 2)
	}
	// Paging by two through the five units, by code.
	var codes []string
	path := "/v1/units?limit=2"
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("paging does not end")
		}
		l := e.must(e.call("GET", path, m.token, nil), 200)
		for _, it := range l["items"].([]any) {
			codes = append(codes, it.(map[string]any)["code"].(string))
		}
		next, _ := l["next"].(string)
		if next == "" {
			if l["next"] != nil {
				t.Errorf("next %v, want null", l["next"])
			}
			break
		}
		path = "/v1/units?limit=2&after=" + url.QueryEscape(next)
	}
	if got := fmt.Sprint(codes); got != "[HOUR KG_PRODUCE KWH MEAL USD]" {
		t.Errorf("units paged %s", got)
	}

	for _, q := range []string{"limit=0", "limit=1001", "limit=ten", "after=!!", "after=" + "ZW50cmllczo1"} { // the last is an entries cursor
		p := e.problem(e.call("GET", "/v1/units?"+q, m.token, nil), 400, "malformed-request")
		if len(p.Errors) != 1 {
			t.Errorf("%s: errors %+v", q, p.Errors)
		}
	}
}
