package matching_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mutual-ledger/mutual/exchange/matching"
)

// weightOf is a candidate's integer weight per centi-hour.
func weightOf(c matching.Candidate) int64 {
	return int64(math.Round(c.Score.Total * matching.WeightScale))
}

// checkSplit fails t unless s uses only candidate pairs, each once, never
// gives a need more than its quantity or takes from an offer more than its
// quantity, and adds up its Weight and Covered.
func checkSplit(t *testing.T, needs, offers []matching.Listing, cands [][]matching.Candidate, s matching.Split) {
	t.Helper()
	got := make([]int64, len(needs))
	gave := make([]int64, len(offers))
	seen := map[[2]int]bool{}
	var weight, covered int64
	for _, p := range s.Pieces {
		if p.Quantity <= 0 {
			t.Fatalf("piece %+v has no quantity", p)
		}
		if seen[[2]int{p.Need, p.Offer}] {
			t.Fatalf("pair %d→%d appears twice", p.Need, p.Offer)
		}
		seen[[2]int{p.Need, p.Offer}] = true
		w := int64(-1)
		for _, c := range cands[p.Need] {
			if c.Offer == p.Offer {
				w = max(w, weightOf(c))
			}
		}
		if w < 0 || w != p.Weight {
			t.Fatalf("piece %+v: not a candidate pair or wrong weight (candidate weight %d)", p, w)
		}
		got[p.Need] += p.Quantity
		gave[p.Offer] += p.Quantity
		weight += p.Weight * p.Quantity
		covered += p.Quantity
	}
	for i, q := range got {
		if q > needs[i].Quantity {
			t.Fatalf("need %s given %d centi-hours, asked for %d", needs[i].ID, q, needs[i].Quantity)
		}
	}
	for j, q := range gave {
		if q > max(offers[j].Quantity, 0) {
			t.Fatalf("offer %s gives %d centi-hours, holds %d", offers[j].ID, q, offers[j].Quantity)
		}
	}
	if weight != s.Weight || covered != s.Covered || !near(s.Total, float64(weight)/matching.WeightScale/100) {
		t.Fatalf("split reports weight %d covered %d total %v; its pieces add up to %d, %d", s.Weight, s.Covered, s.Total, weight, covered)
	}
}

// bruteSplit is the best Weight of any split restricted to cands, found by
// trying every quantity on every candidate pair (in steps of step
// centi-hours, which all quantities are multiples of).
func bruteSplit(needs, offers []matching.Listing, cands [][]matching.Candidate, step int64) int64 {
	type pair struct {
		need, offer int
		w           int64
	}
	var pairs []pair
	for i, cs := range cands {
		for _, c := range cs {
			pairs = append(pairs, pair{i, c.Offer, weightOf(c)})
		}
	}
	needLeft := make([]int64, len(needs))
	for i, n := range needs {
		needLeft[i] = n.Quantity
	}
	offerLeft := make([]int64, len(offers))
	for j, o := range offers {
		offerLeft[j] = max(o.Quantity, 0)
	}
	var best int64
	var rec func(k int, sum int64)
	rec = func(k int, sum int64) {
		if k == len(pairs) {
			best = max(best, sum)
			return
		}
		p := pairs[k]
		for q := int64(0); q <= min(needLeft[p.need], offerLeft[p.offer]); q += step {
			needLeft[p.need] -= q
			offerLeft[p.offer] -= q
			rec(k+1, sum+max(p.w, 0)*q)
			needLeft[p.need] += q
			offerLeft[p.offer] += q
		}
	}
	rec(0, 0)
	return best
}

