package clearing

import "math"

const inf = math.MaxInt64

// graph is a residual network in compressed sparse rows: the arcs leaving
// node u are start[u]..start[u+1]-1, each paired with its reverse (rev).
// Costs are 0 or 1 on forward arcs and their negation on reverse arcs.
type graph struct {
	nodes int
	// Edges as added, before build.
	from, to []int32
	ecap     []int64
	ecost    []int8
	// Arcs.
	start []int32
	head  []int32
	cap   []int64
	cost  []int8
	rev   []int32
	pos   []int32 // edge → its forward arc
	// Potentials and per-phase scratch.
	pi      []int64
	dist    []int64
	level   []int32
	it      []int32
	queue   []int32
	buckets [][]int32
	touched []int32
	// The arcs of reduced cost zero, by tail, for the current phase: the
	// only ones a phase's max flow may use (with room), fixed while the
	// potentials are.
	zstart []int32
	zarc   []int32
	zhead  []int32 // head of zarc[k], laid out alongside for the scans
}

func newGraph(nodes, edges int) *graph {
	return &graph{
		nodes: nodes,
		from:  make([]int32, 0, edges),
		to:    make([]int32, 0, edges),
		ecap:  make([]int64, 0, edges),
		ecost: make([]int8, 0, edges),
	}
}

// add adds an edge u→v and returns its index.
func (g *graph) add(u, v int32, capacity int64, cost int8) int32 {
	g.from = append(g.from, u)
	g.to = append(g.to, v)
	g.ecap = append(g.ecap, capacity)
	g.ecost = append(g.ecost, cost)
	return int32(len(g.from) - 1)
}

// build lays the edges out as arcs and frees the edge lists.
func (g *graph) build() {
	n, m := g.nodes, len(g.from)
	g.start = make([]int32, n+1)
	for k := range m {
		g.start[g.from[k]+1]++
		g.start[g.to[k]+1]++
	}
	for v := range n {
		g.start[v+1] += g.start[v]
	}
	fill := make([]int32, n)
	copy(fill, g.start[:n])
	g.head = make([]int32, 2*m)
	g.cap = make([]int64, 2*m)
	g.cost = make([]int8, 2*m)
	g.rev = make([]int32, 2*m)
	g.pos = make([]int32, m)
	for k := range m {
		u, v := g.from[k], g.to[k]
		a, b := fill[u], fill[v]
		fill[u]++
		fill[v]++
		g.head[a], g.cap[a], g.cost[a], g.rev[a] = v, g.ecap[k], g.ecost[k], b
		g.head[b], g.cap[b], g.cost[b], g.rev[b] = u, 0, -g.ecost[k], a
		g.pos[k] = a
	}
	g.from, g.to, g.ecap, g.ecost = nil, nil, nil, nil
	g.pi = make([]int64, n)
	g.dist = make([]int64, n)
	for v := range g.dist {
		g.dist[v] = inf
	}
	g.level = make([]int32, n)
	g.it = make([]int32, n)
	g.queue = make([]int32, 0, n)
	g.zstart = make([]int32, n+1)
}

// minCostFlow sends supply units from s to t at minimum cost by the
// primal-dual method and returns the number of phases. The caller
// guarantees that supply can reach t (clearing nothing is always feasible).
func (g *graph) minCostFlow(s, t int32, supply int64) int {
	var flow int64
	phases := 0
	for flow < supply {
		if !g.shortest(s, t) {
			panic("clearing: the net debt cannot reach the net creditors, which clearing nothing would")
		}
		phases++
		flow += g.maxflow(s, t)
	}
	return phases
}

