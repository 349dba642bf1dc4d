package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/httpapi"
)

// The session cookie's names, plain and over TLS.
const (
	plainCookie  = "mutual_session"
	secureCookie = "__Host-mutual_session"
)

// setCookie returns the cookie of a response named name, or fails.
func setCookie(t *testing.T, r resp, name string) *http.Cookie {
	t.Helper()
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %s cookie in %v", name, r.header.Values("Set-Cookie"))
	return nil
}

// noContent checks that a response is 204.
func (e *env) noContent(r resp) {
	e.t.Helper()
	if r.status != http.StatusNoContent {
		e.t.Fatalf("status %d, want 204: %s", r.status, r.body)
	}
}

// withCookie is the header pair that sends a session cookie.
func withCookie(name, value string) []string { return []string{"Cookie", name + "=" + value} }

// issueCode has the admin issue a sign-in code for member and returns it.
func (e *env) issueCode(member string) string {
	e.t.Helper()
	return e.must(e.call("POST", "/v1/members/"+member+"/signin-codes", e.admin.token, nil), 201)["code"].(string)
}

// signIn signs member in with a fresh code and returns the session cookie's
// value.
func (e *env) signIn(member string) string {
	e.t.Helper()
	r := e.call("POST", "/v1/signin/code", "", map[string]any{"member_id": member, "code": e.issueCode(member)})
	e.must(r, 200)
	return setCookie(e.t, r, plainCookie).Value
}

// asSession calls with a session cookie and no token.
func (e *env) asSession(method, path, session string, body any, headers ...string) resp {
	e.t.Helper()
	return e.call(method, path, "", body, append(withCookie(plainCookie, session), headers...)...)
}

