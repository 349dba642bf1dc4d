package clearing

import (
	"errors"
	"fmt"
	"math"
)

// ErrInvalid is wrapped by every error about a malformed Problem.
var ErrInvalid = errors.New("clearing: invalid input")

// Obligation says Debtor owes Creditor Amount minor units (Amount > 0).
// Debtor and Creditor are participant indexes in [0, N).
type Obligation struct {
	Debtor, Creditor int32
	Amount           int64
}

// Line is a participant's consent to clear through its mutual-credit
// account: it may pay up to Pay through the ledger (its balance less its
// credit limit, less what holds reserve) and receive up to Receive (its cap
// less its balance; math.MaxInt64 for no cap). Both are ≥ 0.
type Line struct {
	Participant int32
	Pay         int64
	Receive     int64
}

// Problem is one clearing: N participants, their obligations in one unit,
// and the credit lines of those that agreed to use them (at most one each).
type Problem struct {
	N           int
	Obligations []Obligation
	Lines       []Line
}

// Result is an optimal clearing of a Problem.
type Result struct {
	// Cleared[k] is how much of Obligations[k] is cancelled.
	Cleared []int64
	// Total is Σ Cleared: the debt cancelled.
	Total int64
	// Pay[i] is what participant i pays through the ledger (negative: what
	// it receives); nil when the problem has no lines. Σ Pay = 0.
	Pay []int64
	// Potential holds N+1 integers (the last for the ledger) certifying
	// optimality; see the package doc and Check.
	Potential []int64
	// Phases is how many shortest-path phases the solver ran.
	Phases int
}

// validate checks p and returns Σ Amount and the per-participant line
// index (−1 for none). It returns an error wrapping ErrInvalid for an index
// out of range, an obligation a participant owes itself, a non-positive
// amount, a negative line, two lines for one participant, or obligations
// whose total does not fit in int64.
func validate(p Problem) (int64, []int32, error) {
	if p.N < 0 || p.N >= math.MaxInt32-3 {
		return 0, nil, fmt.Errorf("%w: %d participants", ErrInvalid, p.N)
	}
	if len(p.Obligations) >= math.MaxInt32/2-2*p.N-8 {
		return 0, nil, fmt.Errorf("%w: %d obligations", ErrInvalid, len(p.Obligations))
	}
	var total int64
	for k, o := range p.Obligations {
		switch {
		case o.Debtor < 0 || int(o.Debtor) >= p.N || o.Creditor < 0 || int(o.Creditor) >= p.N:
			return 0, nil, fmt.Errorf("%w: obligation %d: participant out of range", ErrInvalid, k)
		case o.Debtor == o.Creditor:
			return 0, nil, fmt.Errorf("%w: obligation %d: participant %d owes itself", ErrInvalid, k, o.Debtor)
		case o.Amount <= 0:
			return 0, nil, fmt.Errorf("%w: obligation %d: amount %d is not positive", ErrInvalid, k, o.Amount)
		case total > math.MaxInt64-o.Amount:
			return 0, nil, fmt.Errorf("%w: the obligations' total overflows int64", ErrInvalid)
		}
		total += o.Amount
	}
	line := make([]int32, p.N)
	for i := range line {
		line[i] = -1
	}
	for k, l := range p.Lines {
		switch {
		case l.Participant < 0 || int(l.Participant) >= p.N:
			return 0, nil, fmt.Errorf("%w: line %d: participant out of range", ErrInvalid, k)
		case line[l.Participant] >= 0:
			return 0, nil, fmt.Errorf("%w: line %d: participant %d has two lines", ErrInvalid, k, l.Participant)
		case l.Pay < 0 || l.Receive < 0:
			return 0, nil, fmt.Errorf("%w: line %d: negative room", ErrInvalid, k)
		}
		line[l.Participant] = int32(k)
	}
	return total, line, nil
}

