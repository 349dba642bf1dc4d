package matching_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/mutual-ledger/mutual/exchange/matching"
)

var categories = []string{
	"childcare", "food", "transport", "repairs", "housing",
	"health", "language", "tech", "elder care", "gardening",
}

// popularity skews categories the way a time bank's listings are skewed.
var popularity = []int{14, 16, 10, 12, 6, 8, 8, 10, 10, 6}

var related = map[string]map[string]float64{
	"childcare":  {"elder care": 0.5},
	"elder care": {"health": 0.5, "childcare": 0.5},
	"health":     {"elder care": 0.5},
	"food":       {"gardening": 0.5},
	"gardening":  {"food": 0.5},
	"repairs":    {"housing": 0.5, "tech": 0.5},
	"housing":    {"repairs": 0.5},
	"transport":  {"repairs": 0.5},
	"language":   {"tech": 0.5},
	"tech":       {"language": 0.5},
}

type city struct {
	name     string
	lat, lon float64
}

var cities = []city{
	{"barcelona", 41.39, 2.17},
	{"montreal", 45.50, -73.57},
	{"nairobi", -1.29, 36.82},
	{"sao-paulo", -23.55, -46.63},
	{"kolkata", 22.57, 88.36},
	{"taveuni", -16.80, -179.97}, // straddles the antimeridian
}

func testConfig() matching.Config {
	cfg := matching.DefaultConfig()
	cfg.Related = related
	return cfg
}

// genParams describes a generated set of cities.
type genParams struct {
	needs, offers int
	cities        []city
	spreadKm      float64
	mixed         bool // needs ask for 0.5–3 h instead of exactly 1 h
}

var epoch = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

func pickCategory(r *rand.Rand) string {
	total := 0
	for _, p := range popularity {
		total += p
	}
	x := r.IntN(total)
	for i, p := range popularity {
		if x < p {
			return categories[i]
		}
		x -= p
	}
	return categories[0]
}

// generate builds needs and offers scattered around cities, with owners,
// windows over two weeks, urgencies and a recent history for fairness.
func generate(seed uint64, p genParams) (needs, offers []matching.Listing, f matching.Fairness) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	people := (p.needs + p.offers) / 3
	place := func() (float64, float64, string) {
		c := p.cities[r.IntN(len(p.cities))]
		lat := c.lat + r.NormFloat64()*p.spreadKm/111.2
		lon := c.lon + r.NormFloat64()*p.spreadKm/(111.2*math.Cos(c.lat*math.Pi/180))
		if lon >= 180 {
			lon -= 360
		} else if lon < -180 {
			lon += 360
		}
		return lat, lon, c.name
	}
	window := func(minH, maxH int) (time.Time, time.Time) {
		s := epoch.Add(time.Duration(r.IntN(14*24)) * time.Hour)
		return s, s.Add(time.Duration(minH+r.IntN(maxH-minH+1)) * time.Hour)
	}
	for i := range p.needs {
		lat, lon, c := place()
		s, e := window(2, 12)
		q := int64(100)
		if p.mixed {
			q = int64(50 * (1 + r.IntN(6)))
		}
		needs = append(needs, matching.Listing{
			ID: fmt.Sprintf("n%06d", i), Kind: matching.Need, Category: pickCategory(r),
			Owner: fmt.Sprintf("%s-p%d", c, r.IntN(people)), Quantity: q,
			Lat: lat, Lon: lon, Start: s, End: e, Urgency: r.IntN(4),
		})
	}
	for i := range p.offers {
		lat, lon, c := place()
		s, e := window(6, 72)
		offers = append(offers, matching.Listing{
			ID: fmt.Sprintf("o%06d", i), Kind: matching.Offer, Category: pickCategory(r),
			Owner: fmt.Sprintf("%s-p%d", c, r.IntN(people)), Quantity: int64(100 * (1 + r.IntN(3))),
			Lat: lat, Lon: lon, Start: s, End: e,
		})
	}
	f = matching.Fairness{Received: map[string]int64{}, Asked: map[string]int64{}}
	for range people / 4 {
		c := p.cities[r.IntN(len(p.cities))].name
		f.Received[fmt.Sprintf("%s-p%d", c, r.IntN(people))] = int64(r.IntN(3000))
		f.Asked[fmt.Sprintf("%s-p%d", c, r.IntN(people))] = int64(r.IntN(3000))
	}
	return needs, offers, f
}

// candidates ranks each need's k best offers with an Index.
func candidates(needs, offers []matching.Listing, f matching.Fairness, cfg matching.Config, k int) [][]matching.Candidate {
	ix := matching.NewIndex(offers, cfg)
	cands := make([][]matching.Candidate, len(needs))
	for i, n := range needs {
		cands[i] = ix.Rank(n, f, k)
	}
	return cands
}
