// Package matching ranks offers for a need and proposes an assignment of
// offers to needs. It is pure computation over in-memory listings: the
// listings store and the HTTP endpoints load open listings and call it.
//
// # Score
//
// Score(need, offer) combines five parts, each in [0, 1]:
//
//	category  1 if same category, else cfg.Related[need.Category][offer.Category] (the fit, in (0, 1))
//	distance  1 - d/r, d the haversine distance in km and r the need's reach
//	          (need.MaxKm, else cfg.MaxKm): 1 at 0 km, 0 at r; 1 for a remote offer
//	overlap   the fraction of the need's window in which the offer is given (its
//	          window and its weekly hours, in its zone); 1 when either is available any time
//	urgency   need.Urgency / 3 (urgency clamped to 0..3)
//	fairness  ½·h/(h+received(need.Owner)) + ½·h/(h+asked(offer.Owner)), h = cfg.FairnessHalf
//
// and Total = Σ wᵢ·partᵢ / Σ wᵢ with the non-negative weights of cfg.Weights,
// so Total is also in [0, 1]. A pair is a candidate only if the kinds are a
// need and an offer from different owners, the category part is positive,
// d ≤ r unless the offer is remote, the overlap is positive unless the need
// is flexible, and both quantities are positive. An offer smaller than the
// need is a candidate for part of it: Breakdown.Cover is the part.
// Quantities are int64 centi-hours (hundredths of an hour), never floats;
// callers pass what is left of each listing, not what it first asked for.
// Ranked lists put the offers of the need's own category before those of
// related ones, each by score; Reasons explains a score in codes and figures.
//
// # Assignment
//
// ProposeSplit chooses how many centi-hours each candidate pair gives,
// maximizing Σ weight × quantity: a need may be served by several offers
// and an offer may serve several needs, each never beyond its quantity.
// Quantities are a flow, so this is solved exactly as a min-cost flow
// (successive shortest paths, as below, each path carrying what its
// narrowest arc allows).
//
// Propose chooses need→offer pairs among given candidates maximizing the sum
// of scores, each need served at most once and wholly, each offer serving at
// most its quantity. When every need asks for the same quantity q this is a
// max-weight b-matching (offer j has ⌊quantity/q⌋ slots), which Propose
// solves exactly as a min-cost flow by successive shortest paths (Dijkstra
// with potentials and early termination). With mixed quantities the problem
// is a generalized assignment problem (NP-hard); Propose then solves the
// flow relaxation, repairs it to fit capacities and returns the better of
// that and Greedy, and says so in Assignment.Exact.
package matching
