package matching

import (
	"cmp"
	"container/heap"
	"math"
	"slices"
)

// cellDeg is the side of a grid cell in degrees (about 55 km of latitude).
const cellDeg = 0.5

const (
	latCells = int(180 / cellDeg)
	lonCells = int(360 / cellDeg)
)

type cell struct{ lat, lon int32 }

// Index holds open offers bucketed by category and by a 0.5° grid, so that
// ranking one need scans only offers in its category (and related ones)
// whose cells can lie within the need's reach, and the remote offers of
// those categories. An Index is immutable after NewIndex and safe for
// concurrent use.
type Index struct {
	offers []Listing
	cfg    Config
	cells  map[string]map[cell][]int32
	remote map[string][]int32
}

// NewIndex indexes offers for ranking with cfg. Listings that are not offers
// are skipped; candidates refer to offers by their position in this slice.
// The slice must not be modified while the Index is in use.
func NewIndex(offers []Listing, cfg Config) *Index {
	ix := &Index{offers: offers, cfg: cfg, cells: make(map[string]map[cell][]int32), remote: make(map[string][]int32)}
	for i, o := range offers {
		if o.Kind != Offer {
			continue
		}
		if o.Remote {
			ix.remote[o.Category] = append(ix.remote[o.Category], int32(i))
			continue
		}
		byCell := ix.cells[o.Category]
		if byCell == nil {
			byCell = make(map[cell][]int32)
			ix.cells[o.Category] = byCell
		}
		c := cell{latCell(o.Lat), lonCell(o.Lon)}
		byCell[c] = append(byCell[c], int32(i))
	}
	return ix
}

func latCell(lat float64) int32 {
	return int32(min(max(int(math.Floor((lat+90)/cellDeg)), 0), latCells-1))
}

func lonCell(lon float64) int32 {
	c := int(math.Floor((lon + 180) / cellDeg))
	return int32(((c % lonCells) + lonCells) % lonCells)
}

// Rank returns the k best candidate offers for need, best first, as Rank
// over all indexed offers would (ties broken by offer ID, then position).
// k ≤ 0 returns every candidate.
func (ix *Index) Rank(need Listing, f Fairness, k int) []Candidate {
	reach := need.reach(ix.cfg)
	if need.Kind != Need || reach <= 0 {
		return nil
	}
	// Bounding box of the need's reach, widened a little against rounding.
	const rad = math.Pi / 180
	delta := reach / earthKm
	dLat := delta/rad + 1e-6
	latLo, latHi := need.Lat-dLat, need.Lat+dLat
	lonLo, lonHi, allLon := 0.0, 0.0, true
	if latLo > -90 && latHi < 90 {
		maxAbs := max(math.Abs(latLo), math.Abs(latHi))
		if r := math.Sin(delta) / math.Cos(maxAbs*rad); r < 1 {
			dLon := math.Asin(r)/rad + 1e-6
			lonLo, lonHi = need.Lon-dLon, need.Lon+dLon
			allLon = int(math.Floor((lonHi+180)/cellDeg))-int(math.Floor((lonLo+180)/cellDeg)) >= lonCells-1
		}
	}
	cyLo, cyHi := latCell(latLo), latCell(latHi)

	top := &topK{k: k}
	cats := []string{need.Category}
	for c := range ix.cfg.Related[need.Category] {
		if c != need.Category {
			cats = append(cats, c)
		}
	}
	for _, cat := range cats {
		score := func(is []int32) {
			for _, i := range is {
				if b, ok := score(&need, &ix.offers[i], f, ix.cfg); ok {
					top.add(Candidate{Offer: int(i), OfferID: ix.offers[i].ID, Score: b})
				}
			}
		}
		score(ix.remote[cat])
		byCell := ix.cells[cat]
		if byCell == nil {
			continue
		}
		scan := func(c cell) { score(byCell[c]) }
		if allLon {
			for c := range byCell {
				if c.lat >= cyLo && c.lat <= cyHi {
					scan(c)
				}
			}
			continue
		}
		cxLo := int(math.Floor((lonLo + 180) / cellDeg))
		cxHi := int(math.Floor((lonHi + 180) / cellDeg))
		for cy := cyLo; cy <= cyHi; cy++ {
			for cx := cxLo; cx <= cxHi; cx++ {
				scan(cell{cy, int32(((cx % lonCells) + lonCells) % lonCells)})
			}
		}
	}
	return top.sorted()
}

// Rank scores every offer for need and returns the k best candidates, best
// first, ties broken by offer ID, then position. k ≤ 0 returns all. It is the
// reference the Index must agree with.
func Rank(need Listing, offers []Listing, f Fairness, cfg Config, k int) []Candidate {
	top := &topK{k: k}
	for i, o := range offers {
		if b, ok := Score(need, o, f, cfg); ok {
			top.add(Candidate{Offer: i, OfferID: o.ID, Score: b})
		}
	}
	return top.sorted()
}

// better orders candidates best first: offers of the need's own category
// before those of a related one, then by score.
func better(a, b Candidate) int {
	if a.Score.Related != b.Score.Related {
		if b.Score.Related {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(b.Score.Total, a.Score.Total); c != 0 {
		return c
	}
	if c := cmp.Compare(a.OfferID, b.OfferID); c != 0 {
		return c
	}
	return cmp.Compare(a.Offer, b.Offer)
}

// topK keeps the k best candidates in a heap whose root is the worst kept.
type topK struct {
	k int
	h []Candidate
}

func (t *topK) Len() int           { return len(t.h) }
func (t *topK) Less(i, j int) bool { return better(t.h[i], t.h[j]) > 0 }
func (t *topK) Swap(i, j int)      { t.h[i], t.h[j] = t.h[j], t.h[i] }
func (t *topK) Push(x any)         { t.h = append(t.h, x.(Candidate)) }
func (t *topK) Pop() any {
	x := t.h[len(t.h)-1]
	t.h = t.h[:len(t.h)-1]
	return x
}

func (t *topK) add(c Candidate) {
	switch {
	case t.k <= 0 || len(t.h) < t.k:
		heap.Push(t, c)
	case better(c, t.h[0]) < 0:
		t.h[0] = c
		heap.Fix(t, 0)
	}
}

func (t *topK) sorted() []Candidate {
	slices.SortFunc(t.h, better)
	return t.h
}
