package httpapi_test

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/httpapi"
	"github.com/mutual-ledger/mutual/internal/dbtest"
	"github.com/mutual-ledger/mutual/internal/gctune"
	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/internal/proccpu"
	"github.com/mutual-ledger/mutual/ledger"
)

// benchWords are the words of the generated listings, in Spanish, French
// and English, accents and all; more are made up to give a vocabulary of
// the size a city's listings have.
var benchWords = strings.Fields(`de la el y en con para por los las un una et le les pour avec the and for with
	niños niñas cuidado tarde mañana guitarra clases bicicleta reparación jardín huerto cocina comida pan
	mudanza transporte coche viaje médico clínica farmacia abuela abuelo compañía paseo lectura inglés
	français anglais école devoirs ménage réparation vélo garde enfants aînés repas épicerie déménagement
	ordinateur téléphone internet impuestos trámites papeles costura ropa zapatos perro gato plantas
	bike repair garden kids homework tutoring ride clinic groceries laundry cleaning painting plumbing
	wiring computer phone taxes forms sewing clothes shoes dog cat plants visit company reading english
	spanish french lessons music piano violin singing dance yoga cooking baking bread soup meals`)

// benchVocabulary returns benchWords and made-up words up to n.
func benchVocabulary(r *rand.Rand, n int) []string {
	vocab := slices.Clone(benchWords)
	syllables := strings.Fields("ba be bi bo bu ca ce ci co cu da de di do du fa fe fi fo ga go la le li lo lu ma me mi mo mu na ne ni no ña ño pa pe pi po ra re ri ro sa se si so ta te ti to tu va ve vi za zo é è ç ü")
	seen := map[string]bool{}
	for _, w := range vocab {
		seen[w] = true
	}
	for len(vocab) < n {
		var b strings.Builder
		for range 2 + r.IntN(3) {
			b.WriteString(syllables[r.IntN(len(syllables))])
		}
		if w := b.String(); !seen[w] {
			seen[w] = true
			vocab = append(vocab, w)
		}
	}
	return vocab
}

