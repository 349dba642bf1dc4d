package matching_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/mutual-ledger/mutual/exchange/matching"
)

func baseNeed() matching.Listing {
	return matching.Listing{
		ID: "n1", Kind: matching.Need, Category: "childcare", Owner: "ana", Quantity: 200,
		Lat: 41.39, Lon: 2.17, Start: epoch, End: epoch.Add(4 * time.Hour), Urgency: 3,
	}
}

func baseOffer() matching.Listing {
	return matching.Listing{
		ID: "o1", Kind: matching.Offer, Category: "childcare", Owner: "bo", Quantity: 400,
		Lat: 41.39, Lon: 2.17, Start: epoch, End: epoch.Add(4 * time.Hour),
	}
}

func mustScore(t *testing.T, n, o matching.Listing, f matching.Fairness, cfg matching.Config) matching.Breakdown {
	t.Helper()
	b, ok := matching.Score(n, o, f, cfg)
	if !ok {
		t.Fatalf("Score(%+v, %+v): not a candidate", n, o)
	}
	return b
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestScoreParts(t *testing.T) {
	cfg := testConfig()
	b := mustScore(t, baseNeed(), baseOffer(), matching.Fairness{}, cfg)
	want := matching.Breakdown{Total: 1, Category: 1, Distance: 1, Overlap: 1, Urgency: 1, Fairness: 1, Cover: 200}
	if b != want {
		t.Errorf("perfect pair: got %+v, want %+v", b, want)
	}
	// An offer smaller than the need is a candidate for the part it covers,
	// at the same fit per hour.
	small := baseOffer()
	small.Quantity = 50
	if p := mustScore(t, baseNeed(), small, matching.Fairness{}, cfg); p.Cover != 50 || p.Total != 1 {
		t.Errorf("half-hour offer for a 2 h need: got %+v, want cover 50 at total 1", p)
	}

	// Related category, ~12.5 km away (half of MaxKm), half the window,
	// urgency 1, a receiver with FairnessHalf hours of recent help.
	n, o := baseNeed(), baseOffer()
	n.Urgency = 1
	o.Category = "elder care"
	o.Lat += 12.5 / 111.19493
	o.Start = epoch.Add(2 * time.Hour)
	f := matching.Fairness{Received: map[string]int64{"ana": cfg.FairnessHalf}}
	b = mustScore(t, n, o, f, cfg)
	checks := []struct {
		name      string
		got, want float64
	}{
		{"category", b.Category, 0.5},
		{"distance", b.Distance, 0.5},
		{"overlap", b.Overlap, 0.5},
		{"urgency", b.Urgency, 1.0 / 3},
		{"fairness", b.Fairness, 0.75},
	}
	for _, c := range checks {
		if math.Abs(c.got-c.want) > 1e-4 {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	w := cfg.Weights
	total := (w.Category*b.Category + w.Distance*b.Distance + w.Overlap*b.Overlap + w.Urgency*b.Urgency + w.Fairness*b.Fairness) /
		(w.Category + w.Distance + w.Overlap + w.Urgency + w.Fairness)
	if !near(b.Total, total) {
		t.Errorf("total: got %v, want weighted mean %v", b.Total, total)
	}
}

func TestScoreNotCandidate(t *testing.T) {
	cfg := testConfig()
	tests := []struct {
		name   string
		change func(n, o *matching.Listing)
	}{
		{"same owner", func(n, o *matching.Listing) { o.Owner = n.Owner }},
		{"unrelated category", func(n, o *matching.Listing) { o.Category = "tech" }},
		{"related only the other way", func(n, o *matching.Listing) { n.Category = "health"; o.Category = "childcare" }},
		{"beyond MaxKm", func(n, o *matching.Listing) { o.Lat += 26 / 111.19 }},
		{"offer with nothing left", func(n, o *matching.Listing) { o.Quantity = 0 }},
		{"need with nothing left", func(n, o *matching.Listing) { n.Quantity = 0 }},
		{"need is an offer", func(n, o *matching.Listing) { n.Kind = matching.Offer }},
		{"offer is a need", func(n, o *matching.Listing) { o.Kind = matching.Need }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, o := baseNeed(), baseOffer()
			tt.change(&n, &o)
			if b, ok := matching.Score(n, o, matching.Fairness{}, cfg); ok {
				t.Errorf("got candidate %+v, want none", b)
			}
		})
	}
}

func TestScoreMonotone(t *testing.T) {
	cfg := testConfig()
	n := baseNeed()
	n.Urgency = 1
	score := func(n, o matching.Listing, f matching.Fairness) matching.Breakdown {
		return mustScore(t, n, o, f, cfg)
	}
	prev := score(n, baseOffer(), matching.Fairness{})
	for km := 1.0; km <= 24; km += 1 {
		o := baseOffer()
		o.Lon += km / (111.19 * math.Cos(o.Lat*math.Pi/180))
		b := score(n, o, matching.Fairness{})
		if !(b.Distance < prev.Distance && b.Total < prev.Total) {
			t.Fatalf("farther (%v km) did not score lower: %+v after %+v", km, b, prev)
		}
		prev = b
	}
	prev = score(n, baseOffer(), matching.Fairness{})
	for h := 1; h <= 4; h++ {
		o := baseOffer()
		o.Start = epoch.Add(time.Duration(h) * time.Hour / 2)
		b := score(n, o, matching.Fairness{})
		if !(b.Overlap < prev.Overlap && b.Total < prev.Total) {
			t.Fatalf("less overlap did not score lower: %+v after %+v", b, prev)
		}
		prev = b
	}
	prev = score(n, baseOffer(), matching.Fairness{})
	for x := int64(100); x <= 5000; x *= 2 {
		both := score(n, baseOffer(), matching.Fairness{Received: map[string]int64{"ana": x}, Asked: map[string]int64{"bo": x}})
		if !(both.Fairness < prev.Fairness && both.Total < prev.Total) {
			t.Fatalf("more history (%d) did not score lower: %+v after %+v", x, both, prev)
		}
		for _, f := range []matching.Fairness{
			{Received: map[string]int64{"ana": x}},
			{Asked: map[string]int64{"bo": x}},
		} {
			b := score(n, baseOffer(), f)
			if !(b.Fairness < 1 && b.Fairness > both.Fairness) {
				t.Fatalf("one-sided history %+v: fairness %v, want in (%v, 1)", f, b.Fairness, both.Fairness)
			}
		}
		prev = both
	}
	prev = matching.Breakdown{Total: -1}
	for u := 0; u <= 3; u++ {
		n := baseNeed()
		n.Urgency = u
		b := score(n, baseOffer(), matching.Fairness{})
		if !(b.Urgency > prev.Urgency || u == 0) || b.Total <= prev.Total {
			t.Fatalf("more urgent (%d) did not score higher: %+v after %+v", u, b, prev)
		}
		prev = b
	}
}

func TestIndexRankMatchesBruteForce(t *testing.T) {
	extra := append([]city{{"near-pole", 89.7, 10}}, cities...)
	configs := map[string]func() matching.Config{
		"default": testConfig,
		"wide": func() matching.Config {
			cfg := testConfig()
			cfg.MaxKm = 3000 // spans many cells and whole longitude bands
			return cfg
		},
	}
	for name, mk := range configs {
		t.Run(name, func(t *testing.T) {
			cfg := mk()
			needs, offers, f := generate(7, genParams{needs: 300, offers: 6000, cities: extra, spreadKm: 15})
			ix := matching.NewIndex(offers, cfg)
			nonEmpty := 0
			for _, n := range needs {
				for _, k := range []int{20, 0} {
					got, want := ix.Rank(n, f, k), matching.Rank(n, offers, f, cfg, k)
					if len(got) == 0 && len(want) == 0 {
						continue
					}
					nonEmpty++
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("need %s k=%d: index gave %d candidates, brute force %d\nindex: %+v\nbrute: %+v",
							n.ID, k, len(got), len(want), head(got), head(want))
					}
				}
			}
			if nonEmpty < len(needs) {
				t.Fatalf("only %d non-empty rankings of %d: generator too sparse", nonEmpty, 2*len(needs))
			}
		})
	}
}

func head(c []matching.Candidate) []matching.Candidate { return c[:min(len(c), 3)] }

// bruteBest is the best weight of any feasible assignment restricted to cands.
func bruteBest(needs, offers []matching.Listing, cands [][]matching.Candidate) int64 {
	left := make([]int64, len(offers))
	for j, o := range offers {
		left[j] = o.Quantity
	}
	var best int64
	var rec func(i int, sum int64)
	rec = func(i int, sum int64) {
		if i == len(needs) {
			best = max(best, sum)
			return
		}
		rec(i+1, sum)
		for _, c := range cands[i] {
			if left[c.Offer] >= needs[i].Quantity {
				left[c.Offer] -= needs[i].Quantity
				rec(i+1, sum+int64(math.Round(c.Score.Total*matching.WeightScale)))
				left[c.Offer] += needs[i].Quantity
			}
		}
	}
	rec(0, 0)
	return best
}

// tiny builds a random instance of up to 6 needs and 4 offers with random
// candidate lists and scores drawn from a few values, so ties are common.
func tiny(r *rand.Rand, mixed bool) (needs, offers []matching.Listing, cands [][]matching.Candidate) {
	nn, no := 1+r.IntN(6), 1+r.IntN(4)
	q := int64(50 * (1 + r.IntN(3)))
	for j := range no {
		offers = append(offers, matching.Listing{ID: string(rune('A' + j)), Kind: matching.Offer, Quantity: q * int64(r.IntN(4))})
	}
	for i := range nn {
		qi := q
		if mixed {
			qi = int64(50 * (1 + r.IntN(4)))
			for j := range offers {
				offers[j].Quantity = int64(50 * r.IntN(8))
			}
		}
		needs = append(needs, matching.Listing{ID: string(rune('a' + i)), Kind: matching.Need, Quantity: qi})
	}
	for range nn {
		var cs []matching.Candidate
		for j := range no {
			if r.IntN(3) > 0 {
				cs = append(cs, matching.Candidate{Offer: j, OfferID: offers[j].ID,
					Score: matching.Breakdown{Total: float64(1+r.IntN(10)) / 10}})
			}
		}
		cands = append(cands, cs)
	}
	return needs, offers, cands
}

// checkFeasible fails t unless a uses only candidate pairs, assigns each need
// at most once, keeps every offer within its quantity and adds up its Weight.
func checkFeasible(t *testing.T, needs, offers []matching.Listing, cands [][]matching.Candidate, a matching.Assignment) {
	t.Helper()
	if len(a.Offer) != len(needs) {
		t.Fatalf("assignment covers %d needs, want %d", len(a.Offer), len(needs))
	}
	used := make([]int64, len(offers))
	var weight int64
	for i, j := range a.Offer {
		if j < 0 {
			continue
		}
		w := int64(-1)
		for _, c := range cands[i] {
			if c.Offer == j {
				w = max(w, int64(math.Round(c.Score.Total*matching.WeightScale)))
			}
		}
		if w < 0 {
			t.Fatalf("need %s assigned to offer %d, not one of its candidates", needs[i].ID, j)
		}
		weight += w
		used[j] += needs[i].Quantity
	}
	for j, u := range used {
		if u > offers[j].Quantity {
			t.Fatalf("offer %s given %d centi-hours of needs, capacity %d", offers[j].ID, u, offers[j].Quantity)
		}
	}
	if weight != a.Weight || !near(a.Total, float64(weight)/matching.WeightScale) {
		t.Fatalf("assignment reports weight %d total %v, pairs add up to %d", a.Weight, a.Total, weight)
	}
}

func TestProposeOptimalTiny(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	beatGreedy := 0
	for trial := range 3000 {
		needs, offers, cands := tiny(r, false)
		a, err := matching.Propose(needs, offers, cands)
		if err != nil {
			t.Fatal(err)
		}
		checkFeasible(t, needs, offers, cands, a)
		if !a.Exact {
			t.Fatalf("trial %d: uniform quantities not solved exactly", trial)
		}
		if best := bruteBest(needs, offers, cands); a.Weight != best {
			t.Fatalf("trial %d: Propose weight %d, optimum %d\nneeds %+v\noffers %+v\ncands %+v",
				trial, a.Weight, best, needs, offers, cands)
		}
		g, _ := matching.Greedy(needs, offers, cands)
		checkFeasible(t, needs, offers, cands, g)
		if g.Weight < a.Weight {
			beatGreedy++
		}
	}
	t.Logf("optimal on 3000 tiny instances; strictly better than greedy on %d", beatGreedy)
}

func TestProposeMixedTiny(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	optimal, beat := 0, 0
	const trials = 3000
	for trial := range trials {
		needs, offers, cands := tiny(r, true)
		a, err := matching.Propose(needs, offers, cands)
		if err != nil {
			t.Fatal(err)
		}
		checkFeasible(t, needs, offers, cands, a)
		g, _ := matching.Greedy(needs, offers, cands)
		best := bruteBest(needs, offers, cands)
		if a.Weight < g.Weight || a.Weight > best {
			t.Fatalf("trial %d: Propose %d, greedy %d, optimum %d", trial, a.Weight, g.Weight, best)
		}
		if a.Weight == best {
			optimal++
		}
		if a.Weight > g.Weight {
			beat++
		}
	}
	t.Logf("mixed quantities: optimal on %d of %d, strictly better than greedy on %d", optimal, trials, beat)
}

func TestProposeCities(t *testing.T) {
	for _, mixed := range []bool{false, true} {
		name := map[bool]string{false: "hour-needs", true: "mixed-needs"}[mixed]
		t.Run(name, func(t *testing.T) {
			cfg := testConfig()
			strictly := 0
			const seeds = 8
			for seed := uint64(1); seed <= seeds; seed++ {
				needs, offers, f := generate(seed, genParams{needs: 3000, offers: 1200, cities: cities, spreadKm: 8, mixed: mixed})
				cands := candidates(needs, offers, f, cfg, 20)
				a, err := matching.Propose(needs, offers, cands)
				if err != nil {
					t.Fatal(err)
				}
				g, err := matching.Greedy(needs, offers, cands)
				if err != nil {
					t.Fatal(err)
				}
				checkFeasible(t, needs, offers, cands, a)
				checkFeasible(t, needs, offers, cands, g)
				if a.Exact == mixed {
					t.Errorf("seed %d: Exact = %v with mixed = %v", seed, a.Exact, mixed)
				}
				if a.Weight < g.Weight {
					t.Fatalf("seed %d: Propose total %.6f below greedy %.6f", seed, a.Total, g.Total)
				}
				if a.Weight > g.Weight {
					strictly++
				}
				assigned := func(a matching.Assignment) (n int) {
					for _, j := range a.Offer {
						if j >= 0 {
							n++
						}
					}
					return n
				}
				t.Logf("seed %d: propose %.3f (%d assigned), greedy %.3f (%d assigned), ratio %.5f",
					seed, a.Total, assigned(a), g.Total, assigned(g), a.Total/g.Total)
			}
			if strictly == 0 {
				t.Errorf("Propose never beat greedy on %d seeds", seeds)
			}
		})
	}
}

func TestProposeDeterministic(t *testing.T) {
	cfg := testConfig()
	needs, offers, f := generate(11, genParams{needs: 1000, offers: 400, cities: cities, spreadKm: 8})
	cands := candidates(needs, offers, f, cfg, 20)
	a, _ := matching.Propose(needs, offers, cands)
	b, _ := matching.Propose(needs, offers, cands)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two runs on the same input differ")
	}
}

func TestProposeInvalid(t *testing.T) {
	needs := []matching.Listing{{ID: "n", Kind: matching.Need, Quantity: 100}}
	offers := []matching.Listing{{ID: "o", Kind: matching.Offer, Quantity: 100}}
	tests := []struct {
		name  string
		needs []matching.Listing
		cands [][]matching.Candidate
	}{
		{"lists do not match needs", needs, nil},
		{"offer out of range", needs, [][]matching.Candidate{{{Offer: 1}}}},
		{"negative offer", needs, [][]matching.Candidate{{{Offer: -1}}}},
		{"need without quantity", []matching.Listing{{ID: "n", Kind: matching.Need}}, [][]matching.Candidate{nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := matching.Propose(tt.needs, offers, tt.cands); !errors.Is(err, matching.ErrInvalid) {
				t.Errorf("Propose: got %v, want ErrInvalid", err)
			}
			if _, err := matching.Greedy(tt.needs, offers, tt.cands); !errors.Is(err, matching.ErrInvalid) {
				t.Errorf("Greedy: got %v, want ErrInvalid", err)
			}
		})
	}
}
