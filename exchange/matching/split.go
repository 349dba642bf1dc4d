package matching

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Piece is part of a need served by part of an offer: Quantity centi-hours
// of Needs[Need] given from Offers[Offer].
type Piece struct {
	Need, Offer int
	Quantity    int64
	// Weight is the pair's integer weight per centi-hour,
	// round(Score.Total × WeightScale).
	Weight int64
}

// Split is a proposed assignment in which a need may be served by several
// offers and an offer may serve several needs, each in part.
type Split struct {
	// Pieces are ordered by need, then offer; each pair appears once.
	Pieces []Piece
	// Weight is Σ Piece.Weight × Piece.Quantity, and Total the same sum as
	// a score in hours, Weight / WeightScale / 100: a pair of score 0.8
	// serving 2 h adds 1.6.
	Weight int64
	Total  float64
	// Covered is the centi-hours of need the pieces serve.
	Covered int64
}

// maxSplitQuantity bounds the sum of the needs' quantities (in centi-hours)
// so that Weight, at most WeightScale per centi-hour, fits an int64.
const maxSplitQuantity int64 = math.MaxInt64 / (2 * int64(WeightScale))

// ProposeSplit returns the split assignment that maximizes Weight over the
// candidate pairs in cands (cands[i] are the candidates of needs[i]): no
// need gets more than its quantity, no offer gives more than its quantity,
// and no other choice of quantities has a larger Weight. The quantities are
// a flow: it is solved exactly as a min-cost flow by successive shortest
// paths, and the linear program's integrality means the optimum over
// centi-hours is also the optimum over any finer split.
//
// It returns an error wrapping ErrInvalid if len(cands) != len(needs), a
// candidate's offer position is out of range, a need's quantity is not
// positive, or the needs ask for more than about 46 million hours together.
// Offers of quantity zero or less simply serve nothing.
func ProposeSplit(needs, offers []Listing, cands [][]Candidate) (Split, error) {
	edges, err := collectSplit(needs, offers, cands)
	if err != nil {
		return Split{}, err
	}
	x := splitFlow(needs, offers, edges)
	return finishSplit(edges, x), nil
}

// GreedySplit is the baseline ProposeSplit is measured against: it takes
// candidate pairs from the highest weight down (ties by need ID, then offer
// ID) and gives each as much as both sides have left. It returns the same
// errors as ProposeSplit.
func GreedySplit(needs, offers []Listing, cands [][]Candidate) (Split, error) {
	edges, err := collectSplit(needs, offers, cands)
	if err != nil {
		return Split{}, err
	}
	order := make([]int32, len(edges))
	for k := range order {
		order[k] = int32(k)
	}
	slices.SortFunc(order, func(a, b int32) int {
		ea, eb := edges[a], edges[b]
		return cmp.Or(cmp.Compare(eb.w, ea.w),
			cmp.Compare(needs[ea.need].ID, needs[eb.need].ID),
			cmp.Compare(offers[ea.offer].ID, offers[eb.offer].ID),
			cmp.Compare(a, b))
	})
	needLeft := make([]int64, len(needs))
	for i, n := range needs {
		needLeft[i] = n.Quantity
	}
	offerLeft := make([]int64, len(offers))
	for j, o := range offers {
		offerLeft[j] = max(o.Quantity, 0)
	}
	x := make([]int64, len(edges))
	for _, k := range order {
		e := edges[k]
		q := min(needLeft[e.need], offerLeft[e.offer])
		x[k] = q
		needLeft[e.need] -= q
		offerLeft[e.offer] -= q
	}
	return finishSplit(edges, x), nil
}