// BenchmarkSearch100k measures word searches over HTTP among 100,000 open
// listings (in six cities, from 300 members) that the searcher may see:
// each request is GET /v1/listings with one or two words (whole, or the
// first four letters, typed without accents or in capitals), ranked by
// relevance, and in "words-near" also by distance from a point. It reports
// the 50th and 99th percentile of the request's time and the listings a
// search found (up to the page of 20), and logs the slowest 2% of the
// searches with the statements each sent to the database (what each is,
// by exchange's step that sends it, and how long it took), to show what
// the tail is made of. The listings are written straight
// into the tables and indexed by IndexListingWords, the step the server
// runs at start for older listings, which is timed too.
func BenchmarkSearch100k(b *testing.B) {
	ctx := context.Background()
	const listings = 100_000
	cfg, err := pgxpool.ParseConfig(dbtest.URL(b))
	if err != nil {
		b.Fatal(err)
	}
	trace := &statementTrace{}
	cfg.ConnConfig.Tracer = trace
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	db, err := pgtx.New(ctx, pool)
	if err != nil {
		b.Fatal(err)
	}
	led := ledger.NewStore(db, ledger.Config{})
	ex := exchange.NewStore(db, led, exchange.Config{})
	network, _, _, _, _, err := ex.Bootstrap(ctx, "Network")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := led.CreateUnit(ctx, ledger.Unit{Code: "HOUR", Scale: 2}); err != nil {
		b.Fatal(err)
	}
	org, err := ex.CreateOrg(ctx, exchange.System(), exchange.NewOrg{Name: "City", Kind: exchange.KindTimebank, ParentID: &network.ID})
	if err != nil {
		b.Fatal(err)
	}
	var members []uuid.UUID
	var token string
	for i := range 300 {
		m, err := ex.CreateMember(ctx, exchange.System(), exchange.NewMember{Name: fmt.Sprintf("Member %d", i)})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ex.AddMembership(ctx, exchange.System(), org.ID, m.ID, exchange.RoleMember); err != nil {
			b.Fatal(err)
		}
		members = append(members, m.ID)
		if i == 0 {
			if _, token, err = ex.CreateToken(ctx, exchange.Principal{MemberID: m.ID}, m.ID, "bench", nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	cats, err := ex.Categories(ctx, exchange.Principal{})
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(11, 12))
	vocab := benchVocabulary(r, 3000)
	zipf := rand.NewZipf(r, 1.1, 1, uint64(len(vocab)-1))
	text := func(n int) string {
		ws := make([]string, n)
		for i := range ws {
			ws[i] = vocab[zipf.Uint64()]
		}
		return strings.Join(ws, " ")
	}
	type city struct{ lat, lon float64 }
	cities := []city{{41.39, 2.17}, {45.50, -73.57}, {19.43, -99.13}, {-23.55, -46.63}, {48.86, 2.35}, {40.42, -3.70}}
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	rows := make([][]any, listings)
	var tags [][]any
	for i := range rows {
		id := uuid.New()
		c := cities[r.IntN(len(cities))]
		kind, maxKm := "offer", any(nil)
		if r.IntN(2) == 0 {
			kind, maxKm = "need", 25.0
		}
		vis := "public"
		if r.IntN(3) == 0 {
			vis = "org"
		}
		title := []rune(text(2 + r.IntN(4)))
		title[0] = unicode.ToUpper(title[0])
		rows[i] = []any{id, org.ID, members[r.IntN(len(members))], kind, string(title), text(10 + r.IntN(30)),
			cats[r.IntN(len(cats))].Code, int64(2), "HOUR", c.lat + r.NormFloat64()*0.08, c.lon + r.NormFloat64()*0.1,
			"", "", int64(0), vis, "open", "", now, now, maxKm, "UTC", int64(0)}
		for range r.IntN(3) {
			tags = append(tags, []any{id, vocab[r.IntN(len(vocab))]})
		}
	}
	slices.SortFunc(tags, func(a, b []any) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	tags = slices.CompactFunc(tags, func(a, b []any) bool { return fmt.Sprint(a) == fmt.Sprint(b) })
	cols := []string{"id", "org_id", "owner_member", "kind", "title", "description", "category", "quantity", "unit",
		"lat", "lon", "city", "neighborhood", "urgency", "visibility", "status", "search_text", "created_at", "updated_at",
		"max_km", "time_zone", "words_version"}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"listings"}, cols, pgx.CopyFromRows(rows)); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"listing_tags"}, []string{"listing_id", "tag"}, pgx.CopyFromRows(tags)); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	n, err := ex.IndexListingWords(ctx)
	if err != nil || n != listings {
		b.Fatalf("IndexListingWords = %d, %v", n, err)
	}
	indexed := time.Since(start)
	var words int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM listing_words`).Scan(&words); err != nil {
		b.Fatal(err)
	}
	// What autovacuum does in time: statistics, and the visibility map
	// that lets a search read listing_words' index alone.
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE`); err != nil {
		b.Fatal(err)
	}
	b.Logf("indexed %d listings (%d words) in %v", n, words, indexed.Round(time.Millisecond))

	postmaster := dbtest.Postmaster(ctx, pool)
	// The setup's garbage (the generated listings) is collected and
	// returned to the system now, not during the searches, whose time and
	// CPU it would count.
	debug.FreeOSMemory()
	// The server in this process collects its garbage as `mutual serve`
	// does, not at the test binary's default: at Go's default target the
	// collector ran twice as often, and its CPU on these two cores (the
	// server's, this client's and PostgreSQL's) showed in every search.
	defer debug.SetGCPercent(debug.SetGCPercent(gctune.ServePercent))
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Ledger: led, Authority: ex}))
	defer srv.Close()
	client := srv.Client()

	// The query words: not the twenty most common (de, la, the, ...),
	// which say nothing; typed as people type them.
	typed := func(w string) string {
		switch r.IntN(4) {
		case 0:
			return strings.ToUpper(w)
		case 1:
			if rs := []rune(w); len(rs) > 4 {
				return string(rs[:4])
			}
		case 2:
			return strings.NewReplacer("ñ", "n", "é", "e", "è", "e", "ç", "c", "ü", "u", "à", "a", "í", "i", "ó", "o", "á", "a").Replace(w)
		}
		return w
	}
	for _, near := range []bool{false, true} {
		name := "words"
		if near {
			name = "words-near"
		}
		b.Run(name, func(b *testing.B) {
			var took []time.Duration
			var queries []string
			var stmts [][]tracedStatement
			found := 0
			pg0, self0 := dbtest.ServerCPU(postmaster), proccpu.Self()
			for b.Loop() {
				q := typed(vocab[20+zipf.Uint64()%uint64(len(vocab)-20)])
				if r.IntN(3) == 0 {
					q += " " + typed(vocab[20+zipf.Uint64()%uint64(len(vocab)-20)])
				}
				path := "/v1/listings?limit=20&q=" + url.QueryEscape(q)
				if near {
					c := cities[r.IntN(len(cities))]
					path += fmt.Sprintf("&lat=%.4f&lon=%.4f", c.lat, c.lon)
				}
				req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
				req.Header.Set("Authorization", "Bearer "+token)
				trace.start()
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				took = append(took, time.Since(t0))
				stmts = append(stmts, trace.stop())
				queries = append(queries, path[strings.Index(path, "q="):])
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Fatalf("GET %s: %d %s %v", path, resp.StatusCode, body, err)
				}
				found += strings.Count(string(body), `"relevance":`)
			}
			// The CPU the database and this process (server and client)
			// spent per search: on a shared machine, steadier than the
			// percentiles.
			if pg0 > 0 {
				b.ReportMetric(float64(dbtest.ServerCPU(postmaster)-pg0)/float64(len(took))/1e6, "pg-ms/op")
			}
			b.ReportMetric(float64(proccpu.Self()-self0)/float64(len(took))/1e6, "go-ms/op")
			// The slowest searches, to see what the tail is made of.
			order := make([]int, len(took))
			for i := range order {
				order[i] = i
			}
			slices.SortFunc(order, func(i, j int) int { return cmp.Compare(took[j], took[i]) })
			for _, i := range order[:min(len(order), max(6, len(order)/50))] {
				b.Logf("%v %s: %s", took[i].Round(time.Microsecond), queries[i], describeStatements(stmts[i]))
			}
			// The tail by the number of words searched: two words, one
			// rare and one common, made it before.
			byWords := map[int][]time.Duration{}
			for i, q := range queries {
				n := strings.Count(strings.SplitN(q, "&", 2)[0], "+") + 1
				byWords[n] = append(byWords[n], took[i])
			}
			pct := func(took []time.Duration, p float64) float64 {
				i := int(math.Ceil(p*float64(len(took)))) - 1
				return float64(took[max(i, 0)].Microseconds()) / 1000
			}
			for n := 1; n <= 2; n++ {
				if len(byWords[n]) == 0 {
					continue // a short run may have none
				}
				slices.Sort(byWords[n])
				b.Logf("%d word(s): %d searches, p50 %.1f ms, p99 %.1f ms", n, len(byWords[n]), pct(byWords[n], 0.50), pct(byWords[n], 0.99))
			}
			// The searches by the way they went (the word search's steps
			// they took, in order, each once), with their time and
			// statements: which ways make the tail.
			type way struct {
				took  []time.Duration
				stmts int
			}
			ways := map[string]*way{}
			total := 0
			for i, ss := range stmts {
				var steps []string
				for _, s := range ss {
					if s.kind != "other" && s.kind != "tags" && s.kind != "lookup" && !slices.Contains(steps, s.kind) {
						steps = append(steps, s.kind)
					}
				}
				name := strings.Join(steps, "+")
				if ways[name] == nil {
					ways[name] = &way{}
				}
				ways[name].took = append(ways[name].took, took[i])
				ways[name].stmts += len(ss)
				total += len(ss)
			}
			names := slices.Sorted(maps.Keys(ways))
			for _, name := range names {
				w := ways[name]
				slices.Sort(w.took)
				b.Logf("way %s: %d searches, %.1f statements each, p50 %.1f ms, p99 %.1f ms, slowest %.1f ms", name, len(w.took),
					float64(w.stmts)/float64(len(w.took)), pct(w.took, 0.50), pct(w.took, 0.99), pct(w.took, 1))
			}
			b.ReportMetric(float64(total)/float64(len(took)), "stmts/op")
			slices.Sort(took)
			b.ReportMetric(pct(took, 0.50), "p50-ms")
			b.ReportMetric(pct(took, 0.99), "p99-ms")
			b.ReportMetric(float64(found)/float64(len(took)), "results/op")
		})
	}
}

