package matching

import (
	"math"
	"time"
)

// earthKm is the mean Earth radius used by the haversine distance.
const earthKm = 6371.0

// Score scores offer as help for need. It reports false if the pair is not a
// candidate (see the package comment); the Breakdown is then zero. Score is
// deterministic and does not modify its arguments.
func Score(need, offer Listing, f Fairness, cfg Config) (Breakdown, bool) {
	return score(&need, &offer, f, cfg)
}

// score is Score on pointers: the Index scores thousands of offers for one
// need, and copying both listings for each was a fifth of its time.
func score(need, offer *Listing, f Fairness, cfg Config) (Breakdown, bool) {
	if need.Kind != Need || offer.Kind != Offer {
		return Breakdown{}, false
	}
	if need.Owner != "" && need.Owner == offer.Owner {
		return Breakdown{}, false
	}
	if offer.Quantity <= 0 || need.Quantity <= 0 || need.reach(cfg) <= 0 {
		return Breakdown{}, false
	}
	var b Breakdown
	if need.Category == offer.Category {
		b.Category = 1
	} else if fit := cfg.Related[need.Category][offer.Category]; fit > 0 && fit < 1 {
		b.Category, b.Related = fit, true
	} else {
		return Breakdown{}, false
	}
	b.Km = haversineKm(need.Lat, need.Lon, offer.Lat, offer.Lon)
	reach := need.reach(cfg)
	switch {
	case math.IsNaN(b.Km):
		return Breakdown{}, false
	case offer.Remote:
		// Given from afar: where the offer was posted does not matter.
		b.Distance = 1
	case b.Km <= reach:
		b.Distance = 1 - b.Km/reach
	default:
		return Breakdown{}, false
	}
	b.Overlap, b.AnyTime = availability(need, offer)
	if b.Overlap <= 0 && !need.Flexible {
		return Breakdown{}, false
	}
	b.Urgency = float64(min(max(need.Urgency, 0), 3)) / 3
	b.Fairness = fairness(f, need.Owner, offer.Owner, cfg.FairnessHalf)
	b.Cover = min(need.Quantity, offer.Quantity)

	w := cfg.Weights
	wc, wd, wo, wu, wf := max(w.Category, 0), max(w.Distance, 0), max(w.Overlap, 0), max(w.Urgency, 0), max(w.Fairness, 0)
	if sum := wc + wd + wo + wu + wf; sum > 0 {
		b.Total = (wc*b.Category + wd*b.Distance + wo*b.Overlap + wu*b.Urgency + wf*b.Fairness) / sum
	}
	return b, true
}

// rad is one degree in radians.
const rad = math.Pi / 180

func haversineKm(lat1, lon1, lat2, lon2 float64) float64 {
	return haversineCos(lat1, lon1, math.Cos(lat1*rad), lat2, lon2, math.Cos(lat2*rad))
}

// haversineCos is haversineKm given the cosines of both latitudes (in
// degrees), which the Index computes once per offer and per need; it is the
// one formula, so both give the same figure.
func haversineCos(lat1, lon1, cos1, lat2, lon2, cos2 float64) float64 {
	dLat := (lat2 - lat1) * rad
	dLon := (lon2 - lon1) * rad
	s1, s2 := math.Sin(dLat/2), math.Sin(dLon/2)
	a := s1*s1 + cos1*cos2*s2*s2
	return 2 * earthKm * math.Asin(math.Sqrt(min(a, 1)))
}

// overlap is the fraction of the need's window [ns, ne] that the offer's
// window covers. A listing without a window is always available; a need
// whose window is an instant is covered if the offer's window contains it.
func overlap(ns, ne, os, oe time.Time) float64 {
	if ns.IsZero() && ne.IsZero() || os.IsZero() && oe.IsZero() {
		return 1
	}
	if !ne.After(ns) {
		if !ns.Before(os) && !ns.After(oe) {
			return 1
		}
		return 0
	}
	lo, hi := ns, ne
	if os.After(lo) {
		lo = os
	}
	if oe.Before(hi) {
		hi = oe
	}
	if !hi.After(lo) {
		return 0
	}
	return float64(hi.Sub(lo)) / float64(ne.Sub(ns))
}

// fairness averages a receiver factor and a giver factor, each h/(h+x): 1
// with no recent history, ½ after h centi-hours, falling towards 0.
func fairness(f Fairness, receiver, giver string, h int64) float64 {
	if h <= 0 {
		return 1
	}
	factor := func(x int64) float64 {
		x = max(x, 0)
		return float64(h) / float64(h+x)
	}
	return 0.5*factor(f.Received[receiver]) + 0.5*factor(f.Asked[giver])
}

// reach is how far need's person can go: its own MaxKm, else cfg's.
func (l Listing) reach(cfg Config) float64 {
	if l.MaxKm > 0 {
		return l.MaxKm
	}
	return cfg.MaxKm
}