// count returns the number of rows of a table.
func (e *env) count(table string) int {
	e.t.Helper()
	var n int
	// table is one of the test's constants, never input.
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM `+table).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

var codeFormat = regexp.MustCompile(`^[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}$`)

// TestJoinByInvitation: a coordinator invites a new person, who joins by
// the code read over the phone (typed in lower case, with a space), gets
// their time-bank account by the rules and a session that works at once;
// the invitation then says it was used. An existing member joins a second
// organization as themselves.
func TestJoinByInvitation(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	tb := "/v1/orgs/" + w.timebank.ID.String()
	w.must(w.call("PUT", tb+"/timebank", w.coordTB.token, map[string]any{"credit_limit": "10"}), 201)

	inv := w.must(w.call("POST", tb+"/invitations", w.coordTB.token, map[string]any{
		"role": "member", "name": "Rosa (neighbor)", "phone": "+1 555 0100"}), 201)
	code := inv["code"].(string)
	if !codeFormat.MatchString(code) || !strings.HasPrefix(inv["link"].(string), "/join/") {
		t.Fatalf("code %q, link %q", code, inv["link"])
	}
	// The list never shows the link or the code.
	list := w.call("GET", tb+"/invitations", w.coordTB.token, nil)
	if l := w.must(list, 200)["items"].([]any); len(l) != 1 || l[0].(map[string]any)["status"] != "pending" {
		t.Fatalf("invitations: %s", list.body)
	}
	if strings.Contains(string(list.body), code) || strings.Contains(string(list.body), inv["secret"].(string)) {
		t.Fatal("the list shows a secret")
	}
	var stored int
	if err := w.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM invitations WHERE code_hash = $1 OR link_hash = $1`, []byte(code)).Scan(&stored); err != nil || stored != 0 {
		t.Fatalf("a code stored in clear: %d, %v", stored, err)
	}

	members := w.count("members")
	typed := strings.ToLower(strings.Replace(code, "-", " ", 1))
	r := w.call("POST", "/v1/invitations/accept", "", map[string]any{"code": typed, "name": "Rosa"})
	joined := w.must(r, 201)
	if w.count("members") != members+1 {
		t.Fatal("accepting did not create one member")
	}
	rosa := joined["member"].(map[string]any)["id"].(string)
	account, _ := joined["account_id"].(string)
	if account == "" || joined["session"] == nil || joined["role"] != "member" {
		t.Fatalf("accepted: %s", r.body)
	}
	session := setCookie(t, r, plainCookie).Value
	me := w.must(w.asSession("GET", "/v1/me", session, nil), 200)
	if me["id"] != rosa || me["name"] != "Rosa" || len(me["memberships"].([]any)) != 1 {
		t.Fatalf("me: %v", me)
	}
	if c := me["credential"].(map[string]any); c["kind"] != "session" || c["id"] != joined["session"].(map[string]any)["id"] {
		t.Fatalf("me's credential: %v", me)
	}
	if c := w.must(w.call("GET", "/v1/me", w.ana.token, nil), 200)["credential"].(map[string]any); c["kind"] != "token" {
		t.Fatalf("a token's credential: %v", c)
	}
	acc := w.must(w.asSession("GET", "/v1/accounts/"+account, session, nil), 200)
	if acc["lower_bound"] != "-10.00" {
		t.Fatalf("the time-bank account does not follow the rules: %v", acc)
	}

	// Used: refused, nothing changes.
	w.problem(w.call("POST", "/v1/invitations/accept", "", map[string]any{"code": code, "name": "Rosa again"}), 409, "invitation-used")
	w.problem(w.call("POST", "/v1/invitations/accept", "", map[string]any{"secret": inv["secret"], "name": "Rosa again"}), 409, "invitation-used")
	if w.count("members") != members+1 {
		t.Fatal("a used invitation made a member")
	}
	l := w.must(w.call("GET", tb+"/invitations", w.coordTB.token, nil), 200)["items"].([]any)[0].(map[string]any)
	if l["status"] != "accepted" || l["accepted_by"] != rosa {
		t.Fatalf("after accepting: %v", l)
	}

	// Ana, of the time bank, joins the co-op as herself, with her token.
	coop := "/v1/orgs/" + w.coop.ID.String()
	inv2 := w.must(w.call("POST", coop+"/invitations", w.coordCoop.token, map[string]any{"role": "member"}), 201)
	w.problem(w.call("POST", "/v1/invitations/accept", w.ana.token, map[string]any{"secret": inv2["secret"], "name": "Ana"}), 422, "invalid-request")
	r = w.call("POST", "/v1/invitations/accept", w.ana.token, map[string]any{"secret": inv2["secret"]})
	j2 := w.must(r, 201)
	if j2["member"].(map[string]any)["id"] != w.ana.id.String() || len(j2["member"].(map[string]any)["memberships"].([]any)) != 2 {
		t.Fatalf("ana joining the co-op: %s", r.body)
	}
	if w.count("members") != members+1 {
		t.Fatal("an existing member joining made a new member")
	}
	// Her token now stands for the co-op too, at once.
	if m := w.must(w.call("GET", "/v1/me", w.ana.token, nil), 200); len(m["memberships"].([]any)) != 2 {
		t.Fatalf("ana's token after joining: %v", m)
	}
	// Rosa, signed in, is invited to the time bank again: she is there.
	inv3 := w.must(w.call("POST", tb+"/invitations", w.coordTB.token, map[string]any{"role": "coordinator"}), 201)
	w.problem(w.asSession("POST", "/v1/invitations/accept", session, map[string]any{"code": inv3["code"]}), 409, "already-a-member")
	if m := w.must(w.asSession("GET", "/v1/me", session, nil), 200); m["memberships"].([]any)[0].(map[string]any)["role"] != "member" {
		t.Fatalf("a refused acceptance changed the role: %v", m)
	}
}

