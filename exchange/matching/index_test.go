package matching_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/mutual-ledger/mutual/exchange/matching"
)

// The Index's shortcuts (owners as numbers, latitude and window checks
// before the distance, bounds against the worst kept candidate) give the
// very candidates and breakdowns of scoring every offer, on random small
// worlds made to hit the edges: many ties (offers copied with a new ID,
// points on a coarse grid), owners on both sides, offers with nothing left,
// points past a pole, windows reversed or instants, flexible needs, remote
// offers, weekly hours, related categories, and every k from 1 up.
func TestIndexAgreesWithRankOnRandomWorlds(t *testing.T) {
	r := rand.New(rand.NewPCG(2026, 11))
	cats := []string{"a", "b", "c"}
	cfgs := []matching.Config{testConfig(), testConfig(), testConfig()}
	for i := range cfgs {
		cfgs[i].Related = map[string]map[string]float64{"a": {"b": 0.5, "c": 0.25}, "b": {"a": 0.75, "c": 1.5}}
	}
	cfgs[1].Weights = matching.Weights{Distance: 1} // only distance: ties everywhere
	cfgs[2].FairnessHalf, cfgs[2].MaxKm = 0, 3
	cmpWorld := func(t *testing.T, world int, cfg matching.Config) {
		center := [][2]float64{{41.4, 2.2}, {89.95, 0}, {-89.97, 120}, {-16.8, 179.99}}[r.IntN(4)]
		point := func() (float64, float64) {
			grid := []float64{0.01, 0.05, 0.1}[r.IntN(3)]
			lat := center[0] + float64(r.IntN(21)-10)*grid
			lon := center[1] + float64(r.IntN(21)-10)*grid
			if lon >= 180 {
				lon -= 360
			}
			return lat, lon
		}
		window := func() (time.Time, time.Time) {
			s := epoch.Add(time.Duration(r.IntN(72)) * time.Hour)
			switch r.IntN(6) {
			case 0:
				return time.Time{}, time.Time{}
			case 1:
				return s, s // an instant
			case 2:
				return s, s.Add(-time.Duration(1+r.IntN(5)) * time.Hour) // reversed
			case 3:
				return s.Add(time.Duration(r.IntN(3600)) * time.Second), s.Add(time.Duration(r.IntN(30)+1) * time.Hour)
			}
			return s, s.Add(time.Duration(1+r.IntN(30)) * time.Hour)
		}
		owner := func() string {
			if r.IntN(10) == 0 {
				return ""
			}
			return fmt.Sprintf("p%d", r.IntN(12))
		}
		var offers []matching.Listing
		for i := range 40 + r.IntN(200) {
			if len(offers) > 0 && r.IntN(5) == 0 {
				o := offers[r.IntN(len(offers))]
				o.ID = fmt.Sprintf("o%04d", i)
				offers = append(offers, o)
				continue
			}
			lat, lon := point()
			s, e := window()
			o := matching.Listing{ID: fmt.Sprintf("o%04d", r.IntN(10000)), Kind: matching.Offer, Category: cats[r.IntN(3)],
				Owner: owner(), Quantity: int64(r.IntN(4) * 50), Lat: lat, Lon: lon, Start: s, End: e, Remote: r.IntN(10) == 0}
			if r.IntN(4) == 0 {
				o.Weekly = []matching.Slot{{Day: time.Weekday(r.IntN(7)), Start: 60 * r.IntN(12), End: 60 * (12 + r.IntN(12))}}
				o.Zone = time.FixedZone("z", 3600*(r.IntN(5)-2))
			}
			if r.IntN(15) == 0 {
				o.Kind = matching.Need
			}
			offers = append(offers, o)
		}
		f := matching.Fairness{Received: map[string]int64{}, Asked: map[string]int64{}}
		for range 8 {
			f.Received[owner()] = int64(r.IntN(3000))
			f.Asked[owner()] = int64(r.IntN(3000))
		}
		ix := matching.NewIndex(offers, cfg)
		for n := range 30 {
			lat, lon := point()
			s, e := window()
			need := matching.Listing{ID: fmt.Sprintf("n%d", n), Kind: matching.Need, Category: cats[r.IntN(3)], Owner: owner(),
				Quantity: int64(r.IntN(4) * 50), Lat: lat, Lon: lon, Start: s, End: e, Urgency: r.IntN(5) - 1,
				Flexible: r.IntN(4) == 0}
			if r.IntN(3) == 0 {
				need.MaxKm = []float64{0.5, 2, 5, 40}[r.IntN(4)]
			}
			for _, k := range []int{1, 2, 3, 5, 20, 0} {
				got, want := ix.Rank(need, f, k), matching.Rank(need, offers, f, cfg, k)
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("world %d need %+v k=%d:\nindex %+v\n rank %+v", world, need, k, got, want)
				}
			}
		}
	}
	for world := range 600 {
		cmpWorld(t, world, cfgs[world%len(cfgs)])
	}
}
