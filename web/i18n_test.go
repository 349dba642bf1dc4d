package web

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"text/template/parse"
	"time"
	"unicode"

	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
)

// catalogueEntries reads a language's catalogue as it is on disk: each id
// with its plural forms (nil for a plain message).
func catalogueEntries(t *testing.T, code string) map[string]map[string]string {
	t.Helper()
	b, err := fs.ReadFile(localeFiles, "locales/"+code+".json")
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatalf("%s.json: %v", code, err)
	}
	out := map[string]map[string]string{}
	for id, v := range raw {
		var plain string
		if json.Unmarshal(v, &plain) == nil {
			out[id] = nil
			continue
		}
		var forms map[string]string
		if err := json.Unmarshal(v, &forms); err != nil {
			t.Errorf("%s.json: %s is neither a text nor plural forms: %v", code, id, err)
			continue
		}
		out[id] = forms
	}
	return out
}

// keyPattern is what a message id looks like ("join.name"): Go strings and
// template strings of this shape under a catalogue's namespaces are ids.
var keyPattern = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$`)

// TestCatalogues fails when the catalogues disagree on their ids, when a
// plural lacks a form its language needs, and when an id that a template
// or the Go code uses is missing from one of them.
func TestCatalogues(t *testing.T) {
	cats := map[string]map[string]map[string]string{}
	for _, tag := range Languages {
		cats[tag.String()] = catalogueEntries(t, tag.String())
	}
	en := cats["en"]
	// The forms each language's plural rules use for the counts the pages
	// show (CLDR): French also has "many", for millions.
	needs := map[string][]string{"en": {"one", "other"}, "es": {"one", "other"}, "fr": {"one", "many", "other"}}
	for code, cat := range cats {
		for id, forms := range cat {
			if _, ok := en[id]; !ok {
				t.Errorf("%s.json has %q, which en.json lacks", code, id)
			}
			if (forms == nil) != (en[id] == nil) {
				t.Errorf("%s.json: %q is a plural in one catalogue and not in the other", code, id)
			}
			for _, f := range needs[code] {
				if forms != nil && forms[f] == "" {
					t.Errorf("%s.json: the plural %q lacks its %q form", code, id, f)
				}
			}
		}
		for id := range en {
			if _, ok := cat[id]; !ok {
				t.Errorf("%s.json lacks %q", code, id)
			}
		}
	}
	namespaces := map[string]bool{}
	for id := range en {
		namespaces[strings.SplitN(id, ".", 2)[0]] = true
	}
	used := map[string]string{} // id -> where
	for id, where := range templateKeys(t) {
		used[id] = where
	}
	for id, where := range goKeys(t) {
		used[id] = where
	}
	if len(used) < 20 {
		t.Fatalf("found only %d message ids in use: the scan is broken", len(used))
	}
	for id, where := range used {
		if !namespaces[strings.SplitN(id, ".", 2)[0]] {
			continue
		}
		if _, ok := en[id]; !ok {
			t.Errorf("%s uses %q, which no catalogue has", where, id)
		}
	}
	// Ids built at run time, from a prefix and a value.
	for _, tag := range Languages {
		for _, id := range []string{"language." + tag.String()} {
			if _, ok := en[id]; !ok {
				t.Errorf("no message %q", id)
			}
		}
	}
	for m := 1; m <= 12; m++ {
		if _, ok := en["month."+strconv.Itoa(m)]; !ok {
			t.Errorf("no message month.%d", m)
		}
	}
	// How a session was opened, on the account page.
	for _, method := range []string{exchange.SessionByInvitation, exchange.SessionBySigninCode, exchange.SessionByPasskey} {
		if _, ok := en["account.method."+method]; !ok {
			t.Errorf("no message account.method.%s", method)
		}
	}
	// Every kind of notification is said from the catalogue: the kinds the
	// schema allows, read from the last migration that sets them.
	for _, kind := range notificationKinds(t) {
		if _, ok := en["home.notice."+kind]; !ok {
			t.Errorf("no message home.notice.%s", kind)
		}
	}
	for _, role := range []string{"member", "coordinator", "admin"} {
		if _, ok := en["role."+role]; !ok {
			t.Errorf("no message role.%s", role)
		}
	}
	// The public pages: an organization's kind and membership, a month's
	// short name.
	for _, kind := range []string{"network", "local", "council", "timebank", "coop", "municipality"} {
		for _, id := range []string{"public.kind." + kind, "public.kind_does." + kind} {
			if _, ok := en[id]; !ok {
				t.Errorf("no message %s", id)
			}
		}
	}
	for _, m := range []string{"member", "partner"} {
		if _, ok := en["public.membership."+m]; !ok {
			t.Errorf("no message public.membership.%s", m)
		}
	}
	for m := 1; m <= 12; m++ {
		if _, ok := en["public.month_short."+strconv.Itoa(m)]; !ok {
			t.Errorf("no message public.month_short.%d", m)
		}
	}
	// The neighbor's pages: kinds and statuses of listings and agreements,
	// the days and parts of a day a match is free, the kinds of history.
	var neighbor []string
	for _, k := range []string{"offer", "need"} {
		neighbor = append(neighbor, "listings.kind."+k)
	}
	for _, st := range []string{"open", "matched", "fulfilled", "withdrawn", "expired"} {
		neighbor = append(neighbor, "listings.status."+st)
	}
	for _, st := range []string{"proposed", "accepted", "completed", "cancelled", "expired", "disputed"} {
		neighbor = append(neighbor, "agreements.status."+st)
	}
	for d := 0; d < 7; d++ {
		neighbor = append(neighbor, "weekday."+strconv.Itoa(d))
	}
	for _, p := range []string{"morning", "afternoon", "evening"} {
		neighbor = append(neighbor, "daypart."+p)
	}
	for _, k := range []string{"donation", "grant"} {
		neighbor = append(neighbor, "history.kind."+k)
	}
	for _, id := range neighbor {
		if _, ok := en[id]; !ok {
			t.Errorf("no message %s", id)
		}
	}
}

// templateKeys returns the message ids the templates name (every string
// argument shaped like an id), with the file naming each.
func templateKeys(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	walkTemplates(t, func(file string, n parse.Node) {
		if s, ok := n.(*parse.StringNode); ok && keyPattern.MatchString(s.Text) {
			out[s.Text] = file
		}
	}, nil)
	return out
}

// goKeys returns the string literals of the package's Go code shaped like
// message ids.
func goKeys(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && keyPattern.MatchString(s) {
					out[s] = fset.Position(lit.Pos()).String()
				}
			}
			return true
		})
	}
	return out
}

// walkTemplates parses every template file and calls node for each node
// of its trees, and text for each tree's HTML with every action replaced
// by "\x00" (a value the template fills in).
func walkTemplates(t *testing.T, node func(file string, n parse.Node), text func(file, name, html string)) {
	t.Helper()
	files, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil || len(files) == 0 {
		t.Fatalf("no templates: %v", err)
	}
	for _, f := range files {
		b, err := fs.ReadFile(templateFiles, f)
		if err != nil {
			t.Fatal(err)
		}
		tr := parse.New(f)
		tr.Mode = parse.SkipFuncCheck | parse.ParseComments
		trees := map[string]*parse.Tree{}
		if _, err := tr.Parse(string(b), "", "", trees); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for name, tree := range trees {
			var html strings.Builder
			var walk func(n parse.Node)
			walk = func(n parse.Node) {
				if n == nil {
					return
				}
				if node != nil {
					node(f, n)
				}
				switch n := n.(type) {
				case *parse.ListNode:
					if n == nil {
						return
					}
					for _, c := range n.Nodes {
						walk(c)
					}
				case *parse.TextNode:
					html.Write(n.Text)
				case *parse.ActionNode:
					html.WriteByte(0)
					walk(n.Pipe)
				case *parse.PipeNode:
					for _, c := range n.Cmds {
						walk(c)
					}
				case *parse.CommandNode:
					for _, a := range n.Args {
						walk(a)
					}
				case *parse.IfNode:
					walk(n.Pipe)
					walk(n.List)
					walk(n.ElseList)
				case *parse.RangeNode:
					walk(n.Pipe)
					walk(n.List)
					walk(n.ElseList)
				case *parse.WithNode:
					walk(n.Pipe)
					walk(n.List)
					walk(n.ElseList)
				case *parse.TemplateNode:
					html.WriteByte(0)
					walk(n.Pipe)
				}
			}
			walk(tree.Root)
			if text != nil {
				text(f, name, html.String())
			}
		}
	}
}

// visibleAttrs are the attributes a person reads or hears.
var visibleAttrs = map[string]bool{"alt": true, "title": true, "placeholder": true, "aria-label": true, "label": true, "value": true, "content": false}

// untranslated returns the visible text an HTML fragment (with "\x00"
// where the template fills in values) holds of its own: letters in text
// between tags, or in a visible attribute's value. Script and style
// elements' content is not visible.
func untranslated(html string) []string {
	var found []string
	hasLetter := func(s string) bool {
		s = regexp.MustCompile(`&[a-zA-Z]+;|&#[0-9]+;`).ReplaceAllString(s, "")
		return strings.IndexFunc(s, unicode.IsLetter) >= 0
	}
	i := 0
	for i < len(html) {
		lt := strings.IndexByte(html[i:], '<')
		if lt < 0 {
			if hasLetter(html[i:]) {
				found = append(found, strings.TrimSpace(html[i:]))
			}
			break
		}
		if hasLetter(html[i : i+lt]) {
			found = append(found, strings.TrimSpace(html[i:i+lt]))
		}
		i += lt
		if strings.HasPrefix(html[i:], "<!--") {
			end := strings.Index(html[i:], "-->")
			if end < 0 {
				break
			}
			i += end + 3
			continue
		}
		// A tag: its name, then attributes up to '>' (quotes respected).
		j := i + 1
		for j < len(html) && html[j] != '>' {
			if html[j] == '"' || html[j] == '\'' {
				q := html[j]
				k := strings.IndexByte(html[j+1:], q)
				if k < 0 {
					j = len(html)
					break
				}
				j += k + 1
			}
			j++
		}
		tag := html[i:min(j+1, len(html))]
		for _, m := range regexp.MustCompile(`([a-zA-Z-]+)\s*=\s*("[^"]*"|'[^']*')`).FindAllStringSubmatch(tag, -1) {
			if visibleAttrs[strings.ToLower(m[1])] && hasLetter(m[2][1:len(m[2])-1]) {
				found = append(found, m[0])
			}
		}
		name := strings.ToLower(strings.TrimLeft(strings.Fields(strings.TrimPrefix(tag, "<") + " ")[0], "/"))
		name = strings.TrimSuffix(name, ">")
		i = j + 1
		if (name == "script" || name == "style") && !strings.HasPrefix(tag, "</") {
			end := strings.Index(strings.ToLower(html[i:]), "</"+name)
			if end < 0 {
				break
			}
			i += end
		}
	}
	return found
}