// TestInvitationRefusals: expired, revoked, used and unknown invitations
// say so with distinct problems and change nothing; a role above the
// inviter's, or an organization they do not act for, is refused.
func TestInvitationRefusals(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	tb := "/v1/orgs/" + w.timebank.ID.String()
	invite := func(body map[string]any) map[string]any {
		t.Helper()
		return w.must(w.call("POST", tb+"/invitations", w.coordTB.token, body), 201)
	}
	soon := invite(map[string]any{"role": "member", "expires_at": w.clock.Now().Add(time.Hour).Format(time.RFC3339)})
	revoked := invite(map[string]any{"role": "member"})
	w.noContent(w.call("DELETE", tb+"/invitations/"+revoked["invitation"].(map[string]any)["id"].(string), w.coordTB.token, nil))
	w.clock.Advance(2 * time.Hour)
	members, memberships := w.count("members"), w.count("memberships")

	p := w.problem(w.call("POST", "/v1/invitations/accept", "", map[string]any{"code": soon["code"], "name": "Late"}), 410, "invitation-expired")
	if !strings.Contains(p.Detail, "expired") {
		t.Errorf("detail: %s", p.Detail)
	}
	w.problem(w.call("POST", "/v1/invitations/accept", "", map[string]any{"secret": revoked["secret"], "name": "Withdrawn"}), 410, "invitation-revoked")
	w.problem(w.call("POST", "/v1/invitations/accept", "", map[string]any{"code": "2345-6789", "name": "Guess"}), 404, "unknown-invitation")
	w.problem(w.call("POST", "/v1/invitations/accept", "", map[string]any{"name": "Nothing"}), 422, "invalid-request")
	w.problem(w.call("POST", "/v1/invitations/accept", "", map[string]any{"code": revoked["code"]}), 422, "invalid-request") // no name
	if w.count("members") != members || w.count("memberships") != memberships || w.count("sessions") != 0 {
		t.Fatal("a refused acceptance changed something")
	}
	// Revoking an expired one is fine; an accepted one is 409.
	fresh := invite(map[string]any{"role": "member"})
	w.must(w.call("POST", "/v1/invitations/accept", "", map[string]any{"secret": fresh["secret"], "name": "Joiner"}), 201)
	w.problem(w.call("DELETE", tb+"/invitations/"+fresh["invitation"].(map[string]any)["id"].(string), w.coordTB.token, nil), 409, "invitation-used")

	// Above the inviter's role, or outside their reach.
	w.problem(w.call("POST", tb+"/invitations", w.coordTB.token, map[string]any{"role": "admin"}), 403, "forbidden")
	w.problem(w.call("POST", tb+"/invitations", w.ana.token, map[string]any{"role": "member"}), 403, "forbidden")
	w.problem(w.call("POST", tb+"/invitations", w.coordCoop.token, map[string]any{"role": "member"}), 403, "forbidden")
	w.problem(w.call("POST", tb+"/invitations", w.admin.token, map[string]any{"role": "admin"}), 422, "invalid-request")
	w.problem(w.call("POST", tb+"/invitations", w.coordTB.token, map[string]any{"role": "member", "phone": "call me"}), 422, "invalid-request")
	w.problem(w.call("POST", tb+"/invitations", w.coordTB.token, map[string]any{"role": "member",
		"expires_at": w.clock.Now().Add(100 * 24 * time.Hour).Format(time.RFC3339)}), 422, "invalid-request")
	// A coordinator of the local (above the time bank) may invite a coordinator into it.
	local := w.member(w.local, exchange.RoleCoordinator, "Lou")
	w.must(w.call("POST", tb+"/invitations", local.token, map[string]any{"role": "coordinator"}), 201)
}

// TestInvitationAcceptedOnce races accepts of one invitation: one member
// is made, every other accept is told the invitation was used.
func TestInvitationAcceptedOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	tb := "/v1/orgs/" + w.timebank.ID.String()
	w.must(w.call("PUT", tb+"/timebank", w.coordTB.token, map[string]any{"credit_limit": "5"}), 201)
	inv := w.must(w.call("POST", tb+"/invitations", w.coordTB.token, map[string]any{"role": "member"}), 201)
	members, accounts := w.count("members"), w.count("accounts")
	const n = 8
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, err := w.do("POST", "/v1/invitations/accept", "", map[string]any{"secret": inv["secret"], "name": fmt.Sprintf("Racer %d", i)})
			if err != nil {
				t.Error(err)
				return
			}
			statuses[i] = r.status
		})
	}
	wg.Wait()
	won := 0
	for _, s := range statuses {
		switch s {
		case 201:
			won++
		case 409:
		default:
			t.Errorf("status %d", s)
		}
	}
	if won != 1 || w.count("members") != members+1 || w.count("accounts") != accounts+1 || w.count("sessions") != 1 {
		t.Fatalf("%d accepts won (%v); members +%d, accounts +%d, sessions %d", won, statuses,
			w.count("members")-members, w.count("accounts")-accounts, w.count("sessions"))
	}
}

