package httpapi

import (
	"net/http"
	"net/url"
	"strconv"
	"unicode/utf8"
)

// The one rule for text people read (names, titles, memos, notes, tags,
// metadata values, query parameters): it is valid UTF-8 and holds none of
// the characters that can make it lie about itself when shown, stored or
// logged. Request fields say which rule they follow with the validator tags
// `line` (one-line text: names, titles, codes) and `text` (text that may run
// over several lines: descriptions, memos, notes); query parameters follow
// `line`, checked once in routeHandler before any endpoint runs. Migration
// 0012 holds the database to the same rule.
//
// Refused everywhere:
//   - NUL and every other C0 control, DEL and the C1 controls
//     (U+0080–U+009F): bells, terminal escape sequences (ESC), and bytes that
//     old terminals take for controls;
//   - the bidirectional embeddings, overrides (U+202A–U+202E) and isolates
//     (U+2066–U+2069), which reorder what is shown so that a listing's title
//     can read differently from what it holds ("Trojan Source");
//   - invisible characters that serve no purpose in these texts and can
//     hide or join words: the zero-width space U+200B, the line and
//     paragraph separators U+2028/U+2029 (line breaks that JavaScript and
//     many logs do not expect), the word joiner and invisible operators
//     U+2060–U+2064, the deprecated format characters U+206A–U+206F, the
//     byte-order mark U+FEFF and the interlinear annotations U+FFF9–U+FFFB.
//
// Allowed although invisible: the zero-width (non-)joiners U+200C/U+200D,
// which Persian, the Indic scripts and emoji sequences need, and the
// direction marks U+200E, U+200F and U+061C, which right-to-left writing
// uses and which, unlike the overrides, reorder nothing beyond themselves.
// Multi-line text may also hold tab, line feed and carriage return.

// unsafeRune reports whether r is refused in text; multiline allows tab,
// line feed and carriage return.
func unsafeRune(r rune, multiline bool) bool {
	switch {
	case r < 0x20:
		return !multiline || (r != '\t' && r != '\n' && r != '\r')
	case r < 0x7f:
		return false
	case r <= 0x9f: // DEL and the C1 controls
		return true
	case r < 0x200b:
		return false
	}
	switch {
	case r == 0x200b, r == 0x2028, r == 0x2029,
		0x202a <= r && r <= 0x202e,
		0x2060 <= r && r <= 0x2064,
		0x2066 <= r && r <= 0x206f,
		r == 0xfeff,
		0xfff9 <= r && r <= 0xfffb:
		return true
	}
	return false
}

// safeText reports whether s is valid UTF-8 without a refused character.
func safeText(s string, multiline bool) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				if !multiline || (c != '\t' && c != '\n' && c != '\r') {
					return false
				}
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return false
		}
		if unsafeRune(r, multiline) {
			return false
		}
		i += size
	}
	return true
}

// textRuleMessage says why a field broke the line or text rule.
func textRuleMessage(name, tag string) string {
	if tag == "line" {
		return name + " must be one line of text, without control, bidirectional-override or invisible format characters"
	}
	return name + " must be text without control characters (line breaks and tabs are allowed), bidirectional overrides or invisible format characters"
}

// checkQuery refuses a request whose query string is malformed, or one of
// whose parameters (names or values) is not valid UTF-8 or holds a
// character the line rule refuses: 400 malformed-request naming the
// parameter. It runs before every endpoint, so that no text parameter
// reaches the database (which refuses NUL and invalid UTF-8 with an error
// that would otherwise be a 500) or a log with a control in it.
func checkQuery(r *http.Request) error {
	raw := r.URL.RawQuery
	if raw == "" {
		return nil
	}
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return malformed("", "the query string is malformed: use name=value pairs joined by &, percent-encoded")
	}
	for name, vs := range vals {
		if !safeText(name, false) {
			return malformed(printable(name), "the query parameter %s has a name that is not valid UTF-8 text or holds a control, bidirectional-override or invisible format character", printable(name))
		}
		for _, v := range vs {
			if !safeText(v, false) {
				return malformed(name, "the query parameter %s must be valid UTF-8 text without control, bidirectional-override or invisible format characters", name)
			}
		}
	}
	return nil
}

// printable is s as it may be shown in a problem: itself when it is safe
// one-line text, else quoted with Go's escapes (`"\x00id"`).
func printable(s string) string {
	if safeText(s, false) {
		return s
	}
	return strconv.QuoteToASCII(s)
}
