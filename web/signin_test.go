package web_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/internal/browsertest"
	"github.com/mutual-ledger/mutual/web"
)

// sessionCookie returns the browser's session cookie for the test server.
func sessionCookie(t *testing.T, ctx context.Context, base string) *network.Cookie {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if strings.HasSuffix(c.Name, "mutual_session") {
			return c
		}
	}
	return nil
}

// invitationAccepted reports whether an invitation of org was accepted.
func (e *env) acceptedInvitations() int {
	e.t.Helper()
	var n int
	if err := e.db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM invitations WHERE accepted_at IS NOT NULL").Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// joinAndSignIn is a neighbor's way in without JavaScript: they open the
// invitation link, forget their name (the form says so beside the field,
// in their language, and nothing is written), join, sign out, and sign in
// again with a code a coordinator issued them, first mistyped.
func TestJoinAndCodeSignInWithoutScript(t *testing.T) {
	e := newEnv(t)
	tb := e.timebank("Barrio Norte")
	secret, _ := e.invite(tb)
	ctx := browser.User(t, browsertest.NoScript())

	if st := open(t, ctx, e.srv.URL+exchange.InvitationLinkPath+secret); st != http.StatusOK {
		t.Fatalf("the invitation link answered %d", st)
	}
	if script, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!document.querySelector("script")`)); script {
		t.Log("the join page holds a script; it must work without")
	}
	members := e.count("members")
	if st := submit(t, ctx, "main button[type=submit]"); st != http.StatusUnprocessableEntity {
		t.Errorf("joining without a name answered %d, want 422", st)
	}
	if got, want := text(t, ctx, "#f-name-error"), msg(t, "en", "error.field.name"); got != want {
		t.Errorf("beside the name: %q, want %q", got, want)
	}
	if attr(t, ctx, "#f-name", "aria-invalid") != "true" || !strings.Contains(attr(t, ctx, "#f-name", "aria-describedby"), "f-name-error") {
		t.Errorf("the refused field is not marked: aria-invalid %q, aria-describedby %q",
			attr(t, ctx, "#f-name", "aria-invalid"), attr(t, ctx, "#f-name", "aria-describedby"))
	}
	if e.count("members") != members || e.acceptedInvitations() != 0 {
		t.Fatalf("a refused join wrote: members %d -> %d, accepted invitations %d", members, e.count("members"), e.acceptedInvitations())
	}
	browser.Axe(t, ctx)

	typeInto(t, ctx, "f-name", "Ana Lima")
	submit(t, ctx, "main button[type=submit]")
	if got := location(t, ctx); got != "/home" {
		t.Fatalf("after joining the browser is at %s, want /home", got)
	}
	if got, want := text(t, ctx, "h1"), msg(t, "en", "home.heading", "Name", "Ana Lima"); got != want {
		t.Errorf("home h1 = %q, want %q", got, want)
	}
	if got, want := text(t, ctx, ".flash"), msg(t, "en", "flash.joined"); got != want {
		t.Errorf("flash = %q, want %q", got, want)
	}
	if got := text(t, ctx, "main ul li"); !strings.Contains(got, "Barrio Norte") {
		t.Errorf("home lists %q, want the time bank joined", got)
	}
	// Passkeys need script: the page says so, and offers no dead button.
	open(t, ctx, e.srv.URL+"/passkeys")
	if got, want := text(t, ctx, "[data-passkey-missing]"), msg(t, "en", "passkeys.needs_script"); got != want {
		t.Errorf("without script the passkeys page says %q, want %q", got, want)
	}
	if hidden := attr(t, ctx, "#passkey-register", "hidden"); hidden == "" {
		if ok, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("passkey-register").hidden`)); !ok {
			t.Error("without script the passkey button shows")
		}
	}
	browser.Axe(t, ctx)
	c := sessionCookie(t, ctx, e.srv.URL)
	if c == nil || c.Name != "mutual_session" || !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax || c.Secure {
		t.Errorf("session cookie over plain HTTP = %+v; want mutual_session, HttpOnly, SameSite=Lax, not Secure", c)
	}
	ana := e.memberNamed("Ana Lima")

	// Sign out: the cookie goes, and home asks to sign in.
	submit(t, ctx, "header button[type=submit]")
	if got := location(t, ctx); got != "/" {
		t.Errorf("after signing out the browser is at %s", got)
	}
	if got, want := text(t, ctx, ".flash"), msg(t, "en", "flash.signed_out"); got != want {
		t.Errorf("flash = %q, want %q", got, want)
	}
	open(t, ctx, e.srv.URL+"/home")
	if got := location(t, ctx); !strings.HasPrefix(got, "/signin") {
		t.Errorf("home after signing out is at %s, want the sign-in page", got)
	}

	// A coordinator issues a code; a mistyped one is refused, the right
	// one signs her in.
	_, code, err := e.ex.IssueSigninCode(context.Background(), e.admin, ana)
	if err != nil {
		t.Fatal(err)
	}
	open(t, ctx, e.srv.URL+"/signin?member="+ana.String())
	typeInto(t, ctx, "f-code", "2222-2222")
	if st := submit(t, ctx, `form[action="/signin/code"] button`); st != http.StatusUnprocessableEntity {
		t.Errorf("a wrong code answered %d, want 422", st)
	}
	if got, want := text(t, ctx, ".errors li"), msg(t, "en", "error.reason.signin_failed"); got != want {
		t.Errorf("a wrong code says %q, want %q", got, want)
	}
	if v, _ := chromedp.Run(ctx, chromedp.Value(chromedp.ID("f-member"))); v != ana.String() {
		t.Errorf("the member number typed was not kept: %q", v)
	}
	browser.Axe(t, ctx)
	typeInto(t, ctx, "f-code", strings.ToLower(code))
	submit(t, ctx, `form[action="/signin/code"] button`)
	if got := location(t, ctx); got != "/home" {
		t.Fatalf("after the right code the browser is at %s", got)
	}
	if got, want := text(t, ctx, "h1"), msg(t, "en", "home.heading", "Name", "Ana Lima"); got != want {
		t.Errorf("home h1 = %q, want %q", got, want)
	}
}