// TestSignInWithCoordinatorCode: a coordinator issues a code for a member
// of their time bank, who signs in with it; the session then acts exactly
// as a token (a transfer), the code works once, and it is in no log.
func TestSignInWithCoordinatorCode(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ana := w.ana.id.String()
	issued := w.must(w.call("POST", "/v1/members/"+ana+"/signin-codes", w.coordTB.token, nil), 201)
	code := issued["code"].(string)
	if !codeFormat.MatchString(code) {
		t.Fatalf("code %q", code)
	}
	r := w.call("POST", "/v1/signin/code", "", map[string]any{"member_id": ana, "code": code})
	if w.must(r, 200)["member_id"] != ana {
		t.Fatalf("signed in: %s", r.body)
	}
	session := setCookie(t, r, plainCookie).Value

	// The session acts as Ana: she pays Ben; she may not pay from Ben.
	before, _ := w.balance(w.benHours)
	w.must(w.asSession("POST", "/v1/transfers", session, map[string]any{
		"postings": []any{posting(w.anaHours, w.benHours, "1.5", "HOUR")}}), 201)
	if after, _ := w.balance(w.benHours); after == before {
		t.Fatal("the session's transfer moved nothing")
	}
	w.problem(w.asSession("POST", "/v1/transfers", session, map[string]any{
		"postings": []any{posting(w.benHours, w.anaHours, "1", "HOUR")}}), 404, "not-found")
	// Idempotency-Key works for a session as for a token.
	body := map[string]any{"postings": []any{posting(w.anaHours, w.benHours, "0.5", "HOUR")}}
	first := w.must(w.asSession("POST", "/v1/transfers", session, body, "Idempotency-Key", "k1"), 201)
	again := w.asSession("POST", "/v1/transfers", session, body, "Idempotency-Key", "k1")
	if w.must(again, 201)["id"] != first["id"] || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatal("a retried transfer over a session was not replayed")
	}

	// Used once.
	w.problem(w.call("POST", "/v1/signin/code", "", map[string]any{"member_id": ana, "code": code}), 401, "signin-failed")
	// Who may issue: not another member, not a coordinator elsewhere, not
	// for someone above the coordinator.
	w.problem(w.call("POST", "/v1/members/"+ana+"/signin-codes", w.ben.token, nil), 404, "not-found")
	w.problem(w.call("POST", "/v1/members/"+ana+"/signin-codes", w.coordCoop.token, nil), 404, "not-found")
	w.problem(w.call("POST", "/v1/members/"+w.admin.id.String()+"/signin-codes", w.coordTB.token, nil), 404, "not-found")
	// Cam is in the co-op, and also coordinates a council the time bank's
	// coordinator does not govern: 403.
	council := w.org(w.local, exchange.KindCouncil, "Street council")
	if _, err := w.ex.AddMembership(context.Background(), exchange.System(), w.timebank.ID, w.cam.id, exchange.RoleMember); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ex.AddMembership(context.Background(), exchange.System(), council.ID, w.cam.id, exchange.RoleCoordinator); err != nil {
		t.Fatal(err)
	}
	w.problem(w.call("POST", "/v1/members/"+w.cam.id.String()+"/signin-codes", w.coordTB.token, nil), 403, "forbidden")
	w.problem(w.call("POST", "/v1/tokens", w.coordTB.token, map[string]any{"member_id": w.cam.id.String(), "name": "x"}), 403, "forbidden")

	// A code expires after 15 minutes.
	code = w.issueCode(ana)
	w.clock.Advance(16 * time.Minute)
	w.problem(w.call("POST", "/v1/signin/code", "", map[string]any{"member_id": ana, "code": code}), 401, "signin-failed")
	// A newer code replaces the older.
	old := w.issueCode(ana)
	w.issueCode(ana)
	w.problem(w.call("POST", "/v1/signin/code", "", map[string]any{"member_id": ana, "code": old}), 401, "signin-failed")

	if logs := w.logs.String(); strings.Contains(logs, code) || strings.Contains(logs, old) || strings.Contains(logs, session) {
		t.Fatal("a code or a session id reached the log")
	}
}