// Clear returns a maximum clearing of p: the most debt that can be
// cancelled leaving every net position unchanged, using the credit lines
// of p.Lines. It returns an error wrapping ErrInvalid if p is malformed
// (see Problem); it never fails otherwise. Check(p, result) holds.
func Clear(p Problem) (Result, error) {
	total, _, err := validate(p)
	if err != nil {
		return Result{}, err
	}
	n := p.N
	ledger := int32(n) // the ledger node L (isolated without lines)
	s, t := ledger+1, ledger+2
	nodes := n + 3

	b := make([]int64, n)
	for _, o := range p.Obligations {
		b[o.Debtor] += o.Amount
		b[o.Creditor] -= o.Amount
	}
	m := len(p.Obligations) + 2*len(p.Lines)
	for _, x := range b {
		if x != 0 {
			m++
		}
	}
	// Obligations between the same debtor and creditor are one arc: they
	// have the same cost, so any split of the arc's clearing among them is
	// as good, and the certificate holds for each (they share a reduced
	// cost). In a trade network that is a third fewer arcs.
	merged, sums := mergeParallel(n, p.Obligations)
	g := newGraph(nodes, m)
	arcs := make([]int32, len(sums)) // edge of each merged pair
	for j, e := range sums {
		arcs[j] = g.add(e.Debtor, e.Creditor, e.Amount, 1)
	}
	pays := make([][2]int32, len(p.Lines)) // arcs i→L and L→i
	for k, l := range p.Lines {
		// An unbounded Receive is given as a huge number; nothing can
		// flow through L beyond the total debt, so clamp to keep sums safe.
		pays[k] = [2]int32{g.add(l.Participant, ledger, min(l.Pay, total), 0), g.add(ledger, l.Participant, min(l.Receive, total), 0)}
	}
	var supply int64
	for i, x := range b {
		if x > 0 {
			g.add(s, int32(i), x, 0)
			supply += x
		} else if x < 0 {
			g.add(int32(i), t, -x, 0)
		}
	}
	g.build()
	phases := g.minCostFlow(s, t, supply)

	r := Result{Cleared: make([]int64, len(p.Obligations)), Potential: make([]int64, n+1), Phases: phases}
	// An arc carries r; its residual capacity a − r is what is cleared,
	// shared out among its obligations in order.
	left := make([]int64, len(sums))
	for j := range sums {
		left[j] = g.cap[g.pos[arcs[j]]]
	}
	for k, o := range p.Obligations {
		j := merged[k]
		c := min(left[j], o.Amount)
		left[j] -= c
		r.Cleared[k] = c
		r.Total += c
	}
	if len(p.Lines) > 0 {
		r.Pay = make([]int64, n)
		for k, l := range p.Lines {
			out := min(l.Pay, total) - g.cap[g.pos[pays[k][0]]]
			in := min(l.Receive, total) - g.cap[g.pos[pays[k][1]]]
			r.Pay[l.Participant] = out - in
		}
	}
	// Shift potentials so the ledger's is zero: only differences matter,
	// and small numbers read better in a failing test.
	for i := range n + 1 {
		r.Potential[i] = g.pi[i] - g.pi[ledger]
	}
	return r, nil
}

// mergeParallel returns, for each obligation, the index of its (debtor,
// creditor) pair, and each pair with its amounts summed, in linear time.
func mergeParallel(n int, obls []Obligation) ([]int32, []Obligation) {
	start := make([]int32, n+1)
	for _, o := range obls {
		start[o.Debtor+1]++
	}
	for v := range n {
		start[v+1] += start[v]
	}
	byDebtor := make([]int32, len(obls))
	fill := append([]int32(nil), start[:n]...)
	for k, o := range obls {
		byDebtor[fill[o.Debtor]] = int32(k)
		fill[o.Debtor]++
	}
	merged := make([]int32, len(obls))
	var sums []Obligation
	last := make([]int32, n) // creditor → its pair's index for the current debtor, if ≥ first
	for v := range last {
		last[v] = -1
	}
	for u := range n {
		first := int32(len(sums))
		for _, k := range byDebtor[start[u]:start[u+1]] {
			o := obls[k]
			if j := last[o.Creditor]; j >= first {
				sums[j].Amount += o.Amount // no overflow: validate bounded the total
				merged[k] = j
				continue
			}
			last[o.Creditor] = int32(len(sums))
			merged[k] = int32(len(sums))
			sums = append(sums, o)
		}
	}
	return merged, sums
}

