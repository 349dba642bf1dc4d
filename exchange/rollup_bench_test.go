package exchange_test

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

// BenchmarkRollup rolls up a network of 1,000 organizations (the network,
// 9 cities in 3 regions, 110 organizations under each) with 10 accounts
// each, 10,000 accounts in all, after 20,000 transfers between them: now,
// and at an instant half-way through the transfers, when the accounts
// written to since are searched. One iteration is one whole roll-up of
// the network, the figure to compare with the 50 ms the issue asks for.
//
//	go test -run '^$' -bench Rollup -benchtime 20x ./exchange/
func BenchmarkRollup(b *testing.B) {
	ctx := context.Background()
	e := newEnv(b)
	net := e.org(b, nil, exchange.KindNetwork, "Red")
	admin := e.member(b, "Admin")
	e.join(b, net, admin, exchange.RoleAdmin)
	p := e.principal(b, admin)
	if _, err := e.led.CreateUnit(ctx, ledger.Unit{Code: "HOUR", Scale: 2}); err != nil {
		b.Fatal(err)
	}
	if _, err := e.led.CreateUnit(ctx, ledger.Unit{Code: "USD", Scale: 2}); err != nil {
		b.Fatal(err)
	}
	// The fixture is made in SQL, in a few statements: it is not what is
	// measured.
	if _, err := e.pool.Exec(ctx, `
INSERT INTO orgs (id, parent_id, name, kind, region, created_at)
SELECT gen_random_uuid(), $1, 'City ' || n, 'local', 'region-' || (n % 3), now() FROM generate_series(1, 9) AS n`, net.ID); err != nil {
		b.Fatal(err)
	}
	if _, err := e.pool.Exec(ctx, `
INSERT INTO orgs (id, parent_id, name, kind, region, created_at)
SELECT gen_random_uuid(), c.id, c.name || ' co-op ' || n, 'coop', c.region, now()
FROM orgs c, generate_series(1, 110) AS n WHERE c.kind = 'local'`); err != nil {
		b.Fatal(err)
	}
	rows, err := e.pool.Query(ctx, `
INSERT INTO accounts (id, unit, owner, kind, name, lower_bound, region, created_at)
SELECT gen_random_uuid(), CASE WHEN n % 2 = 0 THEN 'HOUR' ELSE 'USD' END, 'org:' || o.id::TEXT, 'organization', 'Account ' || n,
       -1000000000, o.region, now()
FROM orgs o, generate_series(1, 10) AS n
RETURNING id, unit`)
	if err != nil {
		b.Fatal(err)
	}
	byUnit := map[string][]uuid.UUID{}
	var id uuid.UUID
	var unit string
	if _, err := pgx.ForEachRow(rows, []any{&id, &unit}, func() error { byUnit[unit] = append(byUnit[unit], id); return nil }); err != nil {
		b.Fatal(err)
	}
	if n := len(byUnit["HOUR"]) + len(byUnit["USD"]); n != 10000 {
		b.Fatalf("%d accounts, want 10,000", n)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	transfers := func(n int) {
		for range n / 1000 {
			reqs := make([]ledger.TransferRequest, 1000)
			for i := range reqs {
				u := []string{"HOUR", "USD"}[i%2]
				ids := byUnit[u]
				from := rng.IntN(len(ids))
				to := (from + 1 + rng.IntN(len(ids)-1)) % len(ids)
				reqs[i] = ledger.TransferRequest{Postings: []ledger.Posting{{From: ids[from], To: ids[to],
					Amount: decimal.New(int64(1+rng.IntN(10000)), -2), Unit: u}}}
			}
			if _, err := e.led.CreateTransfers(ctx, reqs, true); err != nil {
				b.Fatal(err)
			}
			e.clock.Advance(time.Minute)
		}
	}
	transfers(10000)
	past := e.clock.Now()
	e.clock.Advance(time.Minute)
	transfers(10000)
	if _, err := e.pool.Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		at   time.Time
	}{{"now", time.Time{}}, {"past", past}} {
		b.Run(c.name, func(b *testing.B) {
			var r exchange.Rollup
			db0, self0 := backendCPU(b, e), selfCPU()
			start := time.Now()
			for b.Loop() {
				var err error
				if r, err = e.ex.Rollup(ctx, p, net.ID, c.at); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/rollup")
			b.ReportMetric(float64(selfCPU()-self0)/1e6/float64(b.N), "go-cpu-ms/rollup")
			if db := backendCPU(b, e) - db0; db > 0 {
				b.ReportMetric(float64(db)/1e6/float64(b.N), "db-cpu-ms/rollup")
			}
			if r.Orgs != 1000 || len(r.Children) != 9 || len(r.Totals) != 2 || r.Totals[0].Accounts != 5000 || !r.Totals[0].Balance.IsZero() {
				b.Fatalf("the roll-up: %d organizations, %d children, totals %+v", r.Orgs, len(r.Children), r.Totals)
			}
		})
	}
}

// selfCPU returns this process's user and system CPU time, in nanoseconds.
func selfCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// backendCPU returns the CPU time, in nanoseconds, of the PostgreSQL
// backends connected to the benchmark's database so far: the processes
// whose title names it (PostgreSQL titles each backend "postgres: user
// database ..."). 0 where /proc cannot tell.
func backendCPU(b *testing.B, e env) int64 {
	var db string
	if err := e.pool.QueryRow(context.Background(), `SELECT current_database()`).Scan(&db); err != nil {
		b.Fatal(err)
	}
	dirs, _ := os.ReadDir("/proc")
	var total int64
	for _, d := range dirs {
		cmd, err := os.ReadFile("/proc/" + d.Name() + "/cmdline")
		if err != nil || !strings.Contains(string(cmd), " "+db+" ") {
			continue
		}
		stat, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		// utime and stime are fields 14 and 15, counted after the
		// parenthesized command, which may hold spaces.
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		total += (u + s) * int64(time.Second) / 100 // USER_HZ
	}
	return total
}
