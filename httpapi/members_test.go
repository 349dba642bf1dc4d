package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
)

// roles returns a member response's memberships as org id → role.
func roles(m map[string]any) map[string]string {
	out := map[string]string{}
	for _, x := range m["memberships"].([]any) {
		ms := x.(map[string]any)
		out[ms["org_id"].(string)] = ms["role"].(string)
	}
	return out
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (e *env) memberCount() int {
	e.t.Helper()
	var n int
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM members`).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func TestAddOrgMembers(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	tbPath := "/v1/orgs/" + w.timebank.ID.String() + "/members"
	tb := w.timebank.ID.String()

	// The time bank's coordinator admits a newcomer.
	r := w.call("POST", tbPath, w.coordTB.token, map[string]any{"name": " Dana ", "email": "dana@example.org", "role": "member"})
	dana := w.must(r, 201)
	if dana["name"] != "Dana" || dana["email"] != "dana@example.org" || dana["created_at"] != "2026-03-01T09:00:00Z" ||
		fmt.Sprint(roles(dana)) != fmt.Sprint(map[string]string{tb: "member"}) {
		t.Errorf("admitted %v", dana)
	}
	danaID := dana["id"].(string)
	if loc := r.header.Get("Location"); loc != "/v1/members/"+danaID {
		t.Errorf("Location %q", loc)
	}
	if ms := dana["memberships"].([]any)[0].(map[string]any); ms["joined_at"] != "2026-03-01T09:00:00Z" {
		t.Errorf("membership %v", ms)
	}
	if got := w.must(w.call("GET", "/v1/members/"+danaID, w.coordTB.token, nil), 200); !bytes.Equal(mustJSON(t, got), mustJSON(t, dana)) {
		t.Errorf("GET the member: %v, want %v", got, dana)
	}
	// A member without email.
	if m := w.must(w.call("POST", tbPath, w.coordTB.token, map[string]any{"name": "Eli", "role": "member"}), 201); m["email"] != "" {
		t.Errorf("no email: %v", m)
	}

	// Promoted, then back: 200, the member was there already; the date
	// they joined stays.
	w.clock.Advance(time.Minute)
	ben := w.must(w.call("POST", tbPath, w.coordTB.token, map[string]any{"member_id": w.ben.id.String(), "role": "coordinator"}), 200)
	if roles(ben)[tb] != "coordinator" {
		t.Errorf("promoted: %v", ben)
	}
	ben = w.must(w.call("POST", tbPath, w.coordTB.token, map[string]any{"member_id": w.ben.id.String(), "role": "member"}), 200)
	if roles(ben)[tb] != "member" || ben["memberships"].([]any)[0].(map[string]any)["joined_at"] != "2026-03-01T09:00:00Z" {
		t.Errorf("back to member: %v", ben)
	}

	// A coordinator of the local organization sees the co-op's Cam, and
	// admits him to the time bank too.
	lola := w.member(w.local, exchange.RoleCoordinator, "Lola")
	cam := w.must(w.call("POST", tbPath, lola.token, map[string]any{"member_id": w.cam.id.String(), "role": "member"}), 201)
	if got := roles(cam); len(got) != 2 || got[tb] != "member" || got[w.coop.ID.String()] != "member" {
		t.Errorf("cam's memberships %v", got)
	}

	// Cam is now the time bank's: its coordinator reads him. Dora, only in
	// the co-op, is a stranger to it: admitting her is answered as for a
	// member that does not exist.
	w.must(w.call("GET", "/v1/members/"+w.cam.id.String(), w.coordTB.token, nil), 200)
	dora := w.member(w.coop, exchange.RoleMember, "Dora")
	ghost := uuid.NewString()
	p1 := w.problem(w.call("POST", tbPath, w.coordTB.token, map[string]any{"member_id": dora.id.String(), "role": "member"}), 404, "not-found")
	p2 := w.problem(w.call("POST", tbPath, w.coordTB.token, map[string]any{"member_id": ghost, "role": "member"}), 404, "not-found")
	if p1.Detail != "unknown member "+dora.id.String() || p2.Detail != "unknown member "+ghost || !hasField(p1, "member_id") || !hasField(p2, "member_id") {
		t.Errorf("a stranger and a ghost: %+v, %+v", p1, p2)
	}

	before := w.memberCount()
	netPath := "/v1/orgs/" + w.network.ID.String() + "/members"
	for _, tc := range []struct {
		name   string
		token  string
		path   string
		body   any
		status int
		typ    string
		field  string
	}{
		{"both ways at once", w.coordTB.token, tbPath, map[string]any{"member_id": w.ana.id.String(), "name": "Ana", "role": "member"}, 422, "validation-failed", "member_id"},
		{"neither way", w.coordTB.token, tbPath, map[string]any{"role": "member"}, 422, "validation-failed", "name"},
		{"a blank name", w.coordTB.token, tbPath, map[string]any{"name": " ", "role": "member"}, 422, "validation-failed", "name"},
		{"no role", w.coordTB.token, tbPath, map[string]any{"name": "Fay"}, 422, "validation-failed", "role"},
		{"an unknown role", w.coordTB.token, tbPath, map[string]any{"name": "Fay", "role": "owner"}, 422, "validation-failed", "role"},
		{"a bad email", w.coordTB.token, tbPath, map[string]any{"name": "Fay", "email": "fay at home", "role": "member"}, 422, "invalid-request", "email"},
		{"a member_id not a UUID", w.coordTB.token, tbPath, map[string]any{"member_id": "ana", "role": "member"}, 422, "validation-failed", "member_id"},
		{"an admin, by a coordinator", w.coordTB.token, tbPath, map[string]any{"name": "Fay", "role": "admin"}, 403, "forbidden", ""},
		{"an admin off the network", w.admin.token, tbPath, map[string]any{"name": "Fay", "role": "admin"}, 422, "invalid-request", "role"},
		{"a plain member", w.ana.token, tbPath, map[string]any{"name": "Fay", "role": "member"}, 403, "forbidden", ""},
		{"another org's coordinator", w.coordCoop.token, tbPath, map[string]any{"name": "Fay", "role": "member"}, 403, "forbidden", ""},
		{"an unknown org", w.admin.token, "/v1/orgs/" + ghost + "/members", map[string]any{"name": "Fay", "role": "member"}, 404, "not-found", ""},
		{"an org id not a UUID", w.admin.token, "/v1/orgs/timebank/members", map[string]any{"name": "Fay", "role": "member"}, 404, "not-found", ""},
		{"an unknown field", w.coordTB.token, tbPath, map[string]any{"name": "Fay", "role": "member", "age": 30}, 400, "malformed-request", "age"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := w.problem(w.call("POST", tc.path, tc.token, tc.body), tc.status, tc.typ)
			if tc.field != "" && !hasField(p, tc.field) {
				t.Errorf("problem does not name %q: %+v", tc.field, p.Errors)
			}
		})
	}
	if n := w.memberCount(); n != before {
		t.Errorf("%d members before the refusals, %d after", before, n)
	}

	// The admin role is the admin's to give and take: a coordinator of the
	// network may not demote the admin.
	nina := w.member(w.network, exchange.RoleCoordinator, "Nina")
	w.problem(w.call("POST", netPath, nina.token, map[string]any{"member_id": w.admin.id.String(), "role": "member"}), 403, "forbidden")
	if me := w.must(w.call("GET", "/v1/me", w.admin.token, nil), 200); me["admin"] != true {
		t.Errorf("the admin was demoted: %v", me)
	}
	w.must(w.call("POST", netPath, nina.token, map[string]any{"name": "Olga", "role": "coordinator"}), 201)
	second := w.must(w.call("POST", netPath, w.admin.token, map[string]any{"name": "Second admin", "role": "admin"}), 201)
	if roles(second)[w.network.ID.String()] != "admin" {
		t.Errorf("second admin %v", second)
	}

	// A retry with the same Idempotency-Key makes one member.
	before = w.memberCount()
	body := map[string]any{"name": "Gil", "role": "member"}
	a := w.call("POST", tbPath, w.coordTB.token, body, "Idempotency-Key", "gil")
	b := w.call("POST", tbPath, w.coordTB.token, body, "Idempotency-Key", "gil")
	w.must(a, 201)
	if b.status != 201 || !bytes.Equal(a.body, b.body) || b.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("retry: %d\n%s\n%s", b.status, a.body, b.body)
	}
	if n := w.memberCount(); n != before+1 {
		t.Errorf("%d members made by a retried admission, want 1", n-before)
	}
}

func TestListOrgMembers(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	tbPath := "/v1/orgs/" + w.timebank.ID.String() + "/members"
	// The time bank's own: Tess (coordinator), Ana and Ben, in id order
	// (creation order).
	want := []string{w.coordTB.id.String() + " Tess coordinator", w.ana.id.String() + " Ana member", w.ben.id.String() + " Ben member"}
	for _, token := range []string{w.coordTB.token, w.admin.token} {
		var got []string
		path := tbPath + "?limit=2"
		for pages := 0; ; pages++ {
			if pages > 2 {
				t.Fatal("paging does not end")
			}
			l := w.must(w.call("GET", path, token, nil), 200)
			for _, it := range l["items"].([]any) {
				m := it.(map[string]any)
				got = append(got, fmt.Sprintf("%s %s %s", m["member_id"], m["name"], m["role"]))
				if m["joined_at"] != "2026-03-01T09:00:00Z" || m["email"] != "" {
					t.Errorf("item %v", m)
				}
			}
			next, _ := l["next"].(string)
			if next == "" {
				break
			}
			path = tbPath + "?limit=2&after=" + url.QueryEscape(next)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("listed\n%v\nwant\n%v", got, want)
		}
	}
	// The local organization's own list is empty: members of the
	// organizations under it are not its own.
	if l := w.must(w.call("GET", "/v1/orgs/"+w.local.ID.String()+"/members", w.admin.token, nil), 200); len(l["items"].([]any)) != 0 || l["next"] != nil {
		t.Errorf("the local's members %v", l)
	}
	w.problem(w.call("GET", tbPath, w.ana.token, nil), 403, "forbidden")
	w.problem(w.call("GET", tbPath, w.coordCoop.token, nil), 403, "forbidden")
	w.problem(w.call("GET", "/v1/orgs/"+uuid.NewString()+"/members", w.admin.token, nil), 404, "not-found")
	w.problem(w.call("GET", tbPath+"?after=bm9wZQ", w.coordTB.token, nil), 400, "malformed-request")
}

func TestReadMembers(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ana := "/v1/members/" + w.ana.id.String()
	for _, tc := range []struct {
		who    string
		token  string
		status int
	}{
		{"herself", w.ana.token, 200},
		{"her coordinator", w.coordTB.token, 200},
		{"the admin", w.admin.token, 200},
		{"another member of her time bank", w.ben.token, 404},
		{"a member of another org", w.cam.token, 404},
		{"another org's coordinator", w.coordCoop.token, 404},
	} {
		t.Run(tc.who, func(t *testing.T) {
			r := w.call("GET", ana, tc.token, nil)
			if tc.status == 404 {
				// Exactly what a member that does not exist gets.
				if p := w.problem(r, 404, "not-found"); p.Detail != "unknown member "+w.ana.id.String() {
					t.Errorf("detail %q", p.Detail)
				}
				return
			}
			m := w.must(r, 200)
			if m["id"] != w.ana.id.String() || m["name"] != "Ana" || fmt.Sprint(roles(m)) != fmt.Sprint(map[string]string{w.timebank.ID.String(): "member"}) {
				t.Errorf("ana %v", m)
			}
		})
	}
	ghost := uuid.NewString()
	if p := w.problem(w.call("GET", "/v1/members/"+ghost, w.admin.token, nil), 404, "not-found"); p.Detail != "unknown member "+ghost {
		t.Errorf("detail %q", p.Detail)
	}
	w.problem(w.call("GET", "/v1/members/ana", w.admin.token, nil), 404, "not-found")

	me := w.must(w.call("GET", "/v1/me", w.ana.token, nil), 200)
	if me["id"] != w.ana.id.String() || me["admin"] != false || len(roles(me)) != 1 {
		t.Errorf("ana's me %v", me)
	}
	tok := w.must(w.call("POST", "/v1/tokens", w.ana.token, map[string]any{"name": "second"}), 201)["token"].(map[string]any)
	if me := w.must(w.call("GET", "/v1/me", w.ana.token, nil), 200); me["token_id"] == tok["id"] {
		t.Errorf("token_id is not the token used")
	}
	secret := w.must(w.call("POST", "/v1/tokens", w.ana.token, map[string]any{"name": "third"}), 201)
	if me := w.must(w.call("GET", "/v1/me", secret["secret"].(string), nil), 200); me["token_id"] != secret["token"].(map[string]any)["id"] {
		t.Errorf("token_id %v, want %v", me["token_id"], secret["token"])
	}
	if me := w.must(w.call("GET", "/v1/me", w.admin.token, nil), 200); me["admin"] != true || me["name"] != "admin" {
		t.Errorf("the admin's me %v", me)
	}
}
