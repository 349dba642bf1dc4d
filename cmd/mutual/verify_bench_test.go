package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/internal/bulkload"
	"github.com/mutual-ledger/mutual/internal/dbtest"
	"github.com/mutual-ledger/mutual/ledger"
)

// BenchmarkVerify measures what `mutual verify` does, the ledger's checks
// and then the exchange's, at 100,000 and 1,000,000 transfers between
// 10,000 accounts (two entries per transfer, spread over the accounts),
// written by internal/bulkload; both must find the books sound. It reports
// each part's seconds, so that the growth of each can be read off.
//
// One iteration is one whole verify: run it with -benchtime 1x.
//
//	go test -run '^$' -bench Verify -benchtime 1x -timeout 60m ./cmd/mutual/
func BenchmarkVerify(b *testing.B) {
	for _, n := range []int64{100000, 1000000} {
		b.Run(fmt.Sprintf("transfers=%d", n), func(b *testing.B) {
			ctx := context.Background()
			pool, err := pgxpool.New(ctx, dbtest.URL(b))
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
			books := bulkload.Books{Unit: "HOUR", Accounts: 10000,
				Start: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), Step: time.Second}
			start := time.Now()
			if _, err := bulkload.Load(ctx, pool, books, n); err != nil {
				b.Fatal(err)
			}
			b.Logf("loaded %d transfers in %s", n, time.Since(start).Round(time.Millisecond))
			ex := exchange.NewStore(s.DB(), s, exchange.Config{})
			b.ResetTimer()
			var inLedger, inExchange time.Duration
			for range b.N {
				t0 := time.Now()
				v, err := s.Verify(ctx)
				if err != nil || len(v) > 0 {
					b.Fatalf("ledger verify: %v %q", err, v)
				}
				t1 := time.Now()
				v, err = ex.Verify(ctx)
				if err != nil || len(v) > 0 {
					b.Fatalf("exchange verify: %v %q", err, v)
				}
				inLedger += t1.Sub(t0)
				inExchange += time.Since(t1)
			}
			b.ReportMetric(inLedger.Seconds()/float64(b.N), "ledger-s")
			b.ReportMetric(inExchange.Seconds()/float64(b.N), "exchange-s")
			b.Logf("verify of %d transfers: ledger %s, exchange %s", n,
				inLedger.Round(time.Millisecond), inExchange.Round(time.Millisecond))
		})
	}
}
