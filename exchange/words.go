package exchange

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mutual-ledger/mutual/internal/pgtx"
)

// wordsVersion is the version of how listing words are made (fold, words,
// the weights). A listing whose listings.words_version is older is indexed
// again by IndexListingWords; change it whenever folding or weighing
// changes.
const wordsVersion = 1

// The weight of a word by the field it comes from: a word in the title says
// most about a listing, one in the description least.
const (
	weightDescription = 1
	weightCategory    = 2
	weightTag         = 3
	weightTitle       = 4
)

// listingWords returns the folded words of a listing with the weight of the
// most telling field each appears in, and the searchable text (every folded
// word once, in the order met, title first) kept in listings.search_text.
func listingWords(l Listing, categoryName string) (map[string]int64, string) {
	ws := make(map[string]int64)
	var order []string
	add := func(text string, weight int64) {
		for _, w := range words(text) {
			old, seen := ws[w]
			if !seen {
				order = append(order, w)
			}
			if weight > old {
				ws[w] = weight
			}
		}
	}
	add(l.Title, weightTitle)
	for _, t := range l.Tags {
		add(t, weightTag)
	}
	add(categoryName, weightCategory)
	add(l.Description, weightDescription)
	return ws, strings.Join(order, " ")
}

// writeListingWords (re)writes the words of listings ls in tx, with the
// names of their categories, and marks them indexed with wordsVersion: four
// statements however many listings, so that indexing a city's listings at
// start takes seconds.
func writeListingWords(ctx context.Context, tx *pgtx.Tx, ls ...Listing) error {
	if len(ls) == 0 {
		return nil
	}
	names := make(map[string]string)
	rows, err := tx.Query(ctx, `SELECT code, name FROM categories`)
	if err != nil {
		return err
	}
	var code, name string
	if _, err := pgx.ForEachRow(rows, []any{&code, &name}, func() error { names[code] = name; return nil }); err != nil {
		return err
	}
	ids := make([]uuid.UUID, len(ls))
	texts := make([]string, len(ls))
	var byWord [][]byte
	var owners []uuid.UUID
	var weights []int64
	var lats, lons []float64
	for i, l := range ls {
		ws, text := listingWords(l, names[l.Category])
		ids[i], texts[i] = l.ID, text
		for w, weight := range ws {
			byWord = append(byWord, []byte(w))
			owners = append(owners, l.ID)
			weights = append(weights, weight)
			lats, lons = append(lats, l.Place.Lat), append(lons, l.Place.Lon)
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM listing_words WHERE listing_id = ANY($1)`, ids); err != nil {
		return err
	}
	if len(byWord) > 0 {
		if _, err := tx.Exec(ctx, `
INSERT INTO listing_words (word, listing_id, weight, lat, lon)
SELECT w, id, n, lat, lon FROM unnest($1::BYTEA[], $2::UUID[], $3::BIGINT[], $4::FLOAT8[], $5::FLOAT8[]) AS t (w, id, n, lat, lon)`,
			byWord, owners, weights, lats, lons); err != nil {
			return err
		}
	}
	_, err = tx.Exec(ctx, `
UPDATE listings SET search_text = t.text, words_version = $3
FROM unnest($1::UUID[], $2::TEXT[]) AS t (id, text) WHERE listings.id = t.id`, ids, texts, wordsVersion)
	return err
}

// indexBatch is how many listings IndexListingWords indexes in one
// transaction.
const indexBatch = 500

// IndexListingWords indexes for text search every listing indexed with an
// older version of the words than this program's (listings posted before
// the words existed, or before folding changed), a batch per transaction,
// and returns how many it indexed. The server runs it when it starts; a
// listing posted meanwhile is indexed when it is written, and indexing one
// twice writes the same words.
func (s *Store) IndexListingWords(ctx context.Context) (int, error) {
	total := 0
	// Walk the listings in id order, each batch after the last one, so
	// that no batch scans again the rows the ones before indexed.
	after := uuid.Nil
	for {
		n, last := 0, after
		err := s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
			rows, err := tx.Query(ctx, `
SELECT `+listingColumns+` FROM listings l WHERE l.id > $2 AND l.words_version < $3 ORDER BY l.id LIMIT $4 FOR UPDATE`,
				s.clock(), after, wordsVersion, indexBatch)
			if err != nil {
				return err
			}
			ls, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Listing, error) { return scanListing(r) })
			if err != nil {
				return err
			}
			if err := loadTags(ctx, tx, ls); err != nil {
				return err
			}
			if n = len(ls); n > 0 {
				last = ls[n-1].ID
			}
			return writeListingWords(ctx, tx, ls...)
		})
		if err != nil {
			return total, err
		}
		total, after = total+n, last
		if n < indexBatch {
			return total, nil
		}
	}
}

// searchTerm is one word of a search: the folded word, and the bound just
// past every word it is a prefix of (the word followed by the byte 0xFF,
// which no UTF-8 text holds).
type searchTerm struct {
	word, upper []byte
	// begun lists the indexed words the term begins (itself included when
	// indexed), once termStats has found them few (wordLimits.begun); nil
	// otherwise. Probes then read the primary key at each (probeSQL).
	begun [][]byte
}

// searchTerms folds a search's text into its distinct words, at most
// maxSearchWords of them, in at most maxSearchText characters.
func searchTerms(text string) ([]searchTerm, error) {
	if utf8.RuneCountInString(text) > maxSearchText || !utf8.ValidString(text) {
		return nil, invalid("text", "search text must be valid text of at most %d characters", maxSearchText)
	}
	ws := words(text)
	if len(ws) > maxSearchWords {
		return nil, invalid("text", "search text has at most %d words, not %d", maxSearchWords, len(ws))
	}
	var out []searchTerm
	seen := map[string]bool{}
	for _, w := range ws {
		if seen[w] {
			continue
		}
		seen[w] = true
		out = append(out, searchTerm{word: []byte(w), upper: append([]byte(w), 0xFF)})
	}
	return out, nil
}

// termsClause is the text filter of a search: each term a prefix of some
// word of the listing. Text without a word (only punctuation) finds
// nothing.
func termsClause(terms []searchTerm, arg func(any) string) []string {
	if len(terms) == 0 {
		return []string{"FALSE"}
	}
	var where []string
	for _, t := range terms {
		where = append(where, "l.id IN (SELECT w.listing_id FROM listing_words w WHERE w.word >= "+arg(t.word)+" AND w.word < "+arg(t.upper)+")")
	}
	return where
}
