package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/mutual-ledger/mutual/internal/browsertest"
)

// open loads a page in the browser and returns its HTTP status.
func open(t *testing.T, ctx context.Context, u string) int {
	t.Helper()
	resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(u))
	if err != nil {
		t.Fatalf("opening %s: %v", u, err)
	}
	return int(resp.Status)
}

// submit clicks a form's button (or link) and waits for the page it leads
// to; it returns that page's HTTP status (after redirects).
func submit(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("clicking %s (at %s): %v", sel, loc, err)
	}
	return int(resp.Status)
}

// typeInto replaces a field's value with s, as a person typing.
func typeInto(t *testing.T, ctx context.Context, id, s string) {
	t.Helper()
	// chromedp's SetValue refuses "" (v0.23.0), so the field is emptied
	// by DevTools' own evaluation, which works with the page's script off.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById(`+quote(id)+`).value = ""`)); err != nil {
		t.Fatalf("emptying #%s: %v", id, err)
	}
	do(t, ctx, chromedp.SendKeys(chromedp.ID(id), s))
}

// TestFrontPageAndLanguages: a visitor's browser asking for Spanish gets
// the front page in Spanish; the chooser switches to French and the choice
// is remembered on the next page; English is the default. (axe-core checks
// these pages in TestEveryPageInEachLanguage.)
func TestFrontPageAndLanguages(t *testing.T) {
	e := newEnv(t)
	ctx := browser.User(t)
	// Accept-Language from the browser: Spanish.
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": "es-MX,es;q=0.9"}}); err != nil {
		t.Fatal(err)
	}
	if st := open(t, ctx, e.srv.URL+"/"); st != http.StatusOK {
		t.Fatalf("GET / = %d", st)
	}
	if got, want := text(t, ctx, "h1"), msg(t, "es", "index.heading"); got != want {
		t.Errorf("h1 = %q, want the Spanish %q", got, want)
	}
	if got := attr(t, ctx, "html", "lang"); got != "es" {
		t.Errorf(`<html lang=%q>, want "es"`, got)
	}
	// The chooser: a plain link, remembered.
	submit(t, ctx, `footer a[hreflang="fr"]`)
	if got, want := text(t, ctx, "h1"), msg(t, "fr", "index.heading"); got != want {
		t.Errorf("after choosing French, h1 = %q, want %q", got, want)
	}
	if got := location(t, ctx); got != "/" {
		t.Errorf("the chooser led to %s, want back to /", got)
	}
	if got := attr(t, ctx, `footer a[hreflang="fr"]`, "aria-current"); got != "true" {
		t.Errorf("the chosen language is not marked current")
	}
	submit(t, ctx, `a.button.secondary`) // sign in
	if got, want := text(t, ctx, "h1"), msg(t, "fr", "signin.heading"); got != want {
		t.Errorf("the next page's h1 = %q, want the French %q: the choice was not remembered", got, want)
	}

	// Without a cookie or a language we have, English.
	c := e.client()
	resp, body := get(t, c, e.srv.URL+"/", "Accept-Language", "de-DE")
	if resp.Header.Get("Content-Language") != "en" || !strings.Contains(body, msg(t, "en", "index.heading")) {
		t.Errorf("German asked: Content-Language %q, want the English page", resp.Header.Get("Content-Language"))
	}
	if len(body) > 100*1024 {
		t.Errorf("the front page weighs %d bytes, over 100 KB", len(body))
	}
	// The chooser never leads off the site.
	resp, _ = get(t, c, e.srv.URL+"/language?lang=es&next="+url.QueryEscape("//evil.example/x"))
	if loc := resp.Header.Get("Location"); loc != "/" {
		t.Errorf("the chooser redirected to %q, want /", loc)
	}
}

// TestUnknownPage: an unknown path is a 404 page in the person's language,
// not a problem+json.
func TestUnknownPage(t *testing.T) {
	e := newEnv(t)
	resp, body := get(t, e.client(), e.srv.URL+"/no/such/page", "Accept-Language", "fr")
	if resp.StatusCode != http.StatusNotFound || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(body, htmlEscape(msg(t, "fr", "error.not_found"))) {
		t.Errorf("GET /no/such/page = %d %s:\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}

// TestPagesAtPhoneWidth: the front page, the sign-in and the join pages
// fit a 360 px wide screen without scrolling sideways.
func TestPagesAtPhoneWidth(t *testing.T) {
	e := newEnv(t)
	ctx := browser.User(t, browsertest.Width(360))
	for _, p := range []string{"/", "/signin", "/join"} {
		open(t, ctx, e.srv.URL+p)
		w, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		if err != nil {
			t.Fatal(err)
		}
		if w > 360 {
			t.Errorf("%s is %d px wide at 360 px", p, w)
		}
	}
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
}