// TestWrongCodesLock sends 1,000 wrong codes for a member: the first five
// are 401, every later one 429, and then the right code is refused too
// until a coordinator issues a new one.
func TestWrongCodesLock(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ana := w.ana.id.String()
	right := w.issueCode(ana)
	wrong := "2222-2222"
	if right == wrong {
		wrong = "3333-3333"
	}
	sawRetryAfter := false
	for i := range 1000 {
		r := w.call("POST", "/v1/signin/code", "", map[string]any{"member_id": ana, "code": wrong})
		switch {
		case i < exchange.MaxCodeFailures:
			w.problem(r, 401, "signin-failed")
		case r.status != 429:
			t.Fatalf("wrong code %d: %s", i+1, r)
		case r.header.Get("Retry-After") != "":
			sawRetryAfter = true
		}
	}
	if !sawRetryAfter {
		t.Error("no 429 said when to retry")
	}
	// The right code now: refused while the member's limit holds, and
	// still refused (locked) after it has passed.
	r := w.call("POST", "/v1/signin/code", "", map[string]any{"member_id": ana, "code": right})
	w.problem(r, 429, "too-many-attempts")
	if r.header.Get("Retry-After") == "" {
		t.Error("too-many-attempts without Retry-After")
	}
	w.clock.Advance(exchange.FailureWindow + time.Second)
	w.problem(w.call("POST", "/v1/signin/code", "", map[string]any{"member_id": ana, "code": right}), 429, "signin-code-locked")
	if w.count("sessions") != 0 {
		t.Fatal("a locked code opened a session")
	}
	// A new code works.
	fresh := w.issueCode(ana)
	w.must(w.call("POST", "/v1/signin/code", "", map[string]any{"member_id": ana, "code": fresh}), 200)
	// The attempts are in the database, so the limit holds for another
	// server on the same database too.
	// (5 wrong, 5 on the locked code, then refused uncounted while the
	// member's limit held, and the right code on the locked one.)
	if n := w.count("signin_failures"); n != 2*exchange.MaxCodeFailures+1 {
		t.Errorf("%d failures recorded, want %d", n, 2*exchange.MaxCodeFailures+1)
	}
}

// TestWrongCodesPerAddress: wrong codes for many members from one address
// end with the address refused, even for a member with no failures.
func TestWrongCodesPerAddress(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	victims := []actor{w.ana, w.ben, w.cam}
	for _, v := range victims {
		w.issueCode(v.id.String())
		for range exchange.MaxMemberFailures {
			r := w.call("POST", "/v1/signin/code", "", map[string]any{"member_id": v.id.String(), "code": "2222-2222"})
			if r.status != 401 && r.status != 429 {
				t.Fatalf("%s", r)
			}
		}
	}
	eve := w.member(w.timebank, exchange.RoleMember, "Eve")
	code := w.issueCode(eve.id.String())
	r := w.call("POST", "/v1/signin/code", "", map[string]any{"member_id": eve.id.String(), "code": code})
	w.problem(r, 429, "too-many-attempts")
	if r.header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	w.clock.Advance(exchange.FailureWindow + time.Second)
	w.must(w.call("POST", "/v1/signin/code", "", map[string]any{"member_id": eve.id.String(), "code": code}), 200)
}

