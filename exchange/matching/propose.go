package matching

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// WeightScale converts a score to the integer weight that Propose and Greedy
// maximize: weight = round(Total × WeightScale). Integers keep the flow
// exact; a billionth is far below any difference people care about.
const WeightScale = 1e9

// Assignment is a proposed set of need→offer pairs.
type Assignment struct {
	// Offer[i] is the position in offers of the offer assigned to needs[i],
	// or -1 if the need is left unassigned.
	Offer []int
	// Weight is the sum of the assigned pairs' integer weights (see
	// WeightScale); Total is the same sum as a score, Weight / WeightScale.
	Weight int64
	Total  float64
	// Exact reports whether the assignment is proven optimal: true when all
	// needs ask for the same quantity, false for the mixed-quantity heuristic
	// and for Greedy.
	Exact bool
}

// edge is one candidate pair with its weight.
type edge struct {
	need, offer int32
	w           int64
}

// Propose returns an assignment of offers to needs maximizing the total
// weight, choosing only pairs from cands (cands[i] are the candidates of
// needs[i], as returned by Rank or Index.Rank over offers). Each need is
// assigned at most once, wholly; the quantities of the needs assigned to an
// offer never exceed its quantity.
//
// If all needs have the same quantity the result is optimal (Exact). With
// mixed quantities it is a heuristic whose Weight is never below Greedy's.
//
// Propose returns an error wrapping ErrInvalid if len(cands) != len(needs),
// a candidate's offer position is out of range, or a need's quantity is not
// positive.
func Propose(needs, offers []Listing, cands [][]Candidate) (Assignment, error) {
	edges, err := collect(needs, offers, cands)
	if err != nil {
		return Assignment{}, err
	}
	uniform := true
	for _, n := range needs {
		uniform = uniform && n.Quantity == needs[0].Quantity
	}
	slots := make([]int64, len(offers))
	if uniform {
		for j, o := range offers {
			if len(needs) > 0 {
				slots[j] = max(o.Quantity, 0) / needs[0].Quantity
			}
		}
		a := finish(flow(len(needs), len(offers), edges, slots), edges)
		a.Exact = true
		return a, nil
	}

	// Mixed quantities: a generalized assignment problem. Solve two slot
	// models exactly and make each fit: an optimistic one (each offer has as
	// many slots as its smallest candidate need allows), repaired by dropping
	// the lightest needs that overflow, and a cautious one (as many slots as
	// its largest candidate need allows), always feasible; both are then
	// topped up greedily. The best of these and Greedy is returned.
	minQ := make([]int64, len(offers))
	maxQ := make([]int64, len(offers))
	for _, e := range edges {
		q := needs[e.need].Quantity
		if minQ[e.offer] == 0 || q < minQ[e.offer] {
			minQ[e.offer] = q
		}
		maxQ[e.offer] = max(maxQ[e.offer], q)
	}
	best := finish(greedy(needs, offers, edges, nil), edges)
	for _, perOffer := range [][]int64{minQ, maxQ} {
		for j, o := range offers {
			slots[j] = 0
			if perOffer[j] > 0 {
				slots[j] = max(o.Quantity, 0) / perOffer[j]
			}
		}
		relaxed := flow(len(needs), len(offers), edges, slots)
		if a := finish(repair(needs, offers, edges, relaxed), edges); a.Weight > best.Weight {
			best = a
		}
	}
	return best, nil
}

// Greedy is the baseline Propose is measured against: it takes candidate
// pairs from the highest weight down (ties by need ID, then offer ID) when the
// need is still unassigned and the offer has room. It returns the same errors
// as Propose.
func Greedy(needs, offers []Listing, cands [][]Candidate) (Assignment, error) {
	edges, err := collect(needs, offers, cands)
	if err != nil {
		return Assignment{}, err
	}
	return finish(greedy(needs, offers, edges, nil), edges), nil
}

