// Package clearing finds the largest multilateral set-off of debts among
// participants: how much of each obligation can be cancelled at once while
// every participant's net position (what it is owed minus what it owes) stays
// exactly what it was. It is pure computation over integer minor units (cents
// of a currency, hundredths of an hour): the exchange loads confirmed open
// obligations, calls Clear, and applies the result in one transaction.
//
// # The problem
//
// Participants 0..N-1 and obligations e = (u → v, a_e): u owes v a_e > 0.
// A set-off reduces each obligation by c_e, 0 ≤ c_e ≤ a_e. Reducing u → v by
// c_e lowers what u owes and what v is owed by the same amount, so u's net
// position rises by c_e and v's falls by c_e; positions are unchanged exactly
// when c is a circulation (for every participant, Σ c on the obligations it
// owes equals Σ c on those it is owed). Clear finds a circulation with
// Σ c_e maximal: the maximum circulation under the capacities a_e.
//
// With credit lines (Problem.Lines), a participant i that agreed may also
// pay through the ledger, its mutual-credit account going down by at most
// Line.Pay (down to its credit limit), or be paid through it, its account
// going up by at most Line.Receive (up to its cap). Ledger payments balance
// (Σ paid = Σ received, one ledger transfer), and each participant's position
// counting its ledger balance is unchanged:
//
//	Σ_{e out of i} c_e − Σ_{e into i} c_e = pay_i            (1)
//
// with −Receive_i ≤ pay_i ≤ Pay_i, pay_i = 0 without a line, Σ pay_i = 0.
// Only Σ c_e counts: ledger payments are the means, cancelled debt the end.
// A chain p owes a, a owes q, which set-off alone cannot touch, is cleared by
// p paying q through the ledger: c = x on both obligations, pay_p = x, pay_q = −x.
//
// # The reduction to a min-cost flow
//
// Write r_e = a_e − c_e for what is left of each obligation. Then (1) reads
// div(r) + div(ledger) = b, where b_i = Σ_{out} a_e − Σ_{in} a_e is i's net
// debt before clearing: r is a flow that carries each net debtor's net debt
// to the net creditors along obligations (capacity a_e, cost 1 per unit)
// and, through a ledger node L, along arcs i → L (capacity Pay_i, cost 0;
// flow = what i pays) and L → i (capacity Receive_i, cost 0; flow = what i
// receives). Σ c_e = Σ a_e − Σ r_e, so maximizing what is cleared is finding
// a feasible flow of minimum cost Σ r_e. One always exists (r = a, nothing
// cleared), so the problem is never infeasible.
//
// # The algorithm
//
// Clear solves that min-cost flow by the primal-dual method with unit
// costs. A source S feeds each net debtor its b_i, each net creditor drains
// −b_i into a sink T. Potentials π keep every residual arc's reduced cost
// cost + π(u) − π(v) non-negative; each phase computes shortest distances
// from S on reduced costs, which are small integers, with a bucket queue
// (Dial's algorithm, linear time, stopped once T is settled), raises π by
// min(d, d(T)), and then pushes a maximum flow through the arcs of reduced
// cost zero with Dinic's blocking flows (BFS levels, DFS with current-arc
// pointers). Each phase raises the cost of the cheapest S–T path by at
// least one, and that cost is at most the number of participants plus one,
// so the number of phases is bounded; in practice it is small, because
// set-off paths are short.
//
// # Why the result is optimal
//
// Clear returns the potentials (Result.Potential) as a certificate and Check
// verifies it independently. For any potentials π, any feasible flow r'
// satisfies, arc by arc (u → v, cost k, capacity a),
//
//	Σ k·r'  =  Σ (k + π(u) − π(v))·r'  −  Σ (π(u) − π(v))·r'
//	        =  Σ k̂·r'                  −  Σ_i π(i)·b_i
//
// because Σ over arcs of (π(u) − π(v))·r' = Σ_i π(i)·div(r')_i and div(r') = b
// is the same for every feasible flow. The last term is a constant, so r is a
// minimum if it minimizes Σ k̂·r' over the boxes 0 ≤ r' ≤ a, which it does
// term by term when k̂ > 0 ⇒ r = 0 and k̂ < 0 ⇒ r = a (complementary
// slackness; in residual terms: no residual arc of negative reduced cost,
// hence no negative cycle). Check tests exactly these conditions, in integer
// arithmetic, together with bounds and (1), so a result that passes Check
// is optimal whatever code produced it. The tests run Check on every
// result and also compare Clear with brute force on thousands of small
// instances.
//
// Greedy, repeated cancellation of any cycle found by depth-first search, is
// the baseline the tests and benchmarks compare with: it can stop short of
// the optimum because cancelling one cycle can break others that share an
// obligation.
package clearing
