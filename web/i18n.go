package web

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"github.com/shopspring/decimal"
	"golang.org/x/text/language"
)

// Every visible string of the pages is a message in the catalogues of
// locales/, one JSON file per language (go-i18n's format: an id maps to a
// text, or to its plural forms "one", "many", "other"). A message's text is
// a Go template over its arguments: {{.Name}}, and {{.Count}} for plurals.
// TestCatalogues fails when one catalogue lacks a key another has, when a
// key used by a template or the Go code is missing, and when a template
// holds visible text of its own.

//go:embed locales/*.json
var localeFiles embed.FS

// Languages are the pages' languages, the first the default: the one
// chosen when the browser asks for none of them.
var Languages = []language.Tag{language.English, language.Spanish, language.French}

// langCookie remembers the language chosen with the chooser.
const langCookie = "mutual_lang"

// catalogue is the messages of every language, and the matcher that picks
// one from an Accept-Language header.
type catalogue struct {
	bundle  *i18n.Bundle
	matcher language.Matcher
	langs   map[string]*Lang // by base tag ("en")
}

// newCatalogue loads the embedded catalogues; it fails when one is missing
// or malformed.
func newCatalogue() (*catalogue, error) {
	b := i18n.NewBundle(Languages[0])
	b.RegisterUnmarshalFunc("json", json.Unmarshal)
	c := &catalogue{bundle: b, matcher: language.NewMatcher(Languages), langs: map[string]*Lang{}}
	plain := map[string]map[string]string{}
	for _, tag := range Languages {
		name := "locales/" + tag.String() + ".json"
		buf, err := fs.ReadFile(localeFiles, name)
		if err != nil {
			return nil, fmt.Errorf("web: the %s catalogue: %w", tag, err)
		}
		if _, err := b.ParseMessageFileBytes(buf, path.Base(name)); err != nil {
			return nil, fmt.Errorf("web: the %s catalogue: %w", tag, err)
		}
		// The messages that are plain text (no argument, no plural) read
		// the same every time: they are kept as they are, so that a page
		// does not ask the localizer for each of them (a page shows
		// dozens: the menu, labels, headings).
		var all map[string]any
		if err := json.Unmarshal(buf, &all); err != nil {
			return nil, fmt.Errorf("web: the %s catalogue: %w", tag, err)
		}
		plain[tag.String()] = map[string]string{}
		for id, v := range all {
			if text, ok := v.(string); ok && !strings.Contains(text, "{{") {
				plain[tag.String()][id] = text
			}
		}
	}
	for _, tag := range Languages {
		l := &Lang{Tag: tag, loc: i18n.NewLocalizer(b, tag.String()), plain: plain[tag.String()]}
		l.num = numberFormats[tag.String()]
		c.langs[tag.String()] = l
	}
	return c, nil
}

// choose picks the request's language: the chooser's cookie when it names
// one of ours, else the best match of Accept-Language, else the default.
func (c *catalogue) choose(r *http.Request) *Lang {
	if ck, err := r.Cookie(langCookie); err == nil {
		if l, ok := c.langs[ck.Value]; ok {
			return l
		}
	}
	tags, _, err := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	if err == nil && len(tags) > 0 {
		_, i, conf := c.matcher.Match(tags...)
		if conf != language.No {
			return c.langs[Languages[i].String()]
		}
	}
	return c.langs[Languages[0].String()]
}

// Lang is one language of the pages: its messages and its formats.
type Lang struct {
	Tag language.Tag
	loc *i18n.Localizer
	num numberFormat
	// plain are the catalogue's messages without arguments or plurals,
	// by id, which T returns without the localizer.
	plain map[string]string
	// zone is where times of day are shown (an organization's time zone);
	// nil is UTC.
	zone *time.Location
}

// InZone returns the language showing times of day in zone (a copy: the
// catalogue's languages are shared by every request).
func (l *Lang) InZone(zone *time.Location) *Lang {
	c := *l
	c.zone = zone
	return &c
}

// In returns t in the zone times are shown in.
func (l *Lang) In(t time.Time) time.Time {
	if l.zone == nil {
		return t.UTC()
	}
	return t.In(l.zone)
}

// Location is the zone times are shown and typed in.
func (l *Lang) Location() *time.Location {
	if l.zone == nil {
		return time.UTC
	}
	return l.zone
}

// Zone names the zone times are shown in ("America/Mexico_City", "UTC").
func (l *Lang) Zone() string {
	if l.zone == nil {
		return "UTC"
	}
	return l.zone.String()
}