// TestTemplatesHoldNoText fails when a template holds visible text of its
// own instead of a message from the catalogues.
func TestTemplatesHoldNoText(t *testing.T) {
	n := 0
	walkTemplates(t, nil, func(file, name, html string) {
		n++
		for _, s := range untranslated(html) {
			t.Errorf("%s (%s) holds untranslated text: %q", file, name, s)
		}
	})
	if n == 0 {
		t.Fatal("no templates checked")
	}
}

// TestUntranslatedIsFound holds the check above to what it must find.
func TestUntranslatedIsFound(t *testing.T) {
	for _, tc := range []struct {
		html string
		want int
	}{
		{`<p>Hello</p>`, 1},
		{`<p>` + "\x00" + `</p>`, 0},
		{`<a href="/x" title="Home">` + "\x00" + `</a>`, 1},
		{`<input aria-label="` + "\x00" + `" type="text">`, 0},
		{`<img alt="a dog">`, 1},
		{`<button>` + "\x00" + `</button> · <span>` + "\x00" + `</span>`, 0},
		{`<style>a { color: red }</style>`, 0},
		{`<!-- a comment --><p>&nbsp;</p>`, 0},
		{`<li><a href="#f-` + "\x00" + `">` + "\x00" + `</a></li> Oops`, 1},
	} {
		if got := untranslated(tc.html); len(got) != tc.want {
			t.Errorf("untranslated(%q) = %q, want %d finds", tc.html, got, tc.want)
		}
	}
}

