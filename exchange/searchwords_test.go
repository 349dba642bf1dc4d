package exchange_test

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
)

// A word search walks a word's listings level by level and stops at the
// page (findWords); this test holds it to the plain definition on random
// listings: every listing the viewer may see that passes the filters and
// holds every word, ranked by the sum of each word's best score computed
// over all of listing_words, then by distance measured from the listing,
// then by id, read through every page. The listings share a small
// vocabulary (accents, prefixes of one another, words of category names),
// eight places (so distances tie), three owners in two organizations and
// both visibilities; some have words written without their place, as a
// server older than migration 0025 wrote them.
func TestFindListingsAgreesWithEveryMatch(t *testing.T) {
	ctx := context.Background()
	w := newListingWorld(t)
	r := rand.New(rand.NewPCG(25, 11))
	vocab := strings.Fields("niños niñas nino cuidado cuida guitarra guitarras clase clases pan panadería jardín jardinería bici bicicleta école ecole care translation tutoring ride")
	cats := []string{"childcare", "food", "language", "education", "elder_care", "transport"}
	var places []exchange.Point
	for i := range 8 {
		places = append(places, exchange.Point{Lat: oaxacaCenter.Lat + float64(i%3)*0.03 - float64(i/3)*0.02, Lon: oaxacaCenter.Lon + float64(i%4)*0.025})
	}
	text := func(lo, hi int) string {
		ws := make([]string, lo+r.IntN(hi-lo+1))
		for i := range ws {
			ws[i] = vocab[r.IntN(len(vocab))]
		}
		return strings.Join(ws, " ")
	}
	var ids []uuid.UUID
	posted := map[uuid.UUID][]string{} // each listing's tags, as posting it returned them
	for range 140 {
		in := w.need()
		in.Title, in.Description, in.Category = text(1, 4), text(0, 8), cats[r.IntN(len(cats))]
		if in.Title == "" {
			in.Title = "x"
		}
		in.Tags = nil
		for range r.IntN(3) {
			in.Tags = append(in.Tags, vocab[r.IntN(len(vocab))])
		}
		in.Place = places[r.IntN(len(places))]
		switch r.IntN(3) {
		case 0:
			in.OrgID, in.Owner = w.montreal.ID, w.cleo.ID
		case 1:
			in.Owner = w.ben.ID
		}
		if r.IntN(2) == 0 {
			in.Kind = exchange.Offer
			in.Urgency = 0
		}
		if r.IntN(3) == 0 {
			in.Visibility = exchange.VisibilityOrg
		}
		l := w.post(t, in)
		ids, posted[l.ID] = append(ids, l.ID), l.Tags
	}
	if _, err := w.pool.Exec(ctx, `UPDATE listing_words SET lat = NULL, lon = NULL WHERE listing_id = ANY($1)`, ids[:15]); err != nil {
		t.Fatal(err)
	}

	viewers := []exchange.Principal{
		{},
		{MemberID: w.ana.ID, Roles: map[uuid.UUID]exchange.Role{w.oaxaca.ID: exchange.RoleMember}},
		{MemberID: w.cleo.ID, Roles: map[uuid.UUID]exchange.Role{w.montreal.ID: exchange.RoleMember}},
	}
	nonEmpty := 0
	for i := range 120 {
		var words []string
		for range 1 + r.IntN(3) {
			v := vocab[r.IntN(len(vocab))]
			switch r.IntN(4) {
			case 0:
				v = strings.ToUpper(v)
			case 1:
				v = string([]rune(v)[:min(len([]rune(v)), 1+r.IntN(4))])
			}
			words = append(words, v)
		}
		if r.IntN(12) == 0 {
			words = append(words, "zzqx") // in no listing
		}
		q := exchange.ListingQuery{Text: strings.Join(words, " ")}
		if r.IntN(2) == 0 {
			q.Near = &places[r.IntN(len(places))]
			if r.IntN(3) == 0 {
				q.RadiusKm = 4
			}
		}
		if r.IntN(4) == 0 {
			q.Kind = exchange.Offer
		}
		pr := viewers[i%len(viewers)]
		if agrees(t, w, pr, q, []int{1, 3, 7, 50}[r.IntN(4)], fmt.Sprintf("viewer %d", i%len(viewers))) {
			nonEmpty++
		}
	}
	if nonEmpty < 60 {
		t.Fatalf("only %d of 120 searches found anything: the test searches too little", nonEmpty)
	}
	// Each result carries the tags its listing was posted with, read in the
	// statement that looks it up.
	tagged := 0
	for _, q := range []exchange.ListingQuery{{Text: "cuidado"}, {Text: "cuidado nino"}, {Text: "gui", Near: &places[0]}, {}} {
		fs, _, err := w.ex.FindListings(ctx, viewers[1], q, nil, exchange.Page{Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			if !slices.Equal(f.Tags, posted[f.ID]) {
				t.Fatalf("query %q: listing %s has tags %q, posted with %q", q.Text, f.ID, f.Tags, posted[f.ID])
			}
			if len(f.Tags) > 0 {
				tagged++
			}
		}
	}
	if tagged < 10 {
		t.Fatalf("only %d results had tags: the test checks too little", tagged)
	}
}

// agrees reads every page of FindListings for q as pr sees it, limit
// listings a page, and fails unless they are everyMatch's, in its order,
// with its relevance and distance; it reports whether any listing matched.
func agrees(t *testing.T, w listingWorld, pr exchange.Principal, q exchange.ListingQuery, limit int, label string) bool {
	t.Helper()
	ctx := context.Background()
	want := everyMatch(t, w, pr, q)
	var got []exchange.Found
	var after *exchange.SearchCursor
	for page := 0; ; page++ {
		fs, next, err := w.ex.FindListings(ctx, pr, q, after, exchange.Page{Limit: limit})
		if err != nil {
			t.Fatalf("FindListings(%+v): %v", q, err)
		}
		got = append(got, fs...)
		if next == nil {
			break
		}
		if page > len(want) {
			t.Fatalf("query %q: pages without end", q.Text)
		}
		after = next
	}
	if len(got) != len(want) {
		t.Fatalf("query %q near %v kind %q %s, pages of %d: %d found, %d match\n got %v\nwant %v",
			q.Text, q.Near, q.Kind, label, limit, len(got), len(want), summary(got), summary(want))
	}
	for j := range got {
		g, m := got[j], want[j]
		if g.ID != m.ID || g.Relevance != m.Relevance || (q.Near != nil) != (g.Km != nil) || g.Km != nil && *g.Km != *m.Km ||
			!slices.Equal(g.Tags, m.Tags) || g.Title != m.Title {
			t.Fatalf("query %q near %v kind %q %s, pages of %d: result %d differs\n got %v\nwant %v",
				q.Text, q.Near, q.Kind, label, limit, j, summary(got), summary(want))
		}
	}
	return len(want) > 0
}

// A search whose rarest word is rare reads it whole and learns the other
// words' scores in Go, probing a common word in a few listings or reading
// it a weight at a time (findRare); one of common words only is walked
// level by level in SQL. This test holds every way to the plain
// definition on listings whose words follow Zipf's law, as a city's do,
// for several seeds, with the limits lowered so that a few hundred
// listings hold common words (over a hundred rows each) and rare ones:
// searches of a rare and a common word (whole or begun), of two common
// ones, of three, near a point or not, read through every page.
func TestFindListingsAgreesAcrossWays(t *testing.T) {
	pairs := 0
	defer func() {
		if pairs == 0 && !t.Failed() {
			t.Error("no search's page was found by findPair: the test does not reach it")
		}
	}()
	for _, seed := range []uint64{1, 2, 3, 4} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			ctx := context.Background()
			w := newListingWorld(t)
			w.ex.TuneWordSearch(40, 5, 0)
			r := rand.New(rand.NewPCG(seed, 18))
			vocab := strings.Fields("niños cuidado clases mañana pan guitarra bici jardín école dance meals cat niñas nino cuida " +
				"guitarras clase panadería jardinería bicicleta ecole care translation tutoring ride manana catálogo danza duvima gacito")
			zipf := rand.NewZipf(r, 1.1, 1, uint64(len(vocab)-1))
			text := func(lo, hi int) string {
				ws := make([]string, lo+r.IntN(hi-lo+1))
				for i := range ws {
					ws[i] = vocab[zipf.Uint64()]
				}
				return strings.Join(ws, " ")
			}
			cats := []string{"childcare", "food", "language", "education", "elder_care", "transport"}
			var places []exchange.Point
			for i := range 6 {
				places = append(places, exchange.Point{Lat: oaxacaCenter.Lat + float64(i%3)*0.03, Lon: oaxacaCenter.Lon + float64(i%2)*0.025})
			}
			var ids []uuid.UUID
			for range 160 {
				in := w.need()
				in.Title, in.Description, in.Category = text(1, 4), text(0, 10), cats[r.IntN(len(cats))]
				if in.Title == "" {
					in.Title = "x"
				}
				in.Tags = nil
				for range r.IntN(3) {
					in.Tags = append(in.Tags, vocab[r.IntN(len(vocab))])
				}
				in.Place = places[r.IntN(len(places))]
				if r.IntN(3) == 0 {
					in.OrgID, in.Owner = w.montreal.ID, w.cleo.ID
				}
				if r.IntN(3) == 0 {
					in.Visibility = exchange.VisibilityOrg
				}
				ids = append(ids, w.post(t, in).ID)
			}
			if _, err := w.pool.Exec(ctx, `UPDATE listing_words SET lat = NULL, lon = NULL WHERE listing_id = ANY($1)`, ids[:8]); err != nil {
				t.Fatal(err)
			}
			viewers := []exchange.Principal{{}, {MemberID: w.ana.ID, Roles: map[uuid.UUID]exchange.Role{w.oaxaca.ID: exchange.RoleMember}}}
			typed := func(v string) string {
				switch r.IntN(4) {
				case 0:
					return strings.ToUpper(v)
				case 1:
					return string([]rune(v)[:min(len([]rune(v)), 2+r.IntN(3))])
				}
				return v
			}
			nonEmpty, top, pairs0 := 0, 0, pairs
			for i := range 50 {
				common, rare := vocab[zipf.Uint64()%6], vocab[6+r.IntN(len(vocab)-6)]
				words := []string{typed(rare), typed(common)}
				switch r.IntN(5) {
				case 0:
					words[0] = typed(vocab[zipf.Uint64()%6])
				case 1:
					words = append(words, typed(vocab[r.IntN(len(vocab))]))
				}
				q := exchange.ListingQuery{Text: strings.Join(words, " ")}
				if r.IntN(2) == 0 {
					q.Near = &places[r.IntN(len(places))]
					if r.IntN(4) == 0 {
						q.RadiusKm = 3
					}
				}
				limit := []int{2, 5, 50}[r.IntN(3)]
				// Every other search probes the (listing_id, ...) index
				// whatever the words its terms begin (see probeSQL).
				begun := []int{4, 0}[i/2%2]
				w.ex.TuneBegun(begun)
				if agrees(t, w, viewers[i%2], q, limit, fmt.Sprintf("viewer %d, begun up to %d", i%2, begun)) {
					nonEmpty++
				}
				// Again with a rare driver's listings probed for the other
				// words as the driver is read (findRare's joined way).
				w.ex.TuneWordSearch(40, 5, 40)
				agrees(t, w, viewers[i%2], q, limit, fmt.Sprintf("viewer %d, joined", i%2))
				w.ex.TuneWordSearch(40, 5, 0)
				if firstAgrees(t, w, viewers[i%2], q, limit, false) {
					top++
				}
				if firstAgrees(t, w, viewers[i%2], q, limit, true) {
					pairs++
				}
				// Pages that end where a relevance ends, or one listing
				// into the next: where a bound one too low or too high
				// shows.
				want := everyMatch(t, w, viewers[i%2], q)
				for j := 1; j+1 < len(want); j++ {
					if want[j].Relevance != want[j+1].Relevance {
						for _, pair := range []bool{false, true} {
							firstAgrees(t, w, viewers[i%2], q, j, pair)
							firstAgrees(t, w, viewers[i%2], q, j+1, pair)
						}
					}
				}
			}
			if nonEmpty < 30 {
				t.Fatalf("only %d of 50 searches found anything: the test searches too little", nonEmpty)
			}
			if top == 0 {
				t.Fatal("no search's page was found by findTop alone: the test does not reach it")
			}
			t.Logf("pages found by findTop %d, by findPair %d", top, pairs-pairs0)
		})
	}
}