// TestJoinByCodeInSpanish: a person with a code read over the phone types
// it, in a browser that asks for Spanish; a wrong code is refused in
// Spanish, and a used invitation says it works once.
func TestJoinByCodeInSpanish(t *testing.T) {
	e := newEnv(t)
	tb := e.timebank("Banco de Tiempo Sur")
	_, code := e.invite(tb)
	ctx := browser.User(t)
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": "es"}}); err != nil {
		t.Fatal(err)
	}
	open(t, ctx, e.srv.URL+"/join")
	if got, want := text(t, ctx, "h1"), msg(t, "es", "join.heading"); got != want {
		t.Errorf("h1 = %q, want %q", got, want)
	}
	typeInto(t, ctx, "f-code", "ZZZZ-ZZZZ")
	typeInto(t, ctx, "f-name", "Lucía")
	submit(t, ctx, "main button[type=submit]")
	if got, want := text(t, ctx, ".errors li"), msg(t, "es", "error.reason.unknown_invitation"); got != want {
		t.Errorf("a wrong code says %q, want %q", got, want)
	}
	if v, _ := chromedp.Run(ctx, chromedp.Value(chromedp.ID("f-name"))); v != "Lucía" {
		t.Errorf("the name typed was not kept: %q", v)
	}
	browser.Axe(t, ctx)
	typeInto(t, ctx, "f-code", code)
	submit(t, ctx, "main button[type=submit]")
	if got, want := text(t, ctx, "h1"), msg(t, "es", "home.heading", "Name", "Lucía"); got != want {
		t.Errorf("home h1 = %q, want %q", got, want)
	}

	// The same code again, from another browser: used.
	other := browser.User(t)
	open(t, other, e.srv.URL+"/join")
	typeInto(t, other, "f-code", code)
	typeInto(t, other, "f-name", "Otra")
	submit(t, other, "main button[type=submit]")
	if got, want := text(t, other, ".errors li"), msg(t, "en", "error.reason.invitation_used"); got != want {
		t.Errorf("a used invitation says %q, want %q", got, want)
	}
}

