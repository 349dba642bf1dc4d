package exchange_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mutual-ledger/mutual/exchange"
)

// BenchmarkRareCommon compares, on one corpus of 100,000 listings (the
// vocabulary and word frequencies of httpapi's BenchmarkSearch100k),
// the two ways findRare learns a common word's scores in a rare word's
// listings: read a weight or probe a few listings at a time after the
// rare word's rows ("apart"), or probe every listing of the rare word in
// the statement that reads its rows ("joined"). Each search of one rare
// and one common word runs both ways, in alternating order, so that load
// and warm pages weigh on both alike; it reports the PostgreSQL backends'
// CPU and this process's CPU per search, and the p50/p99 of each search's
// time (in process, without HTTP).
//
//	go test -run '^$' -bench RareCommon -benchtime 1x ./exchange/
func BenchmarkRareCommon(b *testing.B) {
	ctx := context.Background()
	w := newListingWorld(b)
	cats, err := w.ex.Categories(ctx, exchange.Principal{})
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(11, 12))
	syllables := strings.Fields("ba be bi bo bu ca ce ci co cu da de di do du fa fe fi fo ga go la le li lo lu ma me mi mo mu na ne ni no ña ño pa pe pi po ra re ri ro sa se si so ta te ti to tu va ve vi za zo é è ç ü")
	vocab := strings.Fields("de la el y en con para por los las un una et le les pour avec the and for with niños cuidado tarde guitarra clínica école kids cat meals bread")
	seen := map[string]bool{}
	for len(vocab) < 3000 {
		var sb strings.Builder
		for range 2 + r.IntN(3) {
			sb.WriteString(syllables[r.IntN(len(syllables))])
		}
		if s := sb.String(); !seen[s] {
			seen[s] = true
			vocab = append(vocab, s)
		}
	}
	zipf := rand.NewZipf(r, 1.1, 1, uint64(len(vocab)-1))
	text := func(n int) string {
		ws := make([]string, n)
		for i := range ws {
			ws[i] = vocab[zipf.Uint64()]
		}
		return strings.Join(ws, " ")
	}
	now := w.clock.Now()
	rows := make([][]any, 100_000)
	for i := range rows {
		title := []rune(text(2 + r.IntN(4)))
		title[0] = unicode.ToUpper(title[0])
		rows[i] = []any{uuid.New(), w.oaxaca.ID, w.ana.ID, "offer", string(title), text(10 + r.IntN(30)),
			cats[r.IntN(len(cats))].Code, int64(2), "HOUR", oaxacaCenter.Lat + r.NormFloat64()*0.08, oaxacaCenter.Lon + r.NormFloat64()*0.1,
			"", "", int64(0), "public", "open", "", now, now, "UTC", int64(0)}
	}
	cols := []string{"id", "org_id", "owner_member", "kind", "title", "description", "category", "quantity", "unit",
		"lat", "lon", "city", "neighborhood", "urgency", "visibility", "status", "search_text", "created_at", "updated_at",
		"time_zone", "words_version"}
	if _, err := w.pool.CopyFrom(ctx, pgx.Identifier{"listings"}, cols, pgx.CopyFromRows(rows)); err != nil {
		b.Fatal(err)
	}
	if _, err := w.ex.IndexListingWords(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := w.pool.Exec(ctx, `VACUUM ANALYZE`); err != nil {
		b.Fatal(err)
	}
	// Searches of one rare word (fewer than 3,000 rows) and one common.
	count := func(s string) int64 {
		ws, us, err := exchange.SearchWords(s)
		if err != nil || len(ws) != 1 {
			b.Fatalf("SearchWords(%q) = %v, %v", s, ws, err)
		}
		var n int64
		if err := w.pool.QueryRow(ctx, `SELECT count(*) FROM listing_words WHERE word >= $1 AND word < $2`, ws[0], us[0]).Scan(&n); err != nil {
			b.Fatal(err)
		}
		return n
	}
	var queries []string
	for len(queries) < 200 {
		a, c := vocab[20+zipf.Uint64()%uint64(len(vocab)-20)], vocab[20+zipf.Uint64()%uint64(len(vocab)-20)]
		na, nc := count(a), count(c)
		if a != c && min(na, nc) > 0 && min(na, nc) < 3000 && max(na, nc) >= 3000 {
			queries = append(queries, a+" "+c)
		}
	}
	viewer := exchange.Principal{MemberID: w.ben.ID, Roles: map[uuid.UUID]exchange.Role{w.oaxaca.ID: exchange.RoleMember}}
	ways := []struct {
		name string
		join int64
	}{{"apart", 0}, {"joined", 3000}}
	type tally struct {
		db, self int64
		took     []time.Duration
	}
	got := make([]tally, len(ways))
	for b.Loop() {
		for i, q := range queries {
			var pages [2]string
			for k := range ways {
				way := (i + k) % 2 // alternate which way runs first
				w.ex.TuneWordSearch(3000, 64, ways[way].join)
				db0, self0, t0 := backendCPU(b, w.env), selfCPU(), time.Now()
				page, _, err := w.ex.FindListings(ctx, viewer, exchange.ListingQuery{Text: q}, nil, exchange.Page{Limit: 20})
				took := time.Since(t0)
				if err != nil {
					b.Fatal(err)
				}
				got[way].db += backendCPU(b, w.env) - db0
				got[way].self += selfCPU() - self0
				got[way].took = append(got[way].took, took)
				for _, f := range page {
					pages[way] += fmt.Sprint(f.ID, f.Relevance, " ")
				}
			}
			if pages[0] != pages[1] {
				b.Fatalf("%q: the two ways found different pages", q)
			}
		}
	}
	for k, g := range got {
		n := int64(len(g.took))
		slices.Sort(g.took)
		b.Logf("%s: %d searches, db-cpu %.2f ms/search, go-cpu %.2f ms/search, p50 %.2f ms, p99 %.2f ms", ways[k].name, n,
			float64(g.db)/1e6/float64(n), float64(g.self)/1e6/float64(n),
			float64(g.took[n/2].Microseconds())/1000, float64(g.took[(n*99+99)/100-1].Microseconds())/1000)
	}
}
