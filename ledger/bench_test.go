package ledger_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/internal/dbtest"
	"github.com/mutual-ledger/mutual/internal/proccpu"
	"github.com/mutual-ledger/mutual/ledger"
)

// The benchmarks mirror ../shared/bench/ceiling.sh, which runs the bare SQL
// of one transfer with pgbench: 10,000 accounts, random pairs (uniform) or
// every transfer crediting account 1 (hot), READ COMMITTED, PostgreSQL's
// default durability. b.N counts transfers; transfers/s is the figure to
// compare, as a ratio, with a ceiling.sh run made just before.
//
//	make bench    (or: go test -run '^$' -bench . -benchtime 20000x ./ledger)

const benchAccounts = 10000

type benchLedger struct {
	s          *ledger.Store
	ids        []uuid.UUID
	postmaster int // the PostgreSQL server's process, for its CPU time
}

// benchSetup makes a ledger for one top-level benchmark and its
// sub-benchmarks: 10,000 accounts with a credit limit too large to ever
// refuse, warmed up and analyzed.
func benchSetup(b *testing.B) *benchLedger {
	bl, err := newBenchLedger(b)
	if err != nil {
		b.Fatal(err)
	}
	return bl
}

func newBenchLedger(b *testing.B) (*benchLedger, error) {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(dbtest.URL(b))
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = 40
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	b.Cleanup(pool.Close)
	s, err := ledger.Open(ctx, pool, ledger.Config{})
	if err != nil {
		return nil, err
	}
	if _, err := s.CreateUnit(ctx, ledger.Unit{Code: "HOUR", Scale: 2}); err != nil {
		return nil, err
	}
	// The accounts are made in SQL in one statement: the fixture is not what
	// is measured.
	rows, err := pool.Query(ctx, `
INSERT INTO accounts (id, unit, kind, lower_bound, created_at)
SELECT gen_random_uuid(), 'HOUR', 'member', -1000000000, now() FROM generate_series(1, $1)
RETURNING id`, benchAccounts)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, err
	}
	bl := &benchLedger{s: s, ids: ids, postmaster: dbtest.Postmaster(ctx, pool)}
	// Warm up, then ANALYZE, so that plans are the ones a running server has.
	if err := bl.drive(2000, 8, false, 1); err != nil {
		return nil, err
	}
	if _, err := pool.Exec(ctx, `ANALYZE`); err != nil {
		return nil, err
	}
	return bl, nil
}

// drive posts n transfers from clients goroutines, batch transfers per call.
func (bl *benchLedger) drive(n, clients int, hot bool, batch int) error {
	ctx := context.Background()
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	calls := int64((n + batch - 1) / batch)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), uint64(time.Now().UnixNano())))
			reqs := make([]ledger.TransferRequest, batch)
			for next.Add(1) <= calls {
				for i := range reqs {
					a := rng.IntN(len(bl.ids))
					b := (a + 1 + rng.IntN(len(bl.ids)-1)) % len(bl.ids)
					if hot {
						a, b = 1+rng.IntN(len(bl.ids)-1), 0
					}
					reqs[i] = ledger.TransferRequest{Postings: []ledger.Posting{{
						From: bl.ids[a], To: bl.ids[b], Amount: decimal.New(int64(1+rng.IntN(1000)), 0), Unit: "HOUR",
					}}}
				}
				var err error
				if batch == 1 {
					_, err = bl.s.CreateTransfer(ctx, reqs[0])
				} else {
					_, err = bl.s.CreateTransfers(ctx, reqs, true)
				}
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

func benchTransfers(b *testing.B, bl *benchLedger, clients int, hot bool, batch int) {
	retries := bl.s.DB().Retries()
	machine0, _ := proccpu.ReadMachine()
	self0, pg0 := selfCPU(), dbtest.ServerCPU(bl.postmaster)
	b.ResetTimer()
	start := time.Now()
	if err := bl.drive(b.N, clients, hot, batch); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "transfers/s")
	b.ReportMetric(float64(bl.s.DB().Retries()-retries), "retries")
	// CPU per transfer varies much less than throughput on a shared machine:
	// the whole machine's (PostgreSQL and Go), and the Go process's own.
	// The share of the machine's time the hypervisor gave to other virtual
	// machines (steal) says how far throughput here was cut by them: runs
	// compared with each other, or with the ceiling, should have alike.
	if machine1, err := proccpu.ReadMachine(); err == nil && machine0.Total > 0 {
		b.ReportMetric(float64(machine1.Busy-machine0.Busy)/float64(b.N)/1e3, "machine-µs/transfer")
		b.ReportMetric(100*machine0.StolenShare(machine1), "stolen-%")
	}
	b.ReportMetric(float64(selfCPU()-self0)/float64(b.N)/1e3, "go-µs/transfer")
	if pg0 > 0 {
		b.ReportMetric(float64(dbtest.ServerCPU(bl.postmaster)-pg0)/float64(b.N)/1e3, "pg-µs/transfer")
	}
}

// selfCPU returns this process's user and system CPU time, in nanoseconds.
func selfCPU() int64 { return int64(proccpu.Self()) }

func BenchmarkTransfer(b *testing.B) {
	bl := benchSetup(b)
	for _, hot := range []bool{false, true} {
		for _, clients := range []int{8, 32} {
			name := "uniform"
			if hot {
				name = "hot"
			}
			b.Run(fmt.Sprintf("%s/clients=%d", name, clients), func(b *testing.B) {
				benchTransfers(b, bl, clients, hot, 1)
			})
		}
	}
}

func BenchmarkBatch100(b *testing.B) {
	bl := benchSetup(b)
	for _, clients := range []int{8, 32} {
		b.Run(fmt.Sprintf("uniform/clients=%d", clients), func(b *testing.B) {
			before := bl.s.MergeStats()
			benchTransfers(b, bl, clients, false, 100)
			// How many batches shared a transaction (see batchmerge.go).
			st := bl.s.MergeStats()
			b.ReportMetric(float64(st.Batches-before.Batches)/float64(b.N/100), "merged-share")
		})
	}
}
