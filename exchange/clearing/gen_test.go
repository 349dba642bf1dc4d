package clearing_test

import (
	"math"
	"math/rand/v2"
	"sort"

	"github.com/mutual-ledger/mutual/exchange/clearing"
)

// network describes a generated local economy.
type network struct {
	firms, obligations int
	towns              int     // locality clusters
	local              float64 // share of obligations inside a town
	alpha              float64 // Pareto tail of firm sizes (degrees follow it)
	median             float64 // median invoice, in currency units
	sigma              float64 // log-normal spread of invoices
	creditShare        float64 // credit limit as a share of what a firm owes
	supplyChain        bool    // buyers pick sellers' sectors by buys, not uniformly
}

// Sectors of a local economy and what each buys from which (rows: buyer,
// the debtor; columns: seller): producers, processors, shops, services.
// Debt mostly runs up the supply chain, so it is far less cyclic than
// uniform trade; services and shops close the loops.
var buys = [4][4]float64{
	{0.05, 0.30, 0.15, 0.50},
	{0.60, 0.05, 0.05, 0.30},
	{0.20, 0.55, 0.05, 0.20},
	{0.05, 0.15, 0.40, 0.40},
}

// sardex is a network like Sardex's: about 3,200 firms in Sardinian towns,
// most trade local, a few large firms trading with many, invoices from a
// few euros to tens of thousands (median 400 EUR).
var sardex = network{firms: 3200, obligations: 138_000, towns: 40, local: 0.7, alpha: 1.2, median: 400, sigma: 1.3, creditShare: 0.2, supplyChain: true}

// generate draws a network: each firm has a Pareto size, sits in a town,
// and each obligation's debtor and creditor are drawn by size, the creditor
// from the debtor's town with probability local. Amounts are log-normal
// cents. Every firm gets a credit line of creditShare of what it owes (and
// may receive without a cap), as if it had joined a mutual-credit circuit
// with limits proportional to its purchases.
func generate(seed uint64, nw network) clearing.Problem {
	r := rand.New(rand.NewPCG(seed, 0x5a4d))
	sectors := 1
	if nw.supplyChain {
		sectors = len(buys)
	}
	size := make([]float64, nw.firms)
	town := make([]int, nw.firms)
	sector := make([]int, nw.firms)
	all := make([]int32, nw.firms)
	bySector := make([][]int32, sectors)
	byTown := make([][][]int32, nw.towns)
	for t := range byTown {
		byTown[t] = make([][]int32, sectors)
	}
	for i := range size {
		all[i] = int32(i)
		size[i] = math.Pow(1-r.Float64(), -1/nw.alpha) // Pareto, minimum 1
		town[i] = r.IntN(nw.towns)
		sector[i] = r.IntN(sectors)
		bySector[sector[i]] = append(bySector[sector[i]], int32(i))
		byTown[town[i]][sector[i]] = append(byTown[town[i]][sector[i]], int32(i))
	}
	pickAll := sampler(all, size)
	pickSector := make([]func(*rand.Rand) int32, sectors)
	for k, fs := range bySector {
		if len(fs) > 0 {
			pickSector[k] = sampler(fs, size)
		}
	}
	pickTown := make([][]func(*rand.Rand) int32, nw.towns)
	for t := range byTown {
		pickTown[t] = make([]func(*rand.Rand) int32, sectors)
		for k, fs := range byTown[t] {
			if len(fs) > 0 {
				pickTown[t][k] = sampler(fs, size)
			}
		}
	}
	p := clearing.Problem{N: nw.firms}
	owes := make([]int64, nw.firms)
	for len(p.Obligations) < nw.obligations {
		d := pickAll(r)
		k := 0
		if nw.supplyChain {
			x := r.Float64()
			for k = 0; k < sectors-1 && x >= buys[sector[d]][k]; k++ {
				x -= buys[sector[d]][k]
			}
		}
		var c int32
		if pick := pickTown[town[d]][k]; pick != nil && r.Float64() < nw.local {
			c = pick(r)
		} else if pickSector[k] != nil {
			c = pickSector[k](r)
		} else {
			continue
		}
		if c == d {
			continue
		}
		cents := int64(math.Round(nw.median * 100 * math.Exp(nw.sigma*r.NormFloat64())))
		cents = max(cents, 1)
		p.Obligations = append(p.Obligations, clearing.Obligation{Debtor: d, Creditor: c, Amount: cents})
		owes[d] += cents
	}
	if nw.creditShare > 0 {
		for i, o := range owes {
			p.Lines = append(p.Lines, clearing.Line{Participant: int32(i), Pay: int64(float64(o) * nw.creditShare), Receive: math.MaxInt64})
		}
	}
	return p
}

// sampler draws from ids with probability proportional to weight.
func sampler(ids []int32, weight []float64) func(*rand.Rand) int32 {
	cum := make([]float64, len(ids))
	var sum float64
	for k, id := range ids {
		sum += weight[id]
		cum[k] = sum
	}
	return func(r *rand.Rand) int32 {
		return ids[sort.SearchFloat64s(cum, r.Float64()*sum)]
	}
}

// withoutLines is p with no credit lines: set-off alone.
func withoutLines(p clearing.Problem) clearing.Problem {
	p.Lines = nil
	return p
}