// signInByHTTP signs a member in with a code over plain HTTP and returns
// the client holding the session.
func (e *env) signInByHTTP(member uuid.UUID) *http.Client {
	e.t.Helper()
	_, code, err := e.ex.IssueSigninCode(context.Background(), e.admin, member)
	if err != nil {
		e.t.Fatal(err)
	}
	c := e.client()
	resp, body := post(e.t, c, e.srv.URL+"/signin/code", url.Values{"member": {member.String()}, "code": {code}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/home" {
		e.t.Fatalf("signing in: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	// The jar reads a cookie's expiry on the machine's clock, the server
	// writes it on the test's: a world whose clock is months behind would
	// sign in a client that never sends its session. The server's clock
	// decides when a session ends; the client keeps the cookie.
	u, err := url.Parse(e.srv.URL)
	if err != nil {
		e.t.Fatal(err)
	}
	var kept []*http.Cookie
	for _, ck := range resp.Cookies() {
		ck.Expires, ck.MaxAge = time.Time{}, 0
		kept = append(kept, ck)
	}
	c.Jar.SetCookies(u, kept)
	return c
}

// newMember makes a member of org through an invitation.
func (e *env) newMember(org exchange.Org, name string) uuid.UUID {
	e.t.Helper()
	_, code := e.invite(org)
	acc, err := e.ex.AcceptInvitation(context.Background(), exchange.Acceptance{Code: code, Name: name, Address: "127.0.0.1"})
	if err != nil {
		e.t.Fatal(err)
	}
	return acc.Member.ID
}

// TestCrossSiteFormsRefused: a form posted from another site with the
// session cookie (sign out, sign out everywhere, join) is refused with 403
// and changes nothing; the same from this site works.
func TestCrossSiteFormsRefused(t *testing.T) {
	e := newEnv(t)
	tb := e.timebank("Barrio")
	ana := e.newMember(tb, "Ana")
	c := e.signInByHTTP(ana)
	secret, _ := e.invite(tb)
	accepted, members := e.acceptedInvitations(), e.count("members")
	for _, path := range []string{"/signout", "/signout/everywhere", exchange.InvitationLinkPath + secret} {
		for _, h := range [][]string{
			{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"},
			{"Sec-Fetch-Site", "", "Origin", "https://evil.example"}, // an older browser: Origin alone
		} {
			resp, body := post(t, c, e.srv.URL+path, url.Values{"name": {"Mallory"}}, h...)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, htmlEscape(msg(t, "en", "error.cross_origin"))) {
				t.Errorf("cross-site POST %s (%v) = %d, want 403 with the explanation", path, h, resp.StatusCode)
			}
		}
	}
	if resp, _ := get(t, c, e.srv.URL+"/home"); resp.StatusCode != http.StatusOK {
		t.Errorf("after the refused posts, home = %d: the session was ended", resp.StatusCode)
	}
	if e.acceptedInvitations() != accepted || e.count("members") != members {
		t.Errorf("a refused cross-site join wrote something")
	}
	var open int
	if err := e.db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM sessions WHERE revoked_at IS NULL").Scan(&open); err != nil || open != 2 {
		t.Errorf("open sessions = %d (%v), want 2 (the invitation's and the code's)", open, err)
	}
	// From this site, sign out works.
	resp, _ := post(t, c, e.srv.URL+"/signout", nil, "Origin", e.srv.URL)
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("same-site sign out = %d", resp.StatusCode)
	}
	if resp, _ := get(t, c, e.srv.URL+"/home"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("home after sign out = %d, want a redirect to sign in", resp.StatusCode)
	}
}

// TestCookieFlagsBehindTLSProxy: behind a proxy that terminates TLS the
// session cookie is Secure and named with the __Host- prefix; it is
// HttpOnly and SameSite=Lax either way.
func TestCookieFlagsBehindTLSProxy(t *testing.T) {
	for _, proxied := range []bool{false, true} {
		e := newEnvWith(t, func(c *web.Config) { c.BehindTLSProxy = proxied })
		ana := e.newMember(e.timebank("Barrio"), "Ana")
		_, code, err := e.ex.IssueSigninCode(context.Background(), e.admin, ana)
		if err != nil {
			t.Fatal(err)
		}
		resp, _ := post(t, e.client(), e.srv.URL+"/signin/code", url.Values{"member": {ana.String()}, "code": {code}})
		var got *http.Cookie
		for _, ck := range resp.Cookies() {
			if strings.HasSuffix(ck.Name, "mutual_session") {
				got = ck
			}
		}
		wantName := map[bool]string{false: "mutual_session", true: "__Host-mutual_session"}[proxied]
		if got == nil || got.Name != wantName || got.Secure != proxied || !got.HttpOnly || got.SameSite != http.SameSiteLaxMode || got.Path != "/" || got.Domain != "" {
			t.Errorf("behind a TLS proxy %v: session cookie %+v; want %s, Secure %v, HttpOnly, SameSite=Lax, Path=/", proxied, got, wantName, proxied)
		}
	}
}

// TestSignOutEverywhere: two browsers of one member; signing out
// everywhere in one ends the other's session too.
func TestSignOutEverywhere(t *testing.T) {
	e := newEnv(t)
	ana := e.newMember(e.timebank("Barrio"), "Ana")
	phone, laptop := e.signInByHTTP(ana), e.signInByHTTP(ana)
	if resp, _ := post(t, laptop, e.srv.URL+"/signout/everywhere", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out everywhere = %d", resp.StatusCode)
	}
	for name, c := range map[string]*http.Client{"phone": phone, "laptop": laptop} {
		if resp, _ := get(t, c, e.srv.URL+"/home"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/signin") {
			t.Errorf("the %s's home after signing out everywhere = %d %s", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

// TestCrossOriginFormInBrowser: a page of another origin on the same site
// (localhost on another port, so the browser does send the SameSite=Lax
// session cookie along) posts a form to sign the member out everywhere.
// The pages refuse it (403, in her language) and her session stands.
func TestCrossOriginFormInBrowser(t *testing.T) {
	e := newEnv(t)
	ana := e.newMember(e.timebank("Barrio"), "Ana")
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="en"><title>Prize</title><form method="post" action="%s/signout/everywhere"><button>Claim</button></form></html>`, e.site)
	}))
	t.Cleanup(evil.Close)
	evilURL := "http://localhost:" + strconv.Itoa(evil.Listener.Addr().(*net.TCPAddr).Port)

	ctx := browser.User(t)
	_, code, err := e.ex.IssueSigninCode(context.Background(), e.admin, ana)
	if err != nil {
		t.Fatal(err)
	}
	open(t, ctx, e.site+"/signin?member="+ana.String())
	typeInto(t, ctx, "f-code", code)
	submit(t, ctx, `form[action="/signin/code"] button`)
	if got := location(t, ctx); got != "/home" {
		t.Fatalf("signing in led to %s", got)
	}
	open(t, ctx, evilURL+"/")
	if st := submit(t, ctx, "button"); st != http.StatusForbidden {
		t.Errorf("the cross-origin form answered %d, want 403", st)
	}
	if got, want := text(t, ctx, "main p"), msg(t, "en", "error.cross_origin"); got != want {
		t.Errorf("the refusal says %q, want %q", got, want)
	}
	if methods := e.sessionMethods(ana.String()); len(methods) != 2 { // the invitation's and the code's
		t.Errorf("open sessions after the refused form: %v, want both still open", methods)
	}
	open(t, ctx, e.site+"/home")
	if got := location(t, ctx); got != "/home" {
		t.Errorf("home after the refused form is at %s: she was signed out", got)
	}
}
