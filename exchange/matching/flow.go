package matching

import "math"

// flow solves the max-weight b-matching in which need i takes one slot of an
// offer along one of its edges (or stays unassigned) and offer j has
// slots[j] slots. It returns, per need, the index of its chosen edge or -1.
//
// It is a min-cost flow: a sink T, edge need→offer of cost W−w, offer→T of
// capacity slots and cost 0, and need→T ("unassigned") of cost W, where W is
// the largest weight. Every need sends exactly one unit through exactly one
// of its W-shifted edges, so minimizing cost is maximizing weight, and all
// costs start non-negative. Needs are added one at a time (the Hungarian
// method's order); each is routed along a shortest residual path to T found
// by Dijkstra on reduced costs. The flow stays min-cost for the needs added so
// far because potentials keep every residual reduced cost non-negative (no
// negative cycle). Dijkstra stops when T is settled; nodes settled before T
// move their potential by d(v)−d(T) and the others keep theirs, which
// preserves that invariant while touching only the nodes searched.
func flow(n, m int, edges []edge, slots []int64) []int32 {
	// Adjacency of needs, in CSR form.
	start := make([]int32, n+1)
	for _, e := range edges {
		start[e.need+1]++
	}
	for i := range n {
		start[i+1] += start[i]
	}
	adj := make([]int32, len(edges))
	fill := make([]int32, n)
	copy(fill, start[:n])
	var W int64 = 1
	for k, e := range edges {
		adj[fill[e.need]] = int32(k)
		fill[e.need]++
		W = max(W, e.w)
	}

	// Nodes: needs 0..n-1, offers n..n+m-1, sink n+m.
	t := int32(n + m)
	pi := make([]int64, n+m+1)
	dist := make([]int64, n+m+1)
	for v := range dist {
		dist[v] = math.MaxInt64
	}
	via := make([]int32, n+m+1)   // offer: edge it was reached by; T: node it was reached from
	chosen := make([]int32, n)    // need → edge index, or -1
	members := make([][]int32, m) // offer → needs assigned to it
	pos := make([]int32, n)       // need's position in members of its offer
	done := make([]bool, n+m+1)   // settled in this search
	var touched, settled []int32
	var h minHeap

	move := func(i int32, k int32) { // reassign need i to edge k (or -1)
		if old := chosen[i]; old >= 0 {
			o := edges[old].offer
			ms := members[o]
			last := ms[len(ms)-1]
			ms[pos[i]] = last
			pos[last] = pos[i]
			members[o] = ms[:len(ms)-1]
		}
		chosen[i] = k
		if k >= 0 {
			o := edges[k].offer
			pos[i] = int32(len(members[o]))
			members[o] = append(members[o], i)
		}
	}

	for s := range int32(n) {
		chosen[s] = -1
		if start[s] == start[s+1] {
			continue // no candidates: stays unassigned
		}
		relax := func(v int32, d int64, from int32) {
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
			if v < int32(n) { // a need: out along unused edges, or to T
				for _, k := range adj[start[v]:start[v+1]] {
					if k == chosen[v] {
						continue
					}
					o := int32(n) + edges[k].offer
					relax(o, d+W-edges[k].w+pi[v]-pi[o], k)
				}
				relax(t, d+W+pi[v]-pi[t], v)
				continue
			}
			j := v - int32(n) // an offer: back along assigned needs, or to T
			for _, i := range members[j] {
				k := chosen[i]
				relax(i, d-(W-edges[k].w)+pi[v]-pi[i], -1)
			}
			if int64(len(members[j])) < slots[j] {
				relax(t, d+pi[v]-pi[t], v)
			}
		}

		// Augment along the path, from T back to s.
		x := via[t]
		if x < int32(n) { // ends by leaving need x unassigned
			prev := chosen[x]
			move(x, -1)
			if x == s {
				goto potentials
			}
			x = int32(n) + edges[prev].offer
		}
		for {
			k := via[x]
			i := edges[k].need
			prev := chosen[i]
			move(i, k)
			if i == s {
				break
			}
			x = int32(n) + edges[prev].offer
		}

	potentials:
		dt := dist[t]
		for _, v := range settled {
			pi[v] += dist[v] - dt
		}
		for _, v := range touched {
			dist[v] = math.MaxInt64
			done[v] = false
		}
		touched, settled = touched[:0], settled[:0]
		h.reset()
	}
	return chosen
}

// minHeap is a binary heap of (distance, node), ties by node for determinism.
type minHeap struct {
	d []int64
	v []int32
}

func (h *minHeap) len() int { return len(h.d) }
func (h *minHeap) reset()   { h.d, h.v = h.d[:0], h.v[:0] }

func (h *minHeap) less(a, b int) bool {
	return h.d[a] < h.d[b] || h.d[a] == h.d[b] && h.v[a] < h.v[b]
}

func (h *minHeap) swap(a, b int) {
	h.d[a], h.d[b] = h.d[b], h.d[a]
	h.v[a], h.v[b] = h.v[b], h.v[a]
}

func (h *minHeap) push(d int64, v int32) {
	h.d = append(h.d, d)
	h.v = append(h.v, v)
	for c := len(h.d) - 1; c > 0; {
		p := (c - 1) / 2
		if !h.less(c, p) {
			break
		}
		h.swap(c, p)
		c = p
	}
}

func (h *minHeap) pop() (int64, int32) {
	d, v := h.d[0], h.v[0]
	last := len(h.d) - 1
	h.swap(0, last)
	h.d, h.v = h.d[:last], h.v[:last]
	for p := 0; ; {
		c := 2*p + 1
		if c >= last {
			break
		}
		if c+1 < last && h.less(c+1, c) {
			c++
		}
		if !h.less(c, p) {
			break
		}
		h.swap(c, p)
		p = c
	}
	return d, v
}