// collectSplit validates the input and returns one edge per distinct pair
// with a positive weight, grouped by need in need order.
func collectSplit(needs, offers []Listing, cands [][]Candidate) ([]edge, error) {
	if len(cands) != len(needs) {
		return nil, fmt.Errorf("%w: %d candidate lists for %d needs", ErrInvalid, len(cands), len(needs))
	}
	var total int64
	k := 0
	for _, cs := range cands {
		k += len(cs)
	}
	edges := make([]edge, 0, k)
	for i, cs := range cands {
		q := needs[i].Quantity
		if q <= 0 {
			return nil, fmt.Errorf("%w: need %q has quantity %d", ErrInvalid, needs[i].ID, q)
		}
		if total += q; total > maxSplitQuantity {
			return nil, fmt.Errorf("%w: the needs ask for more than %d centi-hours together", ErrInvalid, maxSplitQuantity)
		}
		start := len(edges)
		for _, c := range cs {
			if c.Offer < 0 || c.Offer >= len(offers) {
				return nil, fmt.Errorf("%w: need %q: candidate offer %d out of range", ErrInvalid, needs[i].ID, c.Offer)
			}
			w := int64(math.Round(c.Score.Total * WeightScale))
			if w <= 0 || offers[c.Offer].Quantity <= 0 {
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

// finishSplit turns a flow on the edges into a Split.
func finishSplit(edges []edge, x []int64) Split {
	var s Split
	for k, e := range edges {
		if x[k] <= 0 {
			continue
		}
		s.Pieces = append(s.Pieces, Piece{Need: int(e.need), Offer: int(e.offer), Quantity: x[k], Weight: e.w})
		s.Weight += e.w * x[k]
		s.Covered += x[k]
	}
	slices.SortFunc(s.Pieces, func(a, b Piece) int { return cmp.Or(cmp.Compare(a.Need, b.Need), cmp.Compare(a.Offer, b.Offer)) })
	s.Total = float64(s.Weight) / WeightScale / 100
	return s
}

// splitFlow returns the flow on each edge of a maximum-weight split.
//
// The network: each need i has a supply of its quantity q_i that must reach
// a sink T, either along an edge i→j to an offer (cost W−w per
// centi-hour, W the largest weight) and on through j→T (capacity the
// offer's quantity, cost 0), or along i→T, "unserved", at cost W. Every
// centi-hour pays W once on its way, so a minimum-cost flow is a
// maximum-weight split, and all costs start non-negative. Needs are added
// one at a time; each is routed along shortest residual paths to T
// (Dijkstra on reduced costs, stopped when T is settled), each path
// carrying as much as its narrowest arc allows, until the need's supply is
// placed. Potentials keep every residual reduced cost non-negative, so the
// flow stays of minimum cost for the needs added so far, and is optimal at
// the end. Nodes settled before T move their potential by d(v)−d(T) and the
// others keep theirs, which keeps that invariant while touching only the
// nodes searched.
func splitFlow(needs, offers []Listing, edges []edge) []int64 {
	n, m := len(needs), len(offers)
	// Edges are grouped by need already (collectSplit appends in need
	// order): start[i]..start[i+1] are need i's.
	start := make([]int32, n+1)
	for _, e := range edges {
		start[e.need+1]++
	}
	for i := range n {
		start[i+1] += start[i]
	}
	var W int64 = 1
	for _, e := range edges {
		W = max(W, e.w)
	}
	// The edges with flow at each offer, to walk back along.
	x := make([]int64, len(edges))
	at := make([][]int32, m) // offer → edges with flow
	where := make([]int32, len(edges))
	used := make([]int64, m)
	capOf := make([]int64, m)
	for j, o := range offers {
		capOf[j] = max(o.Quantity, 0)
	}
	addFlow := func(k int32, d int64) {
		o := edges[k].offer
		if x[k] == 0 && d > 0 {
			where[k] = int32(len(at[o]))
			at[o] = append(at[o], k)
		}
		x[k] += d
		used[o] += d
		if x[k] == 0 {
			list := at[o]
			last := list[len(list)-1]
			list[where[k]] = last
			where[last] = where[k]
			at[o] = list[:len(list)-1]
		}
	}

	// Nodes: needs 0..n-1, offers n..n+m-1, sink n+m.
	t := int32(n + m)
	pi := make([]int64, n+m+1)
	dist := make([]int64, n+m+1)
	for v := range dist {
		dist[v] = math.MaxInt64
	}
	// via: for an offer, the edge it was reached by (from its need); for a
	// need, the edge it was reached by backwards (from that edge's offer);
	// for T, the node it was reached from.
	via := make([]int32, n+m+1)
	done := make([]bool, n+m+1)
	var touched, settled []int32
	var h minHeap

	// Needs are added heaviest first: the early ones then mostly keep
	// their best offers, and later paths reroute less. The order changes
	// how fast the optimum is reached, not the optimum.
	order := make([]int32, n)
	best := make([]int64, n)
	for i := range order {
		order[i] = int32(i)
		for k := start[i]; k < start[i+1]; k++ {
			best[i] = max(best[i], edges[k].w)
		}
	}
	slices.SortStableFunc(order, func(a, b int32) int { return cmp.Compare(best[b], best[a]) })
	for _, s := range order {
		left := needs[s].Quantity
		if start[s] == start[s+1] {
			continue // no candidates: unserved
		}
		for left > 0 {
			relax := func(v int32, d int64, from int32) {
				// With every reduced cost non-negative, a node no nearer
				// than T's best path so far cannot lead to a shorter one:
				// it is left untouched (and keeps its potential).
				if v != t && dist[t] != math.MaxInt64 && d >= dist[t] {
					return
				}
				if d < dist[v] {
					if dist[v] == math.MaxInt64 {
						touched = append(touched, v)
					}
					dist[v] = d
					via[v] = from
					h.push(d, v)
				}
			}
			relax(s, 0, -1)
			for h.len() > 0 {
				d, v := h.pop()
				if done[v] || d > dist[v] {
					continue
				}
				done[v] = true
				settled = append(settled, v)
				if v == t {
					break
				}
				if v < int32(n) { // a need: out along its edges, or unserved
					for k := start[v]; k < start[v+1]; k++ {
						o := int32(n) + edges[k].offer
						relax(o, d+W-edges[k].w+pi[v]-pi[o], k)
					}
					relax(t, d+W+pi[v]-pi[t], v)
					continue
				}
				j := v - int32(n) // an offer: back along its flow, or on to T
				for _, k := range at[j] {
					i := edges[k].need
					relax(i, d-(W-edges[k].w)+pi[v]-pi[i], k)
				}
				if used[j] < capOf[j] {
					relax(t, d+pi[v]-pi[t], v)
				}
			}

			// The path's capacity, walking back from T.
			push := left
			v := via[t]
			if v >= int32(n) { // into T through an offer
				push = min(push, capOf[v-int32(n)]-used[v-int32(n)])
			}
			for u := v; u != s; {
				if u >= int32(n) { // an offer reached by edge k from its need
					u = edges[via[u]].need
				} else { // a need reached backwards along edge k
					k := via[u]
					push = min(push, x[k])
					u = int32(n) + edges[k].offer
				}
			}
			// Augment.
			for u := v; u != s; {
				if u >= int32(n) {
					k := via[u]
					addFlow(k, push)
					u = edges[k].need
				} else {
					k := via[u]
					addFlow(k, -push)
					u = int32(n) + edges[k].offer
				}
			}
			// A path that ends at a need other than s leaves push of that
			// need unserved: s's centi-hours took their place on the way.
			left -= push

			dt := dist[t]
			for _, u := range settled {
				pi[u] += dist[u] - dt
			}
			for _, u := range touched {
				dist[u] = math.MaxInt64
				done[u] = false
			}
			touched, settled = touched[:0], settled[:0]
			h.reset()
		}
	}
	return x
}