// firstAgrees holds the first steps of a search whose words are all
// common, findTop (or findPair when pair is set), to everyMatch when they
// say they found the first page: the first limit+1 listings of the
// definition, in its order. It reports whether they found the page.
func firstAgrees(t *testing.T, w listingWorld, pr exchange.Principal, q exchange.ListingQuery, limit int, pair bool) bool {
	t.Helper()
	got, done, err := w.ex.FindFirst(context.Background(), pr, q, limit, pair)
	if err != nil {
		t.Fatalf("FindFirst(%+v, pair %v): %v", q, pair, err)
	}
	if !done {
		return false
	}
	want := everyMatch(t, w, pr, q)
	want = want[:min(len(want), limit+1)]
	if len(got) != len(want) {
		t.Fatalf("query %q near %v, page of %d, pair %v: found %d, %d match\n got %v\nwant %v",
			q.Text, q.Near, limit, pair, len(got), len(want), summary(got), summary(want))
	}
	for j := range got {
		g, m := got[j], want[j]
		if g.ID != m.ID || g.Relevance != m.Relevance || (q.Near != nil) != (g.Km != nil) || g.Km != nil && *g.Km != *m.Km {
			t.Fatalf("query %q near %v, page of %d, pair %v: result %d differs\n got %v\nwant %v",
				q.Text, q.Near, limit, pair, j, summary(got), summary(want))
		}
	}
	return true
}

