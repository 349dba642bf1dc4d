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

// entry is what Rank reads of an indexed offer before it looks at the
// offer itself: where it is (with the cosine of its latitude, which the
// haversine distance needs and which is the same for every need), who
// posted it, and its position. Entries of a cell lie side by side, so
// scanning a city reads them in order instead of jumping between listings
// of a few hundred bytes each, which was most of ranking's time.
type entry struct {
	lat, lon, cos float64
	// from and to are the offer's Start and End in Unix seconds when it
	// has a window and no weekly hours (timed), so that an offer given
	// wholly before or after a need is turned down without reading it.
	from, to int64
	timed    bool
	owner    int32 // position in Index.owners' numbering; -1 for none
	i        int32 // position in Index.offers
}

// Index holds open offers bucketed by category and by a 0.5° grid, so that
// ranking one need scans only offers in its category (and related ones)
// whose cells can lie within the need's reach, and the remote offers of
// those categories. An Index is immutable after NewIndex and safe for
// concurrent use.
type Index struct {
	offers []Listing
	cfg    Config
	cells  map[string]map[cell][]entry
	remote map[string][]entry
	// owners numbers the offers' owners, so that "not with oneself" is a
	// comparison of numbers.
	owners map[string]int32
}

// NewIndex indexes offers for ranking with cfg. Listings that are not offers
// are skipped; candidates refer to offers by their position in this slice.
// The slice must not be modified while the Index is in use.
func NewIndex(offers []Listing, cfg Config) *Index {
	ix := &Index{offers: offers, cfg: cfg, cells: make(map[string]map[cell][]entry),
		remote: make(map[string][]entry), owners: make(map[string]int32)}
	for i, o := range offers {
		// An offer with nothing left is never a candidate (see score).
		if o.Kind != Offer || o.Quantity <= 0 {
			continue
		}
		e := entry{lat: o.Lat, lon: o.Lon, cos: math.Cos(o.Lat * rad), owner: -1, i: int32(i),
			from: o.Start.Unix(), to: o.End.Unix(), timed: len(o.Weekly) == 0 && !(o.Start.IsZero() && o.End.IsZero())}
		if o.Owner != "" {
			n, ok := ix.owners[o.Owner]
			if !ok {
				n = int32(len(ix.owners))
				ix.owners[o.Owner] = n
			}
			e.owner = n
		}
		if o.Remote {
			ix.remote[o.Category] = append(ix.remote[o.Category], e)
			continue
		}
		byCell := ix.cells[o.Category]
		if byCell == nil {
			byCell = make(map[cell][]entry)
			ix.cells[o.Category] = byCell
		}
		c := cell{latCell(o.Lat), lonCell(o.Lon)}
		byCell[c] = append(byCell[c], e)
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
//
// It gives exactly Rank's candidates and breakdowns, but most offers are
// turned down before score looks at them: the offer's owner is compared as
// a number; the distance is the haversine of score with the cosines of the
// latitudes computed once (so the same figure, bit for bit); and once k
// candidates are kept, an offer whose score could not reach the worst kept
// even with its time overlap and fairness parts at their maximum of 1 is
// dropped without reading its hours or the fairness maps.
func (ix *Index) Rank(need Listing, f Fairness, k int) []Candidate {
	reach := need.reach(ix.cfg)
	if need.Kind != Need || reach <= 0 {
		return nil
	}
	top := &topK{k: k}
	if need.Quantity <= 0 {
		return top.sorted()
	}
	// Bounding box of the need's reach, widened a little against rounding.
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

	r := ranker{ix: ix, need: &need, f: f, top: top, reach: reach, cos: math.Cos(need.Lat * rad), owner: -2}
	if need.Owner != "" {
		if n, ok := ix.owners[need.Owner]; ok {
			r.owner = n
		}
	}
	// Farther than this in latitude is out of reach for sure, with room
	// for rounding (see scan).
	r.maxDLat = reach/earthKm/rad*(1+1e-9) + 1e-9
	w := ix.cfg.Weights
	r.wc, r.wd, r.wo, r.wu, r.wf = max(w.Category, 0), max(w.Distance, 0), max(w.Overlap, 0), max(w.Urgency, 0), max(w.Fairness, 0)
	r.urgency = float64(min(max(need.Urgency, 0), 3)) / 3
	r.timed = !need.Flexible && !(need.Start.IsZero() && need.End.IsZero())
	// A need whose End is not after its Start is an instant, its Start.
	r.from, r.to = need.Start.Unix(), max(need.End.Unix(), need.Start.Unix())

	// The need's own category first: its candidates rank above every
	// related one, so once k of them are kept the related ones are
	// skipped whole.
	cats := []string{need.Category}
	for c := range ix.cfg.Related[need.Category] {
		if c != need.Category {
			cats = append(cats, c)
		}
	}
	for _, cat := range cats {
		r.fit, r.related = 1, false
		if cat != need.Category {
			r.fit, r.related = ix.cfg.Related[need.Category][cat], true
			if !(r.fit > 0 && r.fit < 1) {
				continue // not a relation score accepts
			}
		}
		r.scan(ix.remote[cat], true)
		byCell := ix.cells[cat]
		if byCell == nil {
			continue
		}
		if allLon {
			for c, es := range byCell {
				if c.lat >= cyLo && c.lat <= cyHi {
					r.scan(es, false)
				}
			}
			continue
		}
		cxLo := int(math.Floor((lonLo + 180) / cellDeg))
		cxHi := int(math.Floor((lonHi + 180) / cellDeg))
		for cy := cyLo; cy <= cyHi; cy++ {
			for cx := cxLo; cx <= cxHi; cx++ {
				r.scan(byCell[cell{cy, int32(((cx % lonCells) + lonCells) % lonCells)}], false)
			}
		}
	}
	return top.sorted()
}

// ranker is one Index.Rank: the need, and what every offer's score shares.
type ranker struct {
	ix    *Index
	need  *Listing
	f     Fairness
	top   *topK
	reach float64
	cos   float64 // of the need's latitude
	owner int32   // the need's owner in Index.owners; -2 for none
	// maxDLat is the difference of latitude, in degrees, beyond which an
	// offer is out of reach.
	maxDLat float64
	// The weights as score clamps them, and the need's urgency part.
	wc, wd, wo, wu, wf float64
	urgency            float64
	// timed says that the need has a window and is not flexible: an offer
	// whose own window (from, to: Unix seconds) ends before it starts or
	// starts after it ends is no candidate.
	timed    bool
	from, to int64
	// The category being scanned: its fit, and whether it is related.
	fit     float64
	related bool
}

// bound is the best Total an offer of the category being scanned could
// score with this distance and overlap part: score's weighted mean with
// fairness at its maximum of 1.
func (r *ranker) bound(distance, overlap float64) float64 {
	if sum := r.wc + r.wd + r.wo + r.wu + r.wf; sum > 0 {
		return (r.wc*r.fit + r.wd*distance + r.wo*overlap + r.wu*r.urgency + r.wf*1) / sum
	}
	return 0
}

// scan offers the entries of one category (remote ones, or one cell's) to
// the top k.
func (r *ranker) scan(es []entry, remote bool) {
	need, top := r.need, r.top
	for idx := range es {
		e := &es[idx]
		if e.owner == r.owner {
			continue
		}
		full := top.k > 0 && len(top.h) >= top.k
		if full && r.related && !top.h[0].Score.Related {
			return // every kept candidate is of the need's own category
		}
		// Given wholly before or after the need: no overlap (a Unix second
		// strictly before another is an instant strictly before).
		if r.timed && e.timed && (e.to < r.from || e.from > r.to) {
			continue
		}
		bounded := full && r.related == top.h[0].Score.Related
		if !remote && e.cos >= 0 && r.cos >= 0 {
			// A great-circle distance is at least the difference of
			// latitudes (times the radius) when both lie within ±90° (a
			// point given past a pole is measured over it).
			dLat := math.Abs(e.lat - need.Lat)
			if dLat > r.maxDLat {
				continue
			}
			if bounded && r.bound(1-dLat*rad*earthKm/r.reach*(1-1e-9), 1) < top.h[0].Score.Total {
				continue
			}
		}
		km := haversineCos(need.Lat, need.Lon, r.cos, e.lat, e.lon, e.cos)
		if math.IsNaN(km) {
			continue
		}
		distance := 1.0
		if !remote {
			if !(km <= r.reach) {
				continue
			}
			distance = 1 - km/r.reach
		}
		// Below the worst kept of the same kind even at best: the
		// overlap and fairness parts are at most 1, and every step of
		// the weighted mean rounds monotonically, so this bound is at
		// least the score's Total.
		if bounded && r.bound(distance, 1) < top.h[0].Score.Total {
			continue
		}
		o := &r.ix.offers[e.i]
		// The hours next, before the fairness maps: most offers near a
		// need are given at other times.
		part, _ := availability(need, o)
		if part <= 0 && !need.Flexible {
			continue
		}
		if bounded && r.bound(distance, part) < top.h[0].Score.Total {
			continue
		}
		if b, ok := score(need, o, r.f, r.ix.cfg); ok {
			top.add(Candidate{Offer: int(e.i), OfferID: o.ID, Score: b})
		}
	}
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
