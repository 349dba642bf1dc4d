package matching

import "time"

// Slot is a stretch of a weekday when an offer is given, in the offer's
// Zone: from Start to End minutes after midnight, 0 ≤ Start < End ≤ 1440
// ("Saturdays 9 to 12" is {time.Saturday, 540, 720}). The slots of one
// listing do not overlap.
type Slot struct {
	Day        time.Weekday
	Start, End int
}

// maxWeeklyDays bounds how much of a need's window weekly hours are
// measured over: a need open for a year is judged on its first nine weeks,
// which a weekly pattern repeats, so that scoring one pair stays a few
// dozen steps.
const maxWeeklyDays = 63

// availability is the overlap part of a need and an offer: the fraction of
// the need's window in which the offer is given (its own window and, when
// it has any, its weekly hours). anyTime reports that either is available at
// any time, so that nothing was measured (the part is then 1).
func availability(need, offer *Listing) (frac float64, anyTime bool) {
	if need.Start.IsZero() && need.End.IsZero() {
		return 1, true
	}
	offerWindow := !offer.Start.IsZero() || !offer.End.IsZero()
	if !offerWindow && len(offer.Weekly) == 0 {
		return 1, true
	}
	if len(offer.Weekly) == 0 {
		return overlap(need.Start, need.End, offer.Start, offer.End), false
	}
	ns, ne := need.Start, need.End
	if !ne.After(ns) { // an instant: is the offer given then?
		if offerWindow && (ns.Before(offer.Start) || ns.After(offer.End)) {
			return 0, false
		}
		if weeklyCovered(offer, ns, ns.Add(time.Nanosecond)) > 0 {
			return 1, false
		}
		return 0, false
	}
	if limit := ns.Add(maxWeeklyDays * 24 * time.Hour); ne.After(limit) {
		ne = limit
	}
	lo, hi := ns, ne
	if offerWindow {
		if offer.Start.After(lo) {
			lo = offer.Start
		}
		if offer.End.Before(hi) {
			hi = offer.End
		}
		if !hi.After(lo) {
			return 0, false
		}
	}
	return float64(weeklyCovered(offer, lo, hi)) / float64(ne.Sub(ns)), false
}

// weeklyCovered is how much of [lo, hi) falls in offer's weekly slots, each
// slot placed on the calendar of the offer's zone (so "9 to 12" stays 9 to
// 12 across a change of daylight-saving time).
func weeklyCovered(offer *Listing, lo, hi time.Time) time.Duration {
	loc := offer.Zone
	if loc == nil {
		loc = time.UTC
	}
	t := lo.In(loc)
	var covered time.Duration
	for day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc); day.Before(hi); day = day.AddDate(0, 0, 1) {
		y, m, d := day.Date()
		wd := day.Weekday()
		for _, s := range offer.Weekly {
			if s.Day != wd {
				continue
			}
			from := time.Date(y, m, d, 0, s.Start, 0, 0, loc)
			to := time.Date(y, m, d, 0, s.End, 0, 0, loc)
			if from.Before(lo) {
				from = lo
			}
			if to.After(hi) {
				to = hi
			}
			if to.After(from) {
				covered += to.Sub(from)
			}
		}
	}
	return covered
}
