package clearing_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/mutual-ledger/mutual/exchange/clearing"
)

// TestTriangle: A owes B 100, B owes C 50, C owes A 80. 50 goes round the
// triangle; what is left is A→B 50 and C→A 30, the same net positions.
func TestTriangle(t *testing.T) {
	p := clearing.Problem{N: 3, Obligations: []clearing.Obligation{{0, 1, 100}, {1, 2, 50}, {2, 0, 80}}}
	r, err := clearing.Clear(p)
	if err != nil {
		t.Fatal(err)
	}
	if r.Total != 150 || r.Cleared[0] != 50 || r.Cleared[1] != 50 || r.Cleared[2] != 50 {
		t.Fatalf("cleared %v (total %d), want 50 each", r.Cleared, r.Total)
	}
	if err := clearing.Check(p, r); err != nil {
		t.Fatal(err)
	}
}

// TestChainNeedsCredit: p owes a, a owes q; no cycle, so set-off alone
// clears nothing, and p paying q through the ledger clears both.
func TestChainNeedsCredit(t *testing.T) {
	p := clearing.Problem{N: 3, Obligations: []clearing.Obligation{{0, 1, 70}, {1, 2, 40}}}
	r, err := clearing.Clear(p)
	if err != nil || r.Total != 0 {
		t.Fatalf("set-off alone: %v, %v", r, err)
	}
	p.Lines = []clearing.Line{{Participant: 0, Pay: 25}, {Participant: 2, Receive: math.MaxInt64}}
	r, err = clearing.Clear(p)
	if err != nil {
		t.Fatal(err)
	}
	if r.Total != 50 || r.Pay[0] != 25 || r.Pay[2] != -25 || r.Pay[1] != 0 {
		t.Fatalf("with lines: cleared %v total %d pay %v; want 25 of each, p pays q 25", r.Cleared, r.Total, r.Pay)
	}
	if err := clearing.Check(p, r); err != nil {
		t.Fatal(err)
	}
}

// bruteForce enumerates every integer clearing of a tiny problem and
// returns the most that can be cancelled, independently of the flow code.
func bruteForce(p clearing.Problem) int64 {
	line := map[int32]clearing.Line{}
	for _, l := range p.Lines {
		line[l.Participant] = l
	}
	c := make([]int64, len(p.Obligations))
	best := int64(-1)
	var rec func(k int)
	rec = func(k int) {
		if k == len(c) {
			net := make([]int64, p.N)
			var sum int64
			for j, o := range p.Obligations {
				net[o.Debtor] += c[j]
				net[o.Creditor] -= c[j]
				sum += c[j]
			}
			for i, x := range net {
				l, ok := line[int32(i)]
				if !ok && x != 0 || ok && (x > l.Pay || -x > l.Receive) {
					return
				}
			}
			best = max(best, sum)
			return
		}
		for c[k] = 0; c[k] <= p.Obligations[k].Amount; c[k]++ {
			rec(k + 1)
		}
	}
	rec(0)
	return best
}

func tiny(r *rand.Rand, lines bool) clearing.Problem {
	n := 2 + r.IntN(4)
	p := clearing.Problem{N: n}
	for m := 1 + r.IntN(6); len(p.Obligations) < m; {
		u, v := int32(r.IntN(n)), int32(r.IntN(n))
		if u != v {
			p.Obligations = append(p.Obligations, clearing.Obligation{Debtor: u, Creditor: v, Amount: 1 + r.Int64N(3)})
		}
	}
	if lines {
		for i := range n {
			if r.IntN(2) == 0 {
				p.Lines = append(p.Lines, clearing.Line{Participant: int32(i), Pay: r.Int64N(4), Receive: r.Int64N(5)})
			}
		}
	}
	return p
}

// TestClearMatchesBruteForce compares Clear with exhaustive search on
// thousands of tiny problems, half of them with credit lines, and checks
// each result's certificate.
func TestClearMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const instances = 5000
	improved := 0
	for i := range instances {
		p := tiny(r, i%2 == 1)
		res, err := clearing.Clear(p)
		if err != nil {
			t.Fatal(err)
		}
		if want := bruteForce(p); res.Total != want {
			t.Fatalf("instance %d %+v: cleared %d, brute force finds %d", i, p, res.Total, want)
		}
		if err := clearing.Check(p, res); err != nil {
			t.Fatalf("instance %d %+v: %v", i, p, err)
		}
		g, err := clearing.Greedy(p)
		if err != nil {
			t.Fatal(err)
		}
		if g.Total > res.Total {
			t.Fatalf("instance %d: greedy %d beats %d", i, g.Total, res.Total)
		}
		if i%2 == 0 && g.Total < res.Total {
			improved++
		}
	}
	t.Logf("%d tiny instances equal brute force and pass Check; greedy stops short on %d of the %d without lines", instances, improved, instances/2)
}