// everyMatch is the definition FindListings must agree with: the listings
// SearchListings lets pr see for q (each word begun by a word of theirs),
// each ranked by its words' best scores, summed, over every row of
// listing_words, and by its distance from q's point, computed by the
// database from the listing.
func everyMatch(t *testing.T, w listingWorld, pr exchange.Principal, q exchange.ListingQuery) []exchange.Found {
	t.Helper()
	ctx := context.Background()
	plain := q
	if plain.Near != nil && plain.RadiusKm == 0 {
		plain.Near = nil
	}
	var seen []exchange.Listing
	page := exchange.Page{Limit: exchange.MaxLimit}
	for {
		ls, next, err := w.ex.SearchListings(ctx, pr, plain, page)
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, ls...)
		if next == uuid.Nil {
			break
		}
		page.After = next
	}
	words, uppers, err := exchange.SearchWords(q.Text)
	if err != nil {
		t.Fatal(err)
	}
	relevance := map[uuid.UUID]int64{}
	for i := range words {
		rows, err := w.pool.Query(ctx, `
SELECT listing_id, max(weight * CASE WHEN word = $1 THEN 2 ELSE 1 END) FROM listing_words
WHERE word >= $1 AND word < $2 GROUP BY listing_id`, words[i], uppers[i])
		if err != nil {
			t.Fatal(err)
		}
		var id uuid.UUID
		var best int64
		for rows.Next() {
			if err := rows.Scan(&id, &best); err != nil {
				t.Fatal(err)
			}
			relevance[id] += best
		}
		if rows.Err() != nil {
			t.Fatal(rows.Err())
		}
	}
	out := make([]exchange.Found, len(seen))
	for i, l := range seen {
		out[i] = exchange.Found{Listing: l, Relevance: relevance[l.ID]}
		if q.Near != nil {
			var km float64
			if err := w.pool.QueryRow(ctx, `
SELECT 2 * 6371.0 * asin(sqrt(least(1.0, power(sin(radians(lat - $2::FLOAT8) / 2), 2)
  + cos(radians($2::FLOAT8)) * cos(radians(lat)) * power(sin(radians(lon - $3::FLOAT8) / 2), 2))))
FROM listings WHERE id = $1`, l.ID, q.Near.Lat, q.Near.Lon).Scan(&km); err != nil {
				t.Fatal(err)
			}
			out[i].Km = &km
		}
	}
	slices.SortFunc(out, func(a, b exchange.Found) int {
		if c := cmp.Compare(b.Relevance, a.Relevance); c != 0 {
			return c
		}
		if a.Km != nil {
			if c := cmp.Compare(*a.Km, *b.Km); c != 0 {
				return c
			}
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})
	return out
}

