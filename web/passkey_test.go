package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/internal/browsertest"
)

// sessionMethods lists the methods of a member's open sessions, oldest
// first.
func (e *env) sessionMethods(member string) []string {
	e.t.Helper()
	rows, err := e.db.Pool.Query(context.Background(),
		"SELECT method FROM sessions WHERE member_id = $1 AND revoked_at IS NULL ORDER BY created_at, id", member)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var m string
		rows.Scan(&m)
		out = append(out, m)
	}
	return out
}

// TestPasskeyJourney: a neighbor joins by invitation, registers a passkey
// with her phone's authenticator (Chromium's virtual one), signs out, and
// signs in with the passkey without typing anything; a coordinator sees
// the passkey listed (never a secret); she removes it, and it no longer
// signs her in.
func TestPasskeyJourney(t *testing.T) {
	e := newEnv(t)
	tb := e.timebank("Barrio Norte")
	secret, _ := e.invite(tb)
	ctx := browser.User(t)
	if _, err := browsertest.Authenticator(ctx); err != nil {
		t.Fatal(err)
	}
	open(t, ctx, e.site+exchange.InvitationLinkPath+secret)
	typeInto(t, ctx, "f-name", "Rosa")
	submit(t, ctx, "main button[type=submit]")
	rosa := e.memberNamed("Rosa")

	submit(t, ctx, `a[href="/passkeys"]`)
	if got, want := text(t, ctx, "h1"), msg(t, "en", "passkeys.heading"); got != want {
		t.Fatalf("passkeys page h1 = %q, want %q", got, want)
	}
	if got, want := text(t, ctx, "main > p:nth-of-type(2)"), msg(t, "en", "passkeys.none"); got != want {
		t.Errorf("with no passkey the page says %q, want %q", got, want)
	}
	if st := submit(t, ctx, "#passkey-register button"); st != http.StatusOK {
		t.Fatalf("registering answered %d", st)
	}
	if got, want := text(t, ctx, ".flash"), msg(t, "en", "flash.passkey_added"); got != want {
		t.Fatalf("after registering the page says %q, want %q (errors: %q)", got, want, text(t, ctx, "main"))
	}
	if n := e.count("passkeys"); n != 1 {
		t.Fatalf("%d passkeys stored, want 1", n)
	}
	if e.count("passkey_ceremonies") != 0 {
		t.Errorf("the registration's ceremony was left behind")
	}
	browser.Axe(t, ctx)

	// A coordinator (here the admin) lists her passkeys: public data only.
	ks, err := e.ex.Passkeys(context.Background(), e.admin, rosa)
	if err != nil || len(ks) != 1 || ks[0].MemberID != rosa {
		t.Fatalf("the admin lists %v, %v", ks, err)
	}
	if strings.Contains(strings.ToLower(string(ks[0].Record)), "private") {
		t.Errorf("the stored record mentions a private key: %s", ks[0].Record)
	}

	// Sign out, then in with the passkey: nothing typed.
	submit(t, ctx, "header button[type=submit]")
	open(t, ctx, e.site+"/signin")
	if vis, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`!document.querySelector("[data-passkey-section]").hidden`)); !vis {
		t.Fatal("the passkey sign-in is hidden although the browser has WebAuthn")
	}
	submit(t, ctx, "#passkey-signin button")
	if got := location(t, ctx); got != "/home" {
		t.Fatalf("after the passkey sign-in the browser is at %s (%s)", got, text(t, ctx, "main"))
	}
	if got, want := text(t, ctx, "h1"), msg(t, "en", "home.heading", "Name", "Rosa"); got != want {
		t.Errorf("home h1 = %q, want %q", got, want)
	}
	methods := e.sessionMethods(rosa.String())
	if len(methods) != 1 || methods[0] != exchange.SessionByPasskey {
		t.Errorf("open sessions began by %v, want one by passkey", methods)
	}

	// Remove it: it no longer signs in.
	open(t, ctx, e.site+"/passkeys")
	submit(t, ctx, "ul.passkeys button")
	if got, want := text(t, ctx, ".flash"), msg(t, "en", "flash.passkey_removed"); got != want {
		t.Errorf("after removing the page says %q, want %q", got, want)
	}
	if n := e.count("passkeys"); n != 0 {
		t.Fatalf("%d passkeys left after removing", n)
	}
	submit(t, ctx, "header button[type=submit]")
	open(t, ctx, e.site+"/signin")
	if st := submit(t, ctx, "#passkey-signin button"); st != http.StatusUnprocessableEntity {
		t.Errorf("signing in with a removed passkey answered %d, want 422", st)
	}
	if got, want := text(t, ctx, ".errors li"), msg(t, "en", "passkeys.signin_failed"); got != want {
		t.Errorf("a removed passkey says %q, want %q", got, want)
	}
	if len(e.sessionMethods(rosa.String())) != 0 {
		t.Errorf("a removed passkey opened a session")
	}
	browser.Axe(t, ctx)
}
