package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/mutual-ledger/mutual/exchange"
)

// TestEveryPageInEachLanguage: each page of the sign-in, in English,
// Spanish and French (chosen with the chooser), shows its heading from
// that language's catalogue, says its language to assistive technology,
// weighs under 100 KB, and passes axe-core.
func TestEveryPageInEachLanguage(t *testing.T) {
	e := newEnv(t)
	tb := e.timebank("Barrio")
	for _, lang := range []string{"en", "es", "fr"} {
		ctx := browser.User(t)
		open(t, ctx, e.site+"/language?lang="+lang+"&next=/")
		secret, _ := e.invite(tb)
		check := func(path, heading string, args ...string) {
			t.Helper()
			want := msg(t, lang, heading, args...)
			if got := text(t, ctx, "h1"); got != want {
				t.Errorf("%s in %s: h1 %q, want %q", path, lang, got, want)
			}
			if got := attr(t, ctx, "html", "lang"); got != lang {
				t.Errorf("%s in %s: <html lang=%q>", path, lang, got)
			}
			size, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.outerHTML.length`))
			if err != nil || size > 100*1024 {
				t.Errorf("%s in %s weighs %d characters (%v), over 100 KB", path, lang, size, err)
			}
			browser.Axe(t, ctx)
		}
		for _, p := range []struct{ path, heading string }{
			{"/", "index.heading"}, {"/join", "join.heading"}, {"/signin", "signin.heading"},
			{exchange.InvitationLinkPath + secret, "join.heading"},
		} {
			if st := open(t, ctx, e.site+p.path); st != http.StatusOK {
				t.Errorf("%s in %s: %d", p.path, lang, st)
			}
			check(p.path, p.heading)
		}
		if st := open(t, ctx, e.site+"/nothing-here"); st != http.StatusNotFound {
			t.Errorf("an unknown page in %s: %d", lang, st)
		}
		check("/nothing-here", "error.title")
		open(t, ctx, e.site+exchange.InvitationLinkPath+secret)
		typeInto(t, ctx, "f-name", "Nadia "+strings.ToUpper(lang))
		submit(t, ctx, "main button[type=submit]")
		check("/home", "home.heading", "Name", "Nadia "+strings.ToUpper(lang))
		open(t, ctx, e.site+"/passkeys")
		check("/passkeys", "passkeys.heading")
	}
}