// shortest computes distances from s on reduced costs with a bucket queue
// (Dial's algorithm: reduced costs are small non-negative integers), stops
// once every node as close as t is settled, and raises every potential by
// min(dist, dist(t)). That keeps every residual reduced cost non-negative
// and makes the arcs of the cheapest s–t paths exactly those of reduced
// cost zero. It then lists those arcs between settled nodes in zarc: no
// path of zero reduced cost from s leaves the settled nodes, even as this
// phase's flow opens reverse arcs (those join settled nodes), since an arc
// x→y of zero reduced cost out of them would give y a distance at most
// dist(t). It reports false if t is unreachable.
func (g *graph) shortest(s, t int32) bool {
	for _, v := range g.touched {
		g.dist[v] = inf
	}
	g.touched = g.touched[:0]
	for d := range g.buckets {
		g.buckets[d] = g.buckets[d][:0]
	}
	push := func(d int64, v int32) {
		for int64(len(g.buckets)) <= d {
			g.buckets = append(g.buckets, nil)
		}
		g.buckets[d] = append(g.buckets[d], v)
	}
	g.dist[s] = 0
	g.touched = append(g.touched, s)
	push(0, s)
	dt := int64(inf)
	for d := int64(0); d < int64(len(g.buckets)) && d <= dt; d++ {
		// Arcs of reduced cost zero append to the bucket being scanned.
		for j := 0; j < len(g.buckets[d]); j++ {
			u := g.buckets[d][j]
			if g.dist[u] != d {
				continue // a stale entry, or already scanned
			}
			g.dist[u] = -1 - d // settled: remembers d, never matches again
			if u == t {
				dt = d
			}
			pu := g.pi[u]
			for a := g.start[u]; a < g.start[u+1]; a++ {
				if g.cap[a] == 0 {
					continue
				}
				w := g.head[a]
				nd := d + int64(g.cost[a]) + pu - g.pi[w]
				if nd < g.dist[w] {
					if g.dist[w] == inf {
						g.touched = append(g.touched, w)
					}
					g.dist[w] = nd
					push(nd, w)
				}
			}
		}
	}
	if dt == inf {
		return false
	}
	for v := range g.pi {
		d := g.dist[v]
		if d < 0 {
			d = -1 - d
		}
		g.pi[v] += min(d, dt)
	}
	g.zarc, g.zhead = g.zarc[:0], g.zhead[:0]
	for u := range int32(g.nodes) {
		g.zstart[u] = int32(len(g.zarc))
		if g.dist[u] >= 0 {
			continue // not settled
		}
		pu := g.pi[u]
		for a := g.start[u]; a < g.start[u+1]; a++ {
			if w := g.head[a]; g.dist[w] < 0 && int64(g.cost[a])+pu == g.pi[w] {
				g.zarc = append(g.zarc, a)
				g.zhead = append(g.zhead, w)
			}
		}
	}
	g.zstart[g.nodes] = int32(len(g.zarc))
	return true
}

// maxflow pushes a maximum flow from s to t through the arcs of zarc
// (Dinic: BFS levels, then blocking flows) and returns its value.
func (g *graph) maxflow(s, t int32) int64 {
	var total int64
	for g.levels(s, t) {
		copy(g.it, g.zstart[:g.nodes])
		for {
			f := g.push(s, t, inf)
			if f == 0 {
				break
			}
			total += f
		}
	}
	return total
}

// levels labels nodes with their hop distance from s over admissible arcs,
// up to t's, and reports whether t is reached.
func (g *graph) levels(s, t int32) bool {
	for v := range g.level {
		g.level[v] = -1
	}
	q := append(g.queue[:0], s)
	g.level[s] = 0
	for i := 0; i < len(q); i++ {
		u := q[i]
		if g.level[t] >= 0 && g.level[u] >= g.level[t] {
			break
		}
		lu := g.level[u] + 1
		for k := g.zstart[u]; k < g.zstart[u+1]; k++ {
			w := g.zhead[k]
			if g.level[w] < 0 && g.cap[g.zarc[k]] > 0 {
				g.level[w] = lu
				q = append(q, w)
			}
		}
	}
	g.queue = q
	return g.level[t] >= 0
}

// push sends up to f from u to t along admissible arcs that climb one
// level each, advancing u's current arc past the ones used up, and returns
// what it sent. A node that cannot pass on all it was offered is blocked
// for the rest of the round.
func (g *graph) push(u, t int32, f int64) int64 {
	if u == t {
		return f
	}
	var sent int64
	for ; g.it[u] < g.zstart[u+1]; g.it[u]++ {
		w := g.zhead[g.it[u]]
		if g.level[w] != g.level[u]+1 {
			continue
		}
		a := g.zarc[g.it[u]]
		if g.cap[a] == 0 {
			continue
		}
		d := g.push(w, t, min(f-sent, g.cap[a]))
		if d > 0 {
			g.cap[a] -= d
			g.cap[g.rev[a]] += d
			sent += d
			if sent == f {
				return sent
			}
		}
	}
	g.level[u] = -1
	return sent
}