// Check verifies that r is a feasible and optimal clearing of p: bounds,
// positions unchanged (equation (1) of the package doc), ledger payments
// within the lines and balanced, Total = Σ Cleared, and the complementary
// slackness conditions on r.Potential that prove no other clearing cancels
// more. It returns nil or an error saying which condition fails.
func Check(p Problem, r Result) error {
	sum, line, err := validate(p)
	if err != nil {
		return err
	}
	n := p.N
	if len(r.Cleared) != len(p.Obligations) || len(r.Potential) != n+1 {
		return fmt.Errorf("clearing: result has %d cleared and %d potentials for %d obligations and %d participants",
			len(r.Cleared), len(r.Potential), len(p.Obligations), n)
	}
	if len(p.Lines) > 0 && len(r.Pay) != n || len(p.Lines) == 0 && r.Pay != nil {
		return fmt.Errorf("clearing: result has %d ledger payments for %d participants and %d lines", len(r.Pay), n, len(p.Lines))
	}
	pay := func(i int) int64 {
		if r.Pay == nil {
			return 0
		}
		return r.Pay[i]
	}
	pot := r.Potential
	net := make([]int64, n)
	var total int64
	for k, o := range p.Obligations {
		c := r.Cleared[k]
		if c < 0 || c > o.Amount {
			return fmt.Errorf("clearing: obligation %d cleared %d of %d", k, c, o.Amount)
		}
		total += c
		net[o.Debtor] += c
		net[o.Creditor] -= c
		// The residual arc u→v (cost 1) carries r = a − c.
		rc := 1 + pot[o.Debtor] - pot[o.Creditor]
		if rc > 0 && c != o.Amount || rc < 0 && c != 0 {
			return fmt.Errorf("clearing: obligation %d (%d→%d) cleared %d of %d with reduced cost %d: not optimal",
				k, o.Debtor, o.Creditor, c, o.Amount, rc)
		}
	}
	if total != r.Total {
		return fmt.Errorf("clearing: total %d, cleared amounts sum to %d", r.Total, total)
	}
	var paid int64
	for i := range n {
		x := pay(i)
		paid += x
		if net[i] != x {
			return fmt.Errorf("clearing: participant %d's position moves: cancelled %d it owed less what it was owed, paid %d through the ledger", i, net[i], x)
		}
		if line[i] < 0 {
			if x != 0 {
				return fmt.Errorf("clearing: participant %d has no line but pays %d", i, x)
			}
			continue
		}
		l := p.Lines[line[i]]
		if x > l.Pay || -x > l.Receive {
			return fmt.Errorf("clearing: participant %d pays %d, its line allows %d out and %d in", i, x, l.Pay, l.Receive)
		}
		// By (1) no one pays or receives more than the total debt, so a
		// line's room beyond it changes nothing: the certificate is for
		// the problem with the room clamped to it, which has the same
		// feasible clearings.
		l.Pay, l.Receive = min(l.Pay, sum), min(l.Receive, sum)
		out, in := max(x, 0), max(-x, 0)
		d := pot[i] - pot[n] // reduced cost of i→L; L→i has −d
		if d > 0 && out != 0 || d < 0 && out != l.Pay || -d > 0 && in != 0 || -d < 0 && in != l.Receive {
			return fmt.Errorf("clearing: participant %d pays %d through the ledger with reduced cost %d: not optimal", i, x, d)
		}
	}
	if paid != 0 {
		return fmt.Errorf("clearing: ledger payments sum to %d, not zero", paid)
	}
	return nil
}