// TestCheckRefuses shows the certificate can fail: a feasible clearing that
// is not the most, one that moves a position, and one that overdraws a line.
func TestCheckRefuses(t *testing.T) {
	// Two cycles share A→B (3): A→B→C→A (2 each) and A→B→D→A (2 each).
	// At most 3 can go round, so the optimum is 9; cancelling only the
	// first cycle (6) is feasible but not optimal.
	p := clearing.Problem{N: 4, Obligations: []clearing.Obligation{
		{0, 1, 3}, {1, 2, 2}, {2, 0, 2}, {1, 3, 2}, {3, 0, 2},
	}}
	opt, err := clearing.Clear(p)
	if err != nil {
		t.Fatal(err)
	}
	if opt.Total != 9 {
		t.Fatalf("optimum %d, want 9 (3 on A→B, 3 split over the two returns)", opt.Total)
	}
	worse := opt
	worse.Cleared = []int64{2, 2, 2, 0, 0}
	worse.Total = 6
	if err := clearing.Check(p, worse); err == nil {
		t.Error("Check accepted a clearing of 6 where 9 is possible")
	}
	moved := opt
	moved.Cleared = []int64{3, 2, 2, 1, 0}
	moved.Total = 8
	if err := clearing.Check(p, moved); err == nil {
		t.Error("Check accepted a clearing that moves positions")
	}
	q := clearing.Problem{N: 3, Obligations: []clearing.Obligation{{0, 1, 70}, {1, 2, 40}},
		Lines: []clearing.Line{{Participant: 0, Pay: 25}, {Participant: 2, Receive: 100}}}
	over := clearing.Result{Cleared: []int64{40, 40}, Total: 80, Pay: []int64{40, 0, -40}, Potential: make([]int64, 4)}
	if err := clearing.Check(q, over); err == nil {
		t.Error("Check accepted a payment beyond the credit line")
	}
}