// collect validates the input and returns one edge per distinct pair with a
// positive weight (a pair of weight zero never improves the total).
func collect(needs, offers []Listing, cands [][]Candidate) ([]edge, error) {
	if len(cands) != len(needs) {
		return nil, fmt.Errorf("%w: %d candidate lists for %d needs", ErrInvalid, len(cands), len(needs))
	}
	var edges []edge
	for i, cs := range cands {
		if needs[i].Quantity <= 0 {
			return nil, fmt.Errorf("%w: need %q has quantity %d", ErrInvalid, needs[i].ID, needs[i].Quantity)
		}
		start := len(edges)
		for _, c := range cs {
			if c.Offer < 0 || c.Offer >= len(offers) {
				return nil, fmt.Errorf("%w: need %q: candidate offer %d out of range", ErrInvalid, needs[i].ID, c.Offer)
			}
			w := int64(math.Round(c.Score.Total * WeightScale))
			if w <= 0 || offers[c.Offer].Quantity < needs[i].Quantity {
				continue
			}
			dup := false
			for k := start; k < len(edges); k++ {
				if edges[k].offer == int32(c.Offer) {
					edges[k].w = max(edges[k].w, w)
					dup = true
				}
			}
			if !dup {
				edges = append(edges, edge{int32(i), int32(c.Offer), w})
			}
		}
	}
	return edges, nil
}

// finish turns a choice of one edge index (or -1) per need into an Assignment.
func finish(chosen []int32, edges []edge) Assignment {
	a := Assignment{Offer: make([]int, len(chosen))}
	for i, e := range chosen {
		a.Offer[i] = -1
		if e >= 0 {
			a.Offer[i] = int(edges[e].offer)
			a.Weight += edges[e].w
		}
	}
	a.Total = float64(a.Weight) / WeightScale
	return a
}

// greedy assigns, heaviest edge first, the needs not already in chosen
// (nil: none) to offers with room left after chosen. It returns edge indices.
func greedy(needs, offers []Listing, edges []edge, chosen []int32) []int32 {
	left := make([]int64, len(offers))
	for j, o := range offers {
		left[j] = o.Quantity
	}
	if chosen == nil {
		chosen = make([]int32, len(needs))
		for i := range chosen {
			chosen[i] = -1
		}
	}
	for i, e := range chosen {
		if e >= 0 {
			left[edges[e].offer] -= needs[i].Quantity
		}
	}
	order := make([]int32, len(edges))
	for k := range order {
		order[k] = int32(k)
	}
	slices.SortFunc(order, func(a, b int32) int {
		ea, eb := edges[a], edges[b]
		if c := cmp.Compare(eb.w, ea.w); c != 0 {
			return c
		}
		if c := cmp.Compare(needs[ea.need].ID, needs[eb.need].ID); c != 0 {
			return c
		}
		if c := cmp.Compare(offers[ea.offer].ID, offers[eb.offer].ID); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	for _, k := range order {
		e := edges[k]
		if chosen[e.need] < 0 && left[e.offer] >= needs[e.need].Quantity {
			chosen[e.need] = k
			left[e.offer] -= needs[e.need].Quantity
		}
	}
	return chosen
}

// repair makes a relaxed choice fit the offers' quantities: each offer keeps
// its heaviest needs while they fit, and the needs dropped (with those never
// assigned) are then placed greedily where room remains.
func repair(needs, offers []Listing, edges []edge, relaxed []int32) []int32 {
	byOffer := make([][]int32, len(offers))
	for i, e := range relaxed {
		if e >= 0 {
			byOffer[edges[e].offer] = append(byOffer[edges[e].offer], int32(i))
		}
	}
	chosen := make([]int32, len(needs))
	for i := range chosen {
		chosen[i] = -1
	}
	for j, is := range byOffer {
		slices.SortFunc(is, func(a, b int32) int {
			if c := cmp.Compare(edges[relaxed[b]].w, edges[relaxed[a]].w); c != 0 {
				return c
			}
			return cmp.Compare(a, b)
		})
		left := offers[j].Quantity
		for _, i := range is {
			if needs[i].Quantity <= left {
				left -= needs[i].Quantity
				chosen[i] = relaxed[i]
			}
		}
	}
	return greedy(needs, offers, edges, chosen)
}
