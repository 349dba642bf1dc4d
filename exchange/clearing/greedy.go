package clearing

// Greedy clears p's obligations by repeated cycle cancellation, ignoring
// its lines: depth-first search finds a cycle of debts still open, its
// smallest remainder is cancelled all round, and the search goes on from
// the cycle's first obligation left at zero. It is what a spreadsheet
// procedure would do, and the baseline Clear is measured against: it keeps
// positions unchanged but can stop short of the optimum. Its Potential is
// nil (it proves nothing). It returns the same errors as Clear.
func Greedy(p Problem) (Result, error) {
	if _, _, err := validate(p); err != nil {
		return Result{}, err
	}
	n := p.N
	start := make([]int32, n+1)
	for _, o := range p.Obligations {
		start[o.Debtor+1]++
	}
	for v := range n {
		start[v+1] += start[v]
	}
	arcs := make([]int32, len(p.Obligations)) // obligations by debtor
	fill := append([]int32(nil), start[:n]...)
	for k, o := range p.Obligations {
		arcs[fill[o.Debtor]] = int32(k)
		fill[o.Debtor]++
	}
	rem := make([]int64, len(p.Obligations))
	for k, o := range p.Obligations {
		rem[k] = o.Amount
	}
	it := append([]int32(nil), start[:n]...)
	const (
		unseen = iota
		onPath
		done // no cycle of open debts passes through it, and none will
	)
	state := make([]uint8, n)
	at := make([]int32, n) // position on the path
	var path, via []int32  // nodes, and the obligation taken out of each
	for root := range int32(n) {
		if state[root] != unseen {
			continue
		}
		path, via = append(path[:0], root), via[:0]
		state[root], at[root] = onPath, 0
		for len(path) > 0 {
			u := path[len(path)-1]
			for it[u] < start[u+1] && (rem[arcs[it[u]]] == 0 || state[p.Obligations[arcs[it[u]]].Creditor] == done) {
				it[u]++
			}
			if it[u] == start[u+1] {
				state[u] = done
				path = path[:len(path)-1]
				if len(via) > 0 {
					via = via[:len(via)-1]
				}
				continue
			}
			k := arcs[it[u]]
			v := p.Obligations[k].Creditor
			if state[v] == unseen {
				state[v], at[v] = onPath, int32(len(path))
				path, via = append(path, v), append(via, k)
				continue
			}
			// A cycle: path[at[v]:] and back to v along k.
			via = append(via, k)
			cycle := via[at[v]:]
			least := rem[cycle[0]]
			for _, e := range cycle {
				least = min(least, rem[e])
			}
			cut := -1
			for j, e := range cycle {
				rem[e] -= least
				if rem[e] == 0 && cut < 0 {
					cut = j
				}
			}
			// Go back to the tail of the first obligation used up; the
			// nodes after it leave the path, not done.
			keep := int(at[v]) + cut + 1
			for _, w := range path[keep:] {
				state[w] = unseen
			}
			path, via = path[:keep], via[:keep-1]
		}
	}
	r := Result{Cleared: make([]int64, len(p.Obligations))}
	for k, o := range p.Obligations {
		r.Cleared[k] = o.Amount - rem[k]
		r.Total += r.Cleared[k]
	}
	if len(p.Lines) > 0 {
		r.Pay = make([]int64, n)
	}
	return r, nil
}
