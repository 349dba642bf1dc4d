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
	counts := map[string]int64{}
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
		counts[a], counts[c] = na, nc
		if a != c && min(na, nc) > 0 && min(na, nc) < 3000 && max(na, nc) >= 3000 {
			queries = append(queries, a+" "+c)
		}
	}
	rareRows := func(q string) int64 {
		ws := strings.Fields(q)
		return min(counts[ws[0]], counts[ws[1]])
	}
	// The joined statement's plan as a generic plan (what a prepared
	// statement gets after five runs), for the first search: each probe
	// must be a read of the probe index at one listing.
	{
		first := queries[0]
		if ws := strings.Fields(first); counts[ws[0]] > counts[ws[1]] {
			first = ws[1] + " " + ws[0] // the rare word first
		}
		sql, args, err := exchange.RareStatement(first)
		if err != nil {
			b.Fatal(err)
		}
		conn, err := w.pool.Acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := conn.Exec(ctx, `SET plan_cache_mode = force_generic_plan`); err != nil {
			b.Fatal(err)
		}
		rows, err := conn.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+sql, args...)
		if err != nil {
			b.Fatal(err)
		}
		plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("%q, generic plan:\n%s", queries[0], strings.Join(plan, "\n"))
		if _, err := conn.Exec(ctx, `RESET plan_cache_mode`); err != nil {
			b.Fatal(err)
		}
		conn.Release()
	}
	viewer := exchange.Principal{MemberID: w.ben.ID, Roles: map[uuid.UUID]exchange.Role{w.oaxaca.ID: exchange.RoleMember}}
	ways := []struct {
		name string
		join int64
	}{{"apart", 0}, {"joined up to 1,000 rows", 1000}, {"joined", 3000}}
	type tally struct {
		db, self int64
		took     []time.Duration
		slow     []string
	}
	got := make([]tally, len(ways))
	for b.Loop() {
		for i, q := range queries {
			var pages [3]string
			for k := range ways {
				way := (i + k) % len(ways) // rotate which way runs first
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
				got[way].slow = append(got[way].slow, fmt.Sprintf("%09d %q rare word's rows %d", took.Microseconds(), q, rareRows(q)))
				for _, f := range page {
					pages[way] += fmt.Sprint(f.ID, f.Relevance, " ")
				}
			}
			if pages[0] != pages[1] || pages[0] != pages[2] {
				b.Fatalf("%q: the two ways found different pages", q)
			}
		}
	}
	for k, g := range got {
		n := int64(len(g.took))
		slices.Sort(g.took)
		slices.Sort(g.slow)
		b.Logf("%s: slowest (µs) %v", ways[k].name, g.slow[len(g.slow)-3:])
		b.Logf("%s (driver up to %d rows): %d searches, db-cpu %.2f ms/search, go-cpu %.2f ms/search, p50 %.2f ms, p99 %.2f ms", ways[k].name, ways[k].join, n,
			float64(g.db)/1e6/float64(n), float64(g.self)/1e6/float64(n),
			float64(g.took[n/2].Microseconds())/1000, float64(g.took[(n*99+99)/100-1].Microseconds())/1000)
	}
}