func summary(fs []exchange.Found) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "[%s r%d", f.ID.String()[:8], f.Relevance)
		if f.Km != nil {
			fmt.Fprintf(&b, " %.3fkm", *f.Km)
		}
		b.WriteString("] ")
	}
	return b.String()
}

// TestWordsBegun: in a search of several words, termStats lists the
// indexed words a term begins, in the index's order, when they are at most
// wordLimits.begun, so that probes read the primary key at each; with
// more, or none, or for a search of one word, it lists none.
func TestWordsBegun(t *testing.T) {
	ctx := context.Background()
	w := newListingWorld(t)
	for _, text := range [][2]string{{"Niños", "cuidado por la tarde"}, {"niñas", "ninja"}, {"Nino", ""}, {"nicho", "x"}} {
		in := w.need()
		in.Title, in.Description, in.Tags = text[0], text[1], nil
		w.post(t, in)
	}
	for _, c := range []struct {
		text  string
		begun int
		want  [][]string
	}{
		{"nin cuidado", 4, [][]string{{"ninas", "ninja", "nino", "ninos"}, {"cuidado"}}},
		{"NIÑO tarde", 4, [][]string{{"nino", "ninos"}, {"tarde"}}},
		{"ni tarde", 4, [][]string{nil, {"tarde"}}},     // five words
		{"nin tarde", 3, [][]string{nil, {"tarde"}}},    // four, more than three
		{"nin tarde", 0, [][]string{nil, nil}},          // never
		{"zapato tarde", 4, [][]string{nil, {"tarde"}}}, // none
		{"nin", 4, [][]string{nil}},                     // a search of one word
	} {
		w.ex.TuneBegun(c.begun)
		got, err := w.ex.WordsBegun(ctx, c.text)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("WordsBegun(%q) up to %d = %v, want %v", c.text, c.begun, got, c.want)
		}
	}
}