// TestSessionCookieFlags checks the cookie over plain HTTP and behind a
// TLS proxy.
func TestSessionCookieFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		proxy  bool
		name   string
		secure bool
	}{{false, plainCookie, false}, {true, secureCookie, true}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvWith(t, func(c *httpapi.Config) { c.BehindTLSProxy = tc.proxy })
			m := e.member(e.org(e.network, exchange.KindTimebank, "Bank"), exchange.RoleMember, "Ana")
			r := e.call("POST", "/v1/signin/code", "", map[string]any{"member_id": m.id.String(), "code": e.issueCode(m.id.String())})
			e.must(r, 200)
			c := setCookie(t, r, tc.name)
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure != tc.secure || c.Domain != "" {
				t.Fatalf("cookie %s: %v", tc.name, r.header.Values("Set-Cookie"))
			}
			if want := e.clock.Now().Add(exchange.SessionMax); !c.Expires.Equal(want.Truncate(time.Second)) {
				t.Errorf("cookie expires %v, want %v", c.Expires, want)
			}
			if len(c.Value) != 43 {
				t.Errorf("session id of %d characters, want 43 (256 bits)", len(c.Value))
			}
			var stored int
			if err := e.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM sessions WHERE hash = $1`, []byte(c.Value)).Scan(&stored); err != nil || stored != 0 {
				t.Fatalf("the session id stored in clear: %d, %v", stored, err)
			}
			if me := e.must(e.call("GET", "/v1/me", "", nil, withCookie(tc.name, c.Value)...), 200); me["id"] != m.id.String() {
				t.Fatalf("me: %v", me)
			}
			// The other mode's name is not read.
			other := secureCookie
			if tc.proxy {
				other = plainCookie
			}
			e.problem(e.call("GET", "/v1/me", "", nil, withCookie(other, c.Value)...), 401, "unauthenticated")
		})
	}
}

// TestSessionExpiry: a session slides forward with use, ends after 30
// days unused, and ends after 90 days however used.
func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	day := 24 * time.Hour
	idle := w.signIn(w.ana.id.String())
	capped := w.signIn(w.ana.id.String())
	for range 3 { // days 29, 58, 87: each use moves the idle end
		w.clock.Advance(29 * day)
		w.must(w.asSession("GET", "/v1/me", capped, nil), 200)
	}
	// The first session was used only at the start: 87 days unused.
	w.problem(w.asSession("GET", "/v1/me", idle, nil), 401, "unauthenticated")
	w.clock.Advance(3*day + time.Minute) // day 90: the absolute cap
	w.problem(w.asSession("GET", "/v1/me", capped, nil), 401, "unauthenticated")

	// Unused for 30 days: ended; used at 29: still open.
	s1, s2 := w.signIn(w.ben.id.String()), w.signIn(w.ben.id.String())
	w.clock.Advance(29 * day)
	w.must(w.asSession("GET", "/v1/me", s2, nil), 200)
	w.clock.Advance(day + time.Minute)
	w.problem(w.asSession("GET", "/v1/me", s1, nil), 401, "unauthenticated")
	w.must(w.asSession("GET", "/v1/me", s2, nil), 200)
}

// TestSignOut: signing out ends that session at once, signing out
// everywhere ends the others, and a coordinator can end a member's
// sessions; tokens and sessions are listed without secrets.
func TestSignOut(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ana := w.ana.id.String()
	a, b := w.signIn(ana), w.signIn(ana)
	sessions := w.must(w.call("GET", "/v1/members/"+ana+"/sessions", w.coordTB.token, nil), 200)["items"].([]any)
	if len(sessions) != 2 {
		t.Fatalf("%d sessions listed, want 2", len(sessions))
	}
	tokens := w.call("GET", "/v1/members/"+ana+"/tokens", w.coordTB.token, nil)
	if l := w.must(tokens, 200)["items"].([]any); len(l) != 1 || strings.Contains(string(tokens.body), w.ana.token) {
		t.Fatalf("tokens: %s", tokens.body)
	}

	r := w.asSession("POST", "/v1/signout", a, nil)
	if r.status != 204 {
		t.Fatalf("sign out: %s", r)
	}
	if c := setCookie(t, r, plainCookie); c.MaxAge >= 0 || c.Value != "" {
		t.Errorf("sign-out did not clear the cookie: %v", r.header.Values("Set-Cookie"))
	}
	w.problem(w.asSession("GET", "/v1/me", a, nil), 401, "unauthenticated")
	w.must(w.asSession("GET", "/v1/me", b, nil), 200)

	c := w.signIn(ana)
	if n := w.must(w.asSession("POST", "/v1/me/sessions/revoke-all", b, nil), 200)["ended"]; n != float64(2) {
		t.Errorf("signed out of %v sessions, want 2", n)
	}
	w.problem(w.asSession("GET", "/v1/me", b, nil), 401, "unauthenticated")
	w.problem(w.asSession("GET", "/v1/me", c, nil), 401, "unauthenticated")
	w.must(w.call("GET", "/v1/me", w.ana.token, nil), 200) // tokens are left

	// The coordinator ends her sessions; another member may not.
	d := w.signIn(ana)
	w.problem(w.call("POST", "/v1/members/"+ana+"/sessions/revoke-all", w.ben.token, nil), 404, "not-found")
	w.must(w.asSession("GET", "/v1/me", d, nil), 200)
	w.must(w.call("POST", "/v1/members/"+ana+"/sessions/revoke-all", w.coordTB.token, nil), 200)
	w.problem(w.asSession("GET", "/v1/me", d, nil), 401, "unauthenticated")
	// Or one of them.
	e := w.signIn(ana)
	id := w.must(w.call("GET", "/v1/members/"+ana+"/sessions", w.coordTB.token, nil), 200)["items"].([]any)[0].(map[string]any)["id"].(string)
	w.noContent(w.call("DELETE", "/v1/sessions/"+id, w.coordTB.token, nil))
	w.problem(w.asSession("GET", "/v1/me", e, nil), 401, "unauthenticated")

	// A token's sign-out revokes the token.
	tok := w.must(w.call("POST", "/v1/tokens", w.ana.token, map[string]any{"name": "laptop"}), 201)["secret"].(string)
	if r := w.call("POST", "/v1/signout", tok, nil); r.status != 204 {
		t.Fatalf("token sign out: %s", r)
	}
	w.problem(w.call("GET", "/v1/me", tok, nil), 401, "unauthenticated")
}

// TestCrossOriginRefused: a state-changing request from another site that
// carries the session cookie is refused and moves nothing; the same from
// the site itself, a read, or a bearer token's request is served.
func TestCrossOriginRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	session := w.signIn(w.ana.id.String())
	pay := map[string]any{"postings": []any{posting(w.anaHours, w.benHours, "1", "HOUR")}}
	before, _ := w.balance(w.anaHours)
	w.problem(w.asSession("POST", "/v1/transfers", session, pay, "Sec-Fetch-Site", "cross-site"), 403, "cross-origin")
	w.problem(w.asSession("POST", "/v1/transfers", session, pay, "Origin", "https://evil.example"), 403, "cross-origin")
	w.problem(w.asSession("POST", "/v1/signout", session, nil, "Sec-Fetch-Site", "same-site"), 403, "cross-origin")
	w.problem(w.call("POST", "/v1/signin/code", "", map[string]any{"member_id": w.ana.id.String(), "code": "2345-6789"},
		"Sec-Fetch-Site", "cross-site"), 403, "cross-origin")
	if after, _ := w.balance(w.anaHours); after != before {
		t.Fatalf("a refused cross-site request moved value: %s → %s", before, after)
	}
	w.must(w.asSession("GET", "/v1/me", session, nil, "Sec-Fetch-Site", "cross-site"), 200)
	w.must(w.asSession("POST", "/v1/transfers", session, pay, "Sec-Fetch-Site", "same-origin"), 201)
	w.must(w.call("POST", "/v1/transfers", w.ana.token, pay, "Sec-Fetch-Site", "cross-site"), 201)
	w.must(w.asSession("GET", "/v1/me", session, nil), 200) // the session stands
}

// authzRow is a row of the authorization matrix (TestAuthorizationMatrix):
// a route, a call of it with a caller's token, and the status each caller
// gets, in the matrix's order of callers: none, bad, owner (Ana),
// same-org member (Ben), other-org member (Cam), the time bank's
// coordinator, the co-op's coordinator, the admin.
type authzRow struct {
	route string
	call  func(token string) resp
	want  []int
}

// identityRows are the matrix's rows for invitations, sign-in codes,
// sessions and passkeys.
func (w *world) identityRows() []authzRow {
	t := w.t
	ctx := context.Background()
	tb := "/v1/orgs/" + w.timebank.ID.String()
	ana := w.ana.id.String()
	admin, err := w.ex.Authenticate(ctx, w.admin.token)
	if err != nil {
		t.Fatal(err)
	}
	// anaPasskey registers a passkey of Ana's (a made-up public
	// credential: the routes list and remove, never verify).
	anaP, err := w.ex.Authenticate(ctx, w.ana.token)
	if err != nil {
		t.Fatal(err)
	}
	anaPasskey := func() string {
		k, err := w.ex.AddPasskey(ctx, anaP, exchange.NewPasskey{CredentialID: []byte(uuid.NewString()), Record: []byte(`{"publicKey":"AQID"}`)})
		if err != nil {
			t.Fatal(err)
		}
		return k.ID.String()
	}
	// invitation makes a fresh invitation into org as the admin.
	invitation := func(org exchange.Org) (id, secret string) {
		inv, secret, _, err := w.ex.Invite(ctx, admin, exchange.NewInvitation{OrgID: org.ID, Role: exchange.RoleMember})
		if err != nil {
			t.Fatal(err)
		}
		return inv.ID.String(), secret
	}
	garden := w.org(w.local, exchange.KindCouncil, "Community garden")
	// anaSession opens a fresh session of Ana's and returns its id.
	anaSession := func() string {
		_, code, err := w.ex.IssueSigninCode(ctx, admin, w.ana.id)
		if err != nil {
			t.Fatal(err)
		}
		s, _, err := w.ex.SignInWithCode(ctx, w.ana.id, code, "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		return s.ID.String()
	}
	// fresh is another token of the caller's member, for a call that ends
	// its credential.
	fresh := func(tk string) string {
		p, err := w.ex.Authenticate(ctx, tk)
		if err != nil {
			return tk // no token, or a bad one: sent as it is
		}
		_, secret, err := w.ex.CreateToken(ctx, exchange.Principal{MemberID: p.MemberID}, p.MemberID, "to sign out", nil)
		if err != nil {
			t.Fatal(err)
		}
		return secret
	}
	return []authzRow{
		{"POST /v1/orgs/{id}/invitations", func(tk string) resp {
			return w.call("POST", tb+"/invitations", tk, map[string]any{"role": "member"})
		}, []int{401, 401, 403, 403, 403, 201, 403, 201}},
		{"GET /v1/orgs/{id}/invitations", func(tk string) resp { return w.call("GET", tb+"/invitations", tk, nil) },
			[]int{401, 401, 403, 403, 403, 200, 403, 200}},
		{"DELETE /v1/orgs/{id}/invitations/{iid}", func(tk string) resp {
			id, _ := invitation(w.timebank)
			return w.call("DELETE", tb+"/invitations/"+id, tk, nil)
		}, []int{401, 401, 403, 403, 403, 204, 403, 204}},
		// Into a garden no caller coordinates: a new person without a
		// token; with one, the member joins as themselves.
		{"POST /v1/invitations/accept", func(tk string) resp {
			_, secret := invitation(garden)
			body := map[string]any{"secret": secret}
			if tk == "" {
				body["name"] = "Newcomer"
			}
			return w.call("POST", "/v1/invitations/accept", tk, body)
		}, []int{201, 401, 201, 201, 201, 201, 201, 201}},
		{"POST /v1/members/{id}/signin-codes", func(tk string) resp {
			return w.call("POST", "/v1/members/"+ana+"/signin-codes", tk, nil)
		}, []int{401, 401, 201, 404, 404, 201, 404, 201}},
		{"POST /v1/signin/code", func(tk string) resp { // public: the token is not looked at
			_, code, err := w.ex.IssueSigninCode(ctx, admin, w.ana.id)
			if err != nil {
				t.Fatal(err)
			}
			return w.call("POST", "/v1/signin/code", tk, map[string]any{"member_id": ana, "code": code})
		}, []int{200, 200, 200, 200, 200, 200, 200, 200}},
		{"POST /v1/signout", func(tk string) resp { return w.call("POST", "/v1/signout", fresh(tk), nil) },
			[]int{401, 401, 204, 204, 204, 204, 204, 204}},
		{"POST /v1/me/sessions/revoke-all", func(tk string) resp { return w.call("POST", "/v1/me/sessions/revoke-all", tk, nil) },
			[]int{401, 401, 200, 200, 200, 200, 200, 200}},
		{"POST /v1/members/{id}/sessions/revoke-all", func(tk string) resp {
			return w.call("POST", "/v1/members/"+ana+"/sessions/revoke-all", tk, nil)
		}, []int{401, 401, 200, 404, 404, 200, 404, 200}},
		{"GET /v1/members/{id}/sessions", func(tk string) resp { return w.call("GET", "/v1/members/"+ana+"/sessions", tk, nil) },
			[]int{401, 401, 200, 404, 404, 200, 404, 200}},
		{"GET /v1/members/{id}/tokens", func(tk string) resp { return w.call("GET", "/v1/members/"+ana+"/tokens", tk, nil) },
			[]int{401, 401, 200, 404, 404, 200, 404, 200}},
		{"DELETE /v1/sessions/{id}", func(tk string) resp { return w.call("DELETE", "/v1/sessions/"+anaSession(), tk, nil) },
			[]int{401, 401, 204, 404, 404, 204, 404, 204}},
		{"GET /v1/members/{id}/passkeys", func(tk string) resp {
			anaPasskey()
			return w.call("GET", "/v1/members/"+ana+"/passkeys", tk, nil)
		}, []int{401, 401, 200, 404, 404, 200, 404, 200}},
		{"DELETE /v1/passkeys/{id}", func(tk string) resp { return w.call("DELETE", "/v1/passkeys/"+anaPasskey(), tk, nil) },
			[]int{401, 401, 204, 404, 404, 204, 404, 204}},
	}
}