// tinySplit builds a random instance of up to 4 needs and 3 offers whose
// quantities are small multiples of step, with candidate scores drawn from
// a few values so that ties are common.
func tinySplit(r *rand.Rand, step int64) (needs, offers []matching.Listing, cands [][]matching.Candidate) {
	nn, no := 1+r.IntN(4), 1+r.IntN(3)
	for j := range no {
		offers = append(offers, matching.Listing{ID: string(rune('A' + j)), Kind: matching.Offer, Quantity: step * int64(r.IntN(5))})
	}
	for i := range nn {
		needs = append(needs, matching.Listing{ID: string(rune('a' + i)), Kind: matching.Need, Quantity: step * int64(1+r.IntN(4))})
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

// TestProposeSplitOptimalTiny compares ProposeSplit with every possible
// split on small instances, in whole centi-hours and in half hours.
func TestProposeSplitOptimalTiny(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	split, beat := 0, 0
	const trials = 3000
	for trial := range trials {
		step := int64(1)
		if trial%2 == 1 {
			step = 50
		}
		needs, offers, cands := tinySplit(r, step)
		s, err := matching.ProposeSplit(needs, offers, cands)
		if err != nil {
			t.Fatal(err)
		}
		checkSplit(t, needs, offers, cands, s)
		if best := bruteSplit(needs, offers, cands, step); s.Weight != best {
			t.Fatalf("trial %d: ProposeSplit weight %d, optimum %d\nneeds %+v\noffers %+v\ncands %+v\nsplit %+v",
				trial, s.Weight, best, needs, offers, cands, s)
		}
		g, err := matching.GreedySplit(needs, offers, cands)
		if err != nil {
			t.Fatal(err)
		}
		checkSplit(t, needs, offers, cands, g)
		noNegativeCycle(t, needs, offers, cands, s)
		if g.Weight < s.Weight {
			beat++
			// The certificate check must see that greedy is not optimal.
			if optimalByResidual(needs, offers, cands, g) {
				t.Fatalf("trial %d: greedy's split (weight %d < %d) passes the optimality certificate", trial, g.Weight, s.Weight)
			}
		}
		servedBy := map[int]int{}
		for _, p := range s.Pieces {
			servedBy[p.Need]++
		}
		for _, k := range servedBy {
			if k > 1 {
				split++
				break
			}
		}
	}
	if split == 0 || beat == 0 {
		t.Fatalf("no instance split a need (%d) or beat greedy (%d): the instances test too little", split, beat)
	}
	t.Logf("optimal on %d tiny instances; a need split across offers in %d, strictly better than greedy in %d", trials, split, beat)
}

// noNegativeCycle checks a split's optimality certificate independently of
// how it was found: a flow is of minimum cost (maximum weight) exactly when
// its residual network has no cycle of negative cost. It runs Bellman-Ford
// from a virtual source joined to every node at cost 0 and fails t if it
// still relaxes after |V| rounds.
func noNegativeCycle(t *testing.T, needs, offers []matching.Listing, cands [][]matching.Candidate, s matching.Split) {
	t.Helper()
	if !optimalByResidual(needs, offers, cands, s) {
		t.Fatalf("the residual network has a negative cycle: the split is not optimal")
	}
}

// optimalByResidual reports whether s's residual network has no negative
// cycle (see noNegativeCycle).
func optimalByResidual(needs, offers []matching.Listing, cands [][]matching.Candidate, s matching.Split) bool {
	n, m := len(needs), len(offers)
	sink := n + m
	type arc struct {
		from, to int
		cost     int64
	}
	var arcs []arc
	flow := map[[2]int]int64{}
	got := make([]int64, n)
	used := make([]int64, m)
	for _, p := range s.Pieces {
		flow[[2]int{p.Need, p.Offer}] = p.Quantity
		got[p.Need] += p.Quantity
		used[p.Offer] += p.Quantity
	}
	for i, cs := range cands {
		best := map[int]int64{}
		for _, c := range cs {
			if w := weightOf(c); w > 0 && offers[c.Offer].Quantity > 0 {
				best[c.Offer] = max(best[c.Offer], w)
			}
		}
		for j, w := range best {
			// Serving one more centi-hour of i from j gains w; the costs
			// are the negated weights (a need's unserved arc costs 0).
			arcs = append(arcs, arc{i, n + j, -w})
			if flow[[2]int{i, j}] > 0 {
				arcs = append(arcs, arc{n + j, i, w})
			}
		}
		arcs = append(arcs, arc{i, sink, 0})
		if got[i] < needs[i].Quantity {
			arcs = append(arcs, arc{sink, i, 0})
		}
	}
	for j, o := range offers {
		if used[j] < max(o.Quantity, 0) {
			arcs = append(arcs, arc{n + j, sink, 0})
		}
		if used[j] > 0 {
			arcs = append(arcs, arc{sink, n + j, 0})
		}
	}
	d := make([]int64, n+m+1) // all 0: the virtual source
	for round := 0; ; round++ {
		changed := false
		for _, a := range arcs {
			if d[a.from]+a.cost < d[a.to] {
				d[a.to] = d[a.from] + a.cost
				changed = true
			}
		}
		if !changed {
			return true
		}
		if round > n+m+1 {
			return false
		}
	}
}

// TestProposeSplitCities: on generated cities of thousands of listings,
// the split proposal is optimal (its residual network has no negative
// cycle), stays within every quantity, weighs at least as much as the
// whole-cover assignment (which is one of the splits it chose among) and
// as the greedy split, and meets more hours of need than the whole-cover
// assignment on every seed.
func TestProposeSplitCities(t *testing.T) {
	cfg := testConfig()
	const seeds = 6
	for seed := uint64(1); seed <= seeds; seed++ {
		needs, offers, f := generate(seed, genParams{needs: 3000, offers: 1200, cities: cities, spreadKm: 8, mixed: true})
		cands := candidates(needs, offers, f, cfg, 20)
		s, err := matching.ProposeSplit(needs, offers, cands)
		if err != nil {
			t.Fatal(err)
		}
		checkSplit(t, needs, offers, cands, s)
		noNegativeCycle(t, needs, offers, cands, s)
		g, err := matching.GreedySplit(needs, offers, cands)
		if err != nil {
			t.Fatal(err)
		}
		checkSplit(t, needs, offers, cands, g)
		whole, err := matching.Propose(needs, offers, cands)
		if err != nil {
			t.Fatal(err)
		}
		checkFeasible(t, needs, offers, cands, whole)
		var wholeCovered, wholeWeight int64
		for i, j := range whole.Offer {
			if j < 0 {
				continue
			}
			var w int64
			for _, c := range cands[i] {
				if c.Offer == j {
					w = max(w, weightOf(c))
				}
			}
			wholeCovered += needs[i].Quantity
			wholeWeight += w * needs[i].Quantity
		}
		if s.Weight < wholeWeight || s.Weight < g.Weight {
			t.Fatalf("seed %d: split weight %d below whole cover's %d or greedy's %d", seed, s.Weight, wholeWeight, g.Weight)
		}
		if s.Covered <= wholeCovered {
			t.Fatalf("seed %d: split covers %d centi-hours, whole cover %d: want more", seed, s.Covered, wholeCovered)
		}
		var asked int64
		for _, n := range needs {
			asked += n.Quantity
		}
		t.Logf("seed %d: of %.0f h asked, split meets %.2f h (%d pieces), whole cover %.2f h, greedy split %.2f h; weight split/greedy %.5f",
			seed, float64(asked)/100, float64(s.Covered)/100, len(s.Pieces), float64(wholeCovered)/100, float64(g.Covered)/100,
			float64(s.Weight)/float64(g.Weight))
	}
}

func TestProposeSplitInvalid(t *testing.T) {
	needs := []matching.Listing{{ID: "n", Kind: matching.Need, Quantity: 100}}
	offers := []matching.Listing{{ID: "o", Kind: matching.Offer, Quantity: 100}}
	huge := []matching.Listing{{ID: "n", Kind: matching.Need, Quantity: math.MaxInt64 / 2}}
	tests := []struct {
		name  string
		needs []matching.Listing
		cands [][]matching.Candidate
	}{
		{"lists do not match needs", needs, nil},
		{"offer out of range", needs, [][]matching.Candidate{{{Offer: 1}}}},
		{"need without quantity", []matching.Listing{{ID: "n", Kind: matching.Need}}, [][]matching.Candidate{nil}},
		{"needs too large to weigh", huge, [][]matching.Candidate{nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := matching.ProposeSplit(tt.needs, offers, tt.cands); !errors.Is(err, matching.ErrInvalid) {
				t.Errorf("ProposeSplit: got %v, want ErrInvalid", err)
			}
			if _, err := matching.GreedySplit(tt.needs, offers, tt.cands); !errors.Is(err, matching.ErrInvalid) {
				t.Errorf("GreedySplit: got %v, want ErrInvalid", err)
			}
		})
	}
}
