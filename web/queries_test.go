package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/internal/dbtest"
	"github.com/mutual-ledger/mutual/ledger"
)

// queryCounter counts the statements sent to the database.
type queryCounter struct{ n atomic.Int64 }

func (c *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TestPageQueriesDoNotGrow: what a neighbor opens costs the same number of
// database round trips whether they have 2 agreements, entries and
// listings or 10: each page reads its lists in one query each, never one
// per row (a page that read each agreement's listings, or each history
// entry's transfer, one by one took tens of round trips, which is what
// made the page benchmark's slowest pages slow). The counts are logged.
func TestPageQueriesDoNotGrow(t *testing.T) {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(dbtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	counter := &queryCounter{}
	cfg.ConnConfig.Tracer = counter
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	n := neighborhoodIn(t, newEnvOn(t, pool, nil))
	e := n.env
	carla := e.newMember(n.tb, "Carla")
	if _, err := e.ex.CreateUnit(ctx, e.admin, ledger.Unit{Code: "USD", Scale: 2, Name: "dollar"}); err != nil {
		t.Fatal(err)
	}
	fund, err := e.ex.CreateFund(ctx, e.admin, exchange.NewFund{OrgID: e.network.ID, Name: "Solidarity fund", Unit: "USD"})
	if err != nil {
		t.Fatal(err)
	}
	pc := e.principal(carla)
	var firstNeed exchange.Listing
	var firstAgreement exchange.Agreement
	made := 0
	// grow gives Carla k more needs, each with an agreement proposed on
	// Bruno's offer, k more gifts to the pool (entries in her history),
	// and the fund k more contributions.
	grow := func(k int) {
		t.Helper()
		for range k {
			made++
			need, err := e.ex.CreateListing(ctx, exchange.System(), exchange.NewListing{OrgID: n.tb.ID, Owner: carla, Kind: exchange.Need,
				Title: fmt.Sprintf("Help in the garden %d", made), Category: "gardening", Quantity: decimal.NewFromInt(1),
				Place: exchange.Point{Lat: 41.4010, Lon: 2.1580}, City: "Barcelona", Neighborhood: "Gràcia"})
			if err != nil {
				t.Fatal(err)
			}
			a, err := e.ex.ProposeAgreement(ctx, pc, exchange.NewAgreement{OfferID: n.offer.ID, NeedID: need.ID, Quantity: decimal.RequireFromString("0.5")})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.ex.DonateHours(ctx, pc, exchange.TimebankMove{OrgID: n.tb.ID, Amount: decimal.RequireFromString("0.25"), Memo: "for the pool"}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.ex.Contribute(ctx, e.admin, exchange.Contribution{FundID: fund.ID, Source: fmt.Sprintf("Friend %d", made), Amount: decimal.NewFromInt(10)}); err != nil {
				t.Fatal(err)
			}
			if made == 1 {
				firstNeed, firstAgreement = need, a
			}
		}
	}
	grow(2)
	c := e.signInByHTTP(carla)
	pages := []string{"/home", "/listings", "/listings?q=" + url.QueryEscape("garden"), "/listings/" + firstNeed.ID.String(),
		"/listings/" + n.offer.ID.String(), "/agreements", "/agreements/" + firstAgreement.ID.String(), "/history",
		"/network", "/funds/" + fund.ID.String(), "/orgs/" + n.tb.ID.String() + "/board"}
	// count fetches a page twice (the first fills the caches) and returns
	// the fewer statements of the two.
	count := func(path string) int64 {
		t.Helper()
		least := int64(-1)
		for range 2 {
			before := counter.n.Load()
			if resp, body := get(t, c, e.srv.URL+path); resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: %d\n%s", path, resp.StatusCode, body)
			}
			if got := counter.n.Load() - before; least < 0 || got < least {
				least = got
			}
		}
		return least
	}
	few := map[string]int64{}
	for _, p := range pages {
		few[p] = count(p)
	}
	grow(8)
	for _, p := range pages {
		many := count(p)
		t.Logf("%-60s %3d statements with 2 agreements, entries and needs, %3d with 10", p, few[p], many)
		if many != few[p] {
			t.Errorf("%s: %d statements with 2 of each, %d with 10: one per row somewhere", p, few[p], many)
		}
	}
}
