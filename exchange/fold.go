package exchange

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Text search compares folded words: lower case, with accents and other
// combining marks removed, so that "Niños", "NIÑOS" and "ninos" are one
// word. The folding is done here, in Go, for the stored words and the
// searched ones alike, so PostgreSQL and CockroachDB compare the same bytes
// (neither needs unaccent, an extension CockroachDB lacks).
//
// The marks are found by Unicode's canonical decomposition (NFD, from
// golang.org/x/text/unicode/norm, already in the module graph through pgx):
// a hand table of accented letters would miss most of the world's scripts.
// Letters that carry their stroke or ligature in the base character and so
// do not decompose are folded by the small table below.

// foldExtra folds letters that NFD does not decompose.
var foldExtra = map[rune]string{
	'ß': "ss", 'æ': "ae", 'œ': "oe", 'ø': "o", 'ł': "l", 'đ': "d", 'ð': "d", 'þ': "th", 'ı': "i",
}

// maxWordBytes is the longest word kept; longer ones are cut (at a rune
// boundary) for the text and the query alike.
const maxWordBytes = 64

// fold returns s lower-cased, without combining marks.
func fold(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range norm.NFD.String(strings.ToLower(s)) {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		if x, ok := foldExtra[r]; ok {
			b.WriteString(x)
			continue
		}
		b.WriteRune(r)
	}
	return norm.NFC.String(b.String())
}

// words returns the folded words of s in order, duplicates kept: the runs
// of letters and digits, each cut to maxWordBytes.
func words(s string) []string {
	f := strings.FieldsFunc(fold(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	for i, w := range f {
		if len(w) > maxWordBytes {
			cut := maxWordBytes
			for cut > 0 && !utf8.RuneStart(w[cut]) {
				cut--
			}
			f[i] = w[:cut]
		}
	}
	return f
}
