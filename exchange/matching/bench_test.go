package matching_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/mutual-ledger/mutual/exchange/matching"
)

// BenchmarkRank100k ranks the 20 best offers for one need among 100,000 open
// offers in six cities, through the Index.
func BenchmarkRank100k(b *testing.B) {
	cfg := testConfig()
	needs, offers, f := generate(42, genParams{needs: 1000, offers: 100_000, cities: cities, spreadKm: 8})
	ix := matching.NewIndex(offers, cfg)
	b.ResetTimer()
	found := 0
	c0 := cpuTime()
	for i := 0; b.Loop(); i++ {
		found += len(ix.Rank(needs[i%len(needs)], f, 20))
	}
	b.ReportMetric(float64(cpuTime()-c0)/float64(b.N)/1e6, "cpu-ms/op")
	b.ReportMetric(float64(found)/float64(b.N), "candidates/op")
}

// BenchmarkPropose10k proposes an assignment for 10,000 needs and 10,000
// offers, each need's 20 best candidates forming the graph, and reports the
// ratio of its total score to greedy's on the same input. The graph is
// built with an Index outside the timer.
func BenchmarkPropose10k(b *testing.B) {
	for _, p := range []struct {
		name   string
		offers int
		mixed  bool
	}{
		{"hour-needs", 10_000, false},
		{"mixed-needs", 10_000, true},
		// Scarce help: 3,000 offers (about 6,000 hours) for 10,000 hours of
		// needs, where the shortest paths get long.
		{"hour-needs-3k-offers", 3_000, false},
	} {
		b.Run(p.name, func(b *testing.B) {
			cfg := testConfig()
			needs, offers, f := generate(42, genParams{needs: 10_000, offers: p.offers, cities: cities, spreadKm: 8, mixed: p.mixed})
			cands := candidates(needs, offers, f, cfg, 20)
			g, err := matching.Greedy(needs, offers, cands)
			if err != nil {
				b.Fatal(err)
			}
			var a matching.Assignment
			b.ResetTimer()
			for b.Loop() {
				if a, err = matching.Propose(needs, offers, cands); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(a.Total/g.Total, "total/greedy")
		})
	}
}

// BenchmarkGreedy10k is the greedy baseline on BenchmarkPropose10k's input.
func BenchmarkGreedy10k(b *testing.B) {
	cfg := testConfig()
	needs, offers, f := generate(42, genParams{needs: 10_000, offers: 10_000, cities: cities, spreadKm: 8})
	cands := candidates(needs, offers, f, cfg, 20)
	b.ResetTimer()
	for b.Loop() {
		if _, err := matching.Greedy(needs, offers, cands); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProposeSplit10k proposes a split assignment (needs served by
// several offers, offers serving several needs) for 10,000 needs of 0.5 to
// 3 h and 10,000 offers, each need's 20 best candidates forming the graph,
// and reports the hours of need met against the whole-cover greedy split's.
func BenchmarkProposeSplit10k(b *testing.B) {
	for _, p := range []struct {
		name   string
		offers int
	}{
		{"mixed-needs", 10_000},
		// Scarce help: 3,000 offers for about 17,500 hours of needs.
		{"mixed-needs-3k-offers", 3_000},
	} {
		b.Run(p.name, func(b *testing.B) {
			cfg := testConfig()
			needs, offers, f := generate(42, genParams{needs: 10_000, offers: p.offers, cities: cities, spreadKm: 8, mixed: true})
			cands := candidates(needs, offers, f, cfg, 20)
			g, err := matching.GreedySplit(needs, offers, cands)
			if err != nil {
				b.Fatal(err)
			}
			var s matching.Split
			b.ResetTimer()
			c0 := cpuTime()
			for b.Loop() {
				if s, err = matching.ProposeSplit(needs, offers, cands); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-c0)/float64(b.N)/1e6, "cpu-ms/op")
			b.ReportMetric(float64(s.Covered)/100, "hours-met")
			b.ReportMetric(float64(s.Weight)/float64(g.Weight), "weight/greedy")
		})
	}
}

// BenchmarkProposeSplit10kWithRanking is BenchmarkProposeSplit10k's first
// case with the candidate graph built inside the timer: indexing the
// 10,000 offers, ranking each need's 20 best, then the split proposal.
func BenchmarkProposeSplit10kWithRanking(b *testing.B) {
	cfg := testConfig()
	needs, offers, f := generate(42, genParams{needs: 10_000, offers: 10_000, cities: cities, spreadKm: 8, mixed: true})
	var s matching.Split
	var err error
	c0 := cpuTime()
	for b.Loop() {
		cands := candidates(needs, offers, f, cfg, 20)
		if s, err = matching.ProposeSplit(needs, offers, cands); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-c0)/float64(b.N)/1e6, "cpu-ms/op")
	b.ReportMetric(float64(s.Covered)/100, "hours-met")
}

// cpuTime is the CPU time this process has used, user and system. On a
// machine shared with other work, wall time per operation measures the
// neighbours too; CPU time per operation does not (it includes the
// garbage collector's, which runs beside the benchmark).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