// Code is the language's code for lang and hreflang attributes ("es").
func (l *Lang) Code() string { return l.Tag.String() }

// T returns the message id in the language, with args as pairs of name
// and value for its template ("Name", "Ana"). A missing message is a bug
// (TestCatalogues catches it); the id itself is shown rather than failing
// the page.
func (l *Lang) T(id string, args ...any) string {
	if s, ok := l.plain[id]; ok {
		return s
	}
	s, err := l.loc.Localize(&i18n.LocalizeConfig{MessageID: id, TemplateData: pairs(args)})
	if err != nil {
		return id
	}
	return s
}

// N returns the message id in the plural form for count, which its
// template also sees as {{.Count}} (formatted for the language).
func (l *Lang) N(id string, count int, args ...any) string {
	data := pairs(args)
	data["Count"] = l.Int(int64(count))
	s, err := l.loc.Localize(&i18n.LocalizeConfig{MessageID: id, PluralCount: count, TemplateData: data})
	if err != nil {
		return id
	}
	return s
}

// Has reports whether the catalogue holds the message id.
func (l *Lang) Has(id string) bool {
	if _, ok := l.plain[id]; ok {
		return true
	}
	_, err := l.loc.Localize(&i18n.LocalizeConfig{MessageID: id})
	return err == nil
}

func pairs(args []any) map[string]any {
	data := make(map[string]any, len(args)/2+1)
	for i := 0; i+1 < len(args); i += 2 {
		if k, ok := args[i].(string); ok {
			data[k] = args[i+1]
		}
	}
	return data
}

// numberFormat is how a language writes numbers (CLDR's symbols).
type numberFormat struct {
	decimal, group string
	// minGroup is the fewest integer digits that get grouped: Spanish
	// writes 1234 but 12 345 (CLDR's minimumGroupingDigits 2).
	minGroup int
}

var numberFormats = map[string]numberFormat{
	"en": {decimal: ".", group: ",", minGroup: 4},
	"es": {decimal: ",", group: ".", minGroup: 5},
	"fr": {decimal: ",", group: "\u202f", minGroup: 4}, // a narrow no-break space
}

// Decimal writes an exact amount in the language's format, with every
// digit it has (an amount of a unit of scale 2 comes with its two
// places): no float is involved, so nothing is rounded.
func (l *Lang) Decimal(d decimal.Decimal) string {
	if e := d.Exponent(); e < 0 {
		// String drops trailing zeros ("2.50" would be "2.5"): the places
		// the amount was given with are kept.
		return l.digits(d.StringFixed(-e))
	}
	return l.digits(d.String())
}

// Fixed writes an amount with exactly places decimals (a unit's scale),
// padding with zeros; an amount with more places is written whole rather
// than rounded.
func (l *Lang) Fixed(d decimal.Decimal, places int32) string {
	if d.Exponent() >= -places {
		return l.digits(d.StringFixed(places))
	}
	return l.Decimal(d)
}

// Int writes a whole number in the language's format.
func (l *Lang) Int(n int64) string { return l.digits(fmt.Sprint(n)) }

// digits regroups a plain "-1234.5" in the language's symbols.
func (l *Lang) digits(s string) string {
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	whole, frac, hasFrac := strings.Cut(s, ".")
	if len(whole) >= l.num.minGroup {
		var b strings.Builder
		for i, c := range whole {
			if i > 0 && (len(whole)-i)%3 == 0 {
				b.WriteString(l.num.group)
			}
			b.WriteRune(c)
		}
		whole = b.String()
	}
	if hasFrac {
		return sign + whole + l.num.decimal + frac
	}
	return sign + whole
}

// Date writes the day instant t falls on in the zone times are shown in,
// in the language's long format ("March 1, 2026", "1 de marzo de 2026",
// "1 mars 2026"): an entry posted at 20:00 in Mexico City is of that day
// there, though it is the next in UTC.
func (l *Lang) Date(t time.Time) string {
	return l.Day(l.In(t))
}

// Day writes a calendar day as t carries it, in whatever zone: for a day
// that is not an instant, such as an obligation's due date.
func (l *Lang) Day(t time.Time) string {
	return l.T("format.date", "Day", t.Day(), "Month", l.T(fmt.Sprintf("month.%d", int(t.Month()))), "Year", t.Year())
}

// DateTime writes a day and a time of day (24-hour clock in every
// language here) in the zone times are shown in, naming it.
func (l *Lang) DateTime(t time.Time) string {
	t = l.In(t)
	return l.T("format.datetime", "Date", l.Day(t), "Time", t.Format("15:04"), "Zone", l.Zone())
}