// statementTrace records the statements the server sends to the database
// while a search is timed: what each is (by its text) and how long it took
// from being sent to its last row read, so that the benchmark can say
// what its slowest searches spent their time on.
type statementTrace struct {
	mu    sync.Mutex
	on    bool
	stmts []tracedStatement
}

type tracedStatement struct {
	kind string
	took time.Duration
}

type traceStartKey struct{}

func (t *statementTrace) start() {
	t.mu.Lock()
	t.on, t.stmts = true, nil
	t.mu.Unlock()
}

func (t *statementTrace) stop() []tracedStatement {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.on = false
	return t.stmts
}

func (t *statementTrace) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, traceStartKey{}, tracedStatement{kind: statementKind(data.SQL), took: time.Duration(time.Now().UnixNano())})
}

func (t *statementTrace) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	s, ok := ctx.Value(traceStartKey{}).(tracedStatement)
	if !ok {
		return
	}
	s.took = time.Duration(time.Now().UnixNano()) - s.took
	t.mu.Lock()
	if t.on {
		t.stmts = append(t.stmts, s)
	}
	t.mu.Unlock()
}

// statementKind names a search's statement by the step of exchange's word
// search that sends it (see exchange/searchwords.go), by its text.
func statementKind(sql string) string {
	switch {
	case strings.Contains(sql, "EXISTS (SELECT 1 FROM listing_words"):
		return "stats"
	case strings.Contains(sql, "unnest($2::UUID[], $3::BIGINT[])"):
		return "lookup"
	case strings.Contains(sql, "c.relevance DESC"): // lookUpCandidates
		switch {
		case strings.Contains(sql, "GROUP BY r.listing_id"):
			return "rare+probes"
		case strings.Contains(sql, "JOIN listing_words y"):
			return "pair"
		case strings.Contains(sql, "w.weight IN (3, 4)"):
			return "top"
		}
		return "level"
	case strings.Contains(sql, "w.weight = 4 AND w.word >= $1"):
		return "rare"
	case strings.Contains(sql, "w.weight = $3 AND w.word >= $1"):
		return "read"
	case strings.Contains(sql, "unnest($1::UUID[]) AS i"):
		return "probe"
	case strings.Contains(sql, "FROM listing_tags"):
		return "tags"
	}
	return "other"
}

// describeStatements is the time spent in statements, their number, and
// each one's kind and time.
func describeStatements(stmts []tracedStatement) string {
	var total time.Duration
	var parts []string
	for _, s := range stmts {
		total += s.took
		parts = append(parts, fmt.Sprintf("%s %.1f", s.kind, float64(s.took.Microseconds())/1000))
	}
	return fmt.Sprintf("%d statements, %.1f ms (%s)", len(stmts), float64(total.Microseconds())/1000, strings.Join(parts, ", "))
}