func TestInvalid(t *testing.T) {
	for name, p := range map[string]clearing.Problem{
		"out of range": {N: 2, Obligations: []clearing.Obligation{{0, 2, 1}}},
		"owes itself":  {N: 2, Obligations: []clearing.Obligation{{1, 1, 1}}},
		"zero amount":  {N: 2, Obligations: []clearing.Obligation{{0, 1, 0}}},
		"overflow":     {N: 2, Obligations: []clearing.Obligation{{0, 1, math.MaxInt64}, {1, 0, 1}}},
		"two lines":    {N: 2, Obligations: []clearing.Obligation{{0, 1, 1}}, Lines: []clearing.Line{{0, 1, 1}, {0, 1, 1}}},
		"negative":     {N: 2, Obligations: []clearing.Obligation{{0, 1, 1}}, Lines: []clearing.Line{{0, -1, 1}}},
	} {
		if _, err := clearing.Clear(p); !errors.Is(err, clearing.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	// The largest total that fits is fine.
	p := clearing.Problem{N: 2, Obligations: []clearing.Obligation{{0, 1, math.MaxInt64 - 1}, {1, 0, 1}}}
	r, err := clearing.Clear(p)
	if err != nil || r.Total != 2 {
		t.Fatalf("near-overflow: %v, %v", r.Total, err)
	}
}

// TestVersusGreedy clears generated networks of growing size with and
// without lines and compares set-off with greedy cycle cancellation.
func TestVersusGreedy(t *testing.T) {
	for _, nw := range []network{
		{firms: 50, obligations: 300, towns: 3, local: 0.7, alpha: 1.2, median: 400, sigma: 1.3, creditShare: 0.2},
		{firms: 300, obligations: 3000, towns: 6, local: 0.7, alpha: 1.2, median: 400, sigma: 1.3, creditShare: 0.2},
		{firms: 1000, obligations: 20000, towns: 15, local: 0.7, alpha: 1.2, median: 400, sigma: 1.3, creditShare: 0.2},
	} {
		for seed := range uint64(5) {
			p := generate(seed, nw)
			q := withoutLines(p)
			r, err := clearing.Clear(q)
			if err != nil {
				t.Fatal(err)
			}
			if err := clearing.Check(q, r); err != nil {
				t.Fatal(err)
			}
			g, err := clearing.Greedy(q)
			if err != nil {
				t.Fatal(err)
			}
			if g.Total > r.Total {
				t.Fatalf("greedy %d beats %d", g.Total, r.Total)
			}
			rl, err := clearing.Clear(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := clearing.Check(p, rl); err != nil {
				t.Fatal(err)
			}
			if rl.Total < r.Total {
				t.Fatalf("with lines %d, less than without %d", rl.Total, r.Total)
			}
			debt := total(p)
			t.Logf("%5d firms %6d obligations seed %d: set-off %.2f%% of debt, greedy %.2f%% (optimum clears %.2f%% more than greedy); with lines %.2f%%",
				nw.firms, nw.obligations, seed, pct(r.Total, debt), pct(g.Total, debt), 100*(float64(r.Total)/float64(g.Total)-1), pct(rl.Total, debt))
		}
	}
}

// TestSardexSize clears a network of Sardex's size and logs the share of
// debt cleared by set-off alone and with credit lines.
func TestSardexSize(t *testing.T) {
	p := generate(2020, sardex)
	debt := total(p)
	q := withoutLines(p)
	r, err := clearing.Clear(q)
	if err != nil {
		t.Fatal(err)
	}
	if err := clearing.Check(q, r); err != nil {
		t.Fatal(err)
	}
	g, err := clearing.Greedy(q)
	if err != nil {
		t.Fatal(err)
	}
	rl, err := clearing.Clear(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := clearing.Check(p, rl); err != nil {
		t.Fatal(err)
	}
	if g.Total > r.Total || r.Total > rl.Total || r.Total == 0 {
		t.Fatalf("greedy %d, set-off %d, with lines %d", g.Total, r.Total, rl.Total)
	}
	var used int64
	for _, x := range rl.Pay {
		used += max(x, 0)
	}
	t.Logf("Sardex-size network (%d firms, %d obligations, %.2f EUR of debt): set-off alone clears %.2f%% (%d phases), greedy cycle cancellation %.2f%%; with credit lines of 20%% of purchases %.2f%% (%d phases), %.2f EUR paid through the ledger",
		p.N, len(p.Obligations), float64(debt)/100, pct(r.Total, debt), r.Phases, pct(g.Total, debt), pct(rl.Total, debt), rl.Phases, float64(used)/100)
}

func total(p clearing.Problem) int64 {
	var s int64
	for _, o := range p.Obligations {
		s += o.Amount
	}
	return s
}

func pct(x, of int64) float64 { return 100 * float64(x) / float64(of) }

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkClear1M clears 50,000 firms and 1,000,000 obligations (one
// iteration is the whole problem), with and without credit lines, and
// reports the phases and the heap in use at the end of a clearing.
func BenchmarkClear1M(b *testing.B) {
	nw := network{firms: 50_000, obligations: 1_000_000, towns: 300, local: 0.7, alpha: 1.2, median: 400, sigma: 1.3, creditShare: 0.2, supplyChain: true}
	p := generate(7, nw)
	for _, c := range []struct {
		name string
		p    clearing.Problem
	}{{"set-off", withoutLines(p)}, {"credit-lines", p}} {
		b.Run(c.name, func(b *testing.B) {
			var r clearing.Result
			var err error
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			cpu0 := cpuTime()
			for b.Loop() {
				if r, err = clearing.Clear(c.p); err != nil {
					b.Fatal(err)
				}
			}
			cpu := cpuTime() - cpu0
			runtime.ReadMemStats(&after)
			b.StopTimer()
			if err := clearing.Check(c.p, r); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(pct(r.Total, total(c.p)), "%cleared")
			b.ReportMetric(float64(r.Phases), "phases")
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/(1<<20), "MB-alloc/op")
			b.ReportMetric(float64(after.HeapSys)/(1<<20), "MB-heap-sys")
			// CPU time, which a shared machine does not inflate as it does
			// the wall-clock ns/op.
			b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
		})
	}
}
