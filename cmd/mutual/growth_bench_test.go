package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/internal/bulkload"
	"github.com/mutual-ledger/mutual/internal/dbtest"
	"github.com/mutual-ledger/mutual/ledger"
)

// BenchmarkGrowth measures how the ledger's reads and `mutual verify` grow
// with the books: at 10,000 and at 1,000,000 transfers, all crediting one
// hot account (which then has one entry per transfer, the worst case for
// its history), it measures the latency of a balance at a random past
// instant, of a page of history at a random depth and of a statement of
// 1,000 of its entries at a random period on that account, the
// time `mutual verify` takes over the whole database, and the throughput of
// new transfers on books that size. The books are written by
// internal/bulkload (the ledger's own write path would take longer than the
// measurement), and verify must find them sound.
//
// One iteration is one whole measurement: run it with -benchtime 1x.
//
//	go test -run '^$' -bench Growth -benchtime 1x -timeout 60m ./cmd/mutual/
func BenchmarkGrowth(b *testing.B) {
	for _, n := range []int64{10000, 100000, 1000000} {
		b.Run(fmt.Sprintf("transfers=%d", n), func(b *testing.B) {
			ctx := context.Background()
			url := dbtest.URL(b)
			pool, err := pgxpool.New(ctx, url)
			if err != nil {
				b.Fatal(err)
			}
			defer pool.Close()
			s, err := ledger.Open(ctx, pool, ledger.Config{})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.CreateUnit(ctx, ledger.Unit{Code: "HOUR", Scale: 2}); err != nil {
				b.Fatal(err)
			}
			books := bulkload.Books{Unit: "HOUR", Accounts: 1000, Hot: true,
				Start: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), Step: time.Second}
			start := time.Now()
			l, err := bulkload.Load(ctx, pool, books, n)
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("loaded %d transfers in %s", n, time.Since(start).Round(time.Millisecond))
			hot := l.Accounts[0]
			// The hot account is the network's, so that its statement can
			// be asked for.
			ex := exchange.NewStore(s.DB(), s, exchange.Config{})
			network, admin, _, _, _, err := ex.Bootstrap(ctx, "Growth network")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := pool.Exec(ctx, `UPDATE accounts SET owner = $1 WHERE id = $2`, exchange.OrgOwner(network.ID), hot); err != nil {
				b.Fatal(err)
			}
			adminP := exchange.Principal{MemberID: admin.ID, Admin: true}
			rng := rand.New(rand.NewPCG(1, 2))
			const samples = 200
			b.ResetTimer()
			for range b.N {
				// Balance at a random instant of the history.
				lat := make([]time.Duration, samples)
				for i := range lat {
					at := books.At(1 + rng.Int64N(n))
					t0 := time.Now()
					if _, err := s.BalanceAt(ctx, hot, at); err != nil {
						b.Fatal(err)
					}
					lat[i] = time.Since(t0)
				}
				reportLatency(b, "balance-at", lat)
				// A page of 100 entries at a random depth.
				for i := range lat {
					before := 101 + rng.Int64N(n-100)
					t0 := time.Now()
					es, _, err := s.Entries(ctx, hot, ledger.Page{Limit: 100, Before: before})
					if err != nil || len(es) != 100 {
						b.Fatalf("history page before %d: %d entries, %v", before, len(es), err)
					}
					lat[i] = time.Since(t0)
				}
				reportLatency(b, "history", lat)
				// The network's statement over a period of 1,000 entries of
				// the hot account, at a random point of its history.
				stLat := make([]time.Duration, 50)
				for i := range stLat {
					k := rng.Int64N(n - 1000)
					t0 := time.Now()
					st, err := ex.Statement(ctx, adminP, network.ID, books.At(k), books.At(k+1000))
					if err != nil || len(st.Accounts) != 1 || len(st.Accounts[0].Entries) != 1000 {
						b.Fatalf("statement: %+v, %v", len(st.Accounts), err)
					}
					stLat[i] = time.Since(t0)
				}
				reportLatency(b, "statement", stLat)
				// mutual verify, the command itself.
				var out, errOut bytes.Buffer
				t0 := time.Now()
				if err := run(ctx, []string{"verify"}, environ("DATABASE_URL", url), &out, &errOut); err != nil {
					b.Fatalf("verify: %v\n%s\n%s", err, out.String(), errOut.String())
				}
				b.ReportMetric(time.Since(t0).Seconds(), "verify-s")
				if !strings.Contains(out.String(), "ledger is sound") {
					b.Fatalf("verify said: %s", out.String())
				}
				// Throughput of new transfers on books this size.
				const writes = 2000
				t0 = time.Now()
				for i := range writes {
					// Half of them to the hot account, half between others.
					f := 1 + rng.IntN(len(l.Accounts)-1)
					from, to := l.Accounts[f], hot
					if i%2 == 1 {
						to = l.Accounts[1+(f%(len(l.Accounts)-1))]
					}
					if _, err := s.CreateTransfer(ctx, ledger.TransferRequest{Postings: []ledger.Posting{{
						From: from, To: to, Amount: decimal.New(int64(1+rng.IntN(100)), 0), Unit: "HOUR"}}}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(writes/time.Since(t0).Seconds(), "transfers/s")
			}
		})
	}
}

// reportLatency reports the median and 99th percentile of lat, in ms.
func reportLatency(b *testing.B, name string, lat []time.Duration) {
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, name+"-p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, name+"-p99-ms")
}