// TestFormats checks numbers and dates in each language's own format,
// from exact decimals (no float, nothing rounded).
func TestFormats(t *testing.T) {
	c, err := newCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 3, 1, 14, 5, 0, 0, time.UTC)
	for _, tc := range []struct {
		lang, amount, want, date, datetime string
	}{
		{"en", "1234567.50", "1,234,567.50", "March 1, 2026", "March 1, 2026 at 14:05 (UTC)"},
		{"es", "1234567.50", "1.234.567,50", "1 de marzo de 2026", "1 de marzo de 2026, 14:05 (UTC)"},
		{"fr", "1234567.50", "1\u202f234\u202f567,50", "1 mars 2026", "1 mars 2026 à 14:05 (UTC)"},
		{"en", "-0.25", "-0.25", "", ""},
		{"es", "1234", "1234", "", ""},
		{"es", "12345", "12.345", "", ""},
		{"fr", "1234", "1\u202f234", "", ""},
		{"en", "99999999999999999999.123456789", "99,999,999,999,999,999,999.123456789", "", ""},
	} {
		l := c.langs[tc.lang]
		if got := l.Decimal(decimal.RequireFromString(tc.amount)); got != tc.want {
			t.Errorf("%s: Decimal(%s) = %q, want %q", tc.lang, tc.amount, got, tc.want)
		}
		if tc.date != "" {
			if got := l.Date(day); got != tc.date {
				t.Errorf("%s: Date = %q, want %q", tc.lang, got, tc.date)
			}
			if got := l.DateTime(day); got != tc.datetime {
				t.Errorf("%s: DateTime = %q, want %q", tc.lang, got, tc.datetime)
			}
		}
	}
	en := c.langs["en"]
	// In an organization's zone, a time is shown there, its zone named
	// (Mexico City was 6 hours behind UTC on that day): the day too.
	mx, err := time.LoadLocation("America/Mexico_City")
	if err != nil {
		t.Fatal(err)
	}
	late := time.Date(2026, 3, 2, 3, 30, 0, 0, time.UTC)
	if got, want := c.langs["es"].InZone(mx).DateTime(late), "1 de marzo de 2026, 21:30 (America/Mexico_City)"; got != want {
		t.Errorf("DateTime in Mexico City = %q, want %q", got, want)
	}
	if got, want := c.langs["es"].InZone(mx).Date(late), "1 de marzo de 2026"; got != want {
		t.Errorf("Date in Mexico City = %q, want %q: the day of an instant is the zone's", got, want)
	}
	// A day that is not an instant (a due date, read as midnight UTC)
	// stays the day it is in every zone.
	due := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	if got, want := c.langs["es"].InZone(mx).Day(due), "2 de marzo de 2026"; got != want {
		t.Errorf("Day in Mexico City = %q, want %q", got, want)
	}
	if got := c.langs["es"].DateTime(late); got != "2 de marzo de 2026, 03:30 (UTC)" {
		t.Errorf("the catalogue's language changed with a request's zone: %q", got)
	}
	if got := en.Fixed(decimal.RequireFromString("2.5"), 2); got != "2.50" {
		t.Errorf("Fixed(2.5, 2) = %q", got)
	}
	if got := en.Fixed(decimal.RequireFromString("2.125"), 2); got != "2.125" {
		t.Errorf("Fixed(2.125, 2) = %q: an amount is never rounded", got)
	}
	// Plurals follow each language's rules: French counts 0 as one.
	for _, tc := range []struct {
		lang string
		n    int
		want string
	}{
		{"en", 1, "1 thing to correct"}, {"en", 0, "0 things to correct"}, {"en", 2, "2 things to correct"},
		{"es", 1, "1 cosa por corregir"}, {"es", 3, "3 cosas por corregir"},
		{"fr", 0, "0 point à corriger"}, {"fr", 1, "1 point à corriger"}, {"fr", 2, "2 points à corriger"},
	} {
		if got := c.langs[tc.lang].N("form.errors", tc.n); got != tc.want {
			t.Errorf("%s: N(form.errors, %d) = %q, want %q", tc.lang, tc.n, got, tc.want)
		}
	}
}

func TestCatalogueKeysSorted(t *testing.T) {
	// Not an order rule: a guard that the catalogues are not empty.
	for _, tag := range Languages {
		ids := catalogueEntries(t, tag.String())
		keys := make([]string, 0, len(ids))
		for k := range ids {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if len(keys) < 50 {
			t.Errorf("%s.json has only %d messages", tag, len(keys))
		}
	}
}

// notificationKinds reads the kinds of notification the schema allows from
// the last migration that writes the notifications_kind constraint.
func notificationKinds(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../schema/migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations found: %v", err)
	}
	sort.Strings(files)
	check := regexp.MustCompile(`(?s)CONSTRAINT notifications_kind CHECK \(kind IN \((.*?)\)\)`)
	var list string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if m := check.FindAllSubmatch(b, -1); m != nil {
			list = string(m[len(m)-1][1])
		}
	}
	kinds := regexp.MustCompile(`'([a-z_]+)'`).FindAllStringSubmatch(list, -1)
	if len(kinds) == 0 {
		t.Fatal("no notifications_kind constraint found in the migrations")
	}
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = k[1]
	}
	return out
}
