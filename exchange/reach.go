package exchange

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	// Time zones are read from the program itself, so that a server on a
	// machine without /usr/share/zoneinfo reads weekly hours alike.
	_ "time/tzdata"

	"github.com/mutual-ledger/mutual/exchange/matching"
	"github.com/mutual-ledger/mutual/internal/pgtx"
)

// How far a need reaches and when an offer is given: the checks of
// NewListing's MaxKm, Remote, Flexible, Weekly and TimeZone, their storage,
// and the SQL filter of a need's reach.

// checkReach checks and normalizes what in says about distance and time
// into l: ledger.ErrInvalidRequest (Field set) for a reach on an offer or
// outside (0, MaxReachKm], remote on a need, flexible on an offer, weekly
// hours on a need or out of bounds, or an unknown time zone.
func checkReach(in NewListing, l *Listing) error {
	switch {
	case in.MaxKm != 0 && in.Kind != Need:
		return invalid("max_km", "only needs say how far their person can go")
	case in.MaxKm < 0 || in.MaxKm > MaxReachKm || in.MaxKm != in.MaxKm:
		return invalid("max_km", "max_km must be more than 0 and at most %d, not %v", MaxReachKm, in.MaxKm)
	case in.Remote && in.Kind != Offer:
		return invalid("remote", "only offers can be remote")
	case in.Flexible && in.Kind != Need:
		return invalid("flexible", "only needs can be flexible")
	case len(in.Weekly) > 0 && in.Kind != Offer:
		return invalid("weekly", "only offers state weekly hours")
	case len(in.Weekly) > MaxWeeklySlots:
		return invalid("weekly", "an offer states at most %d weekly stretches, not %d", MaxWeeklySlots, len(in.Weekly))
	}
	l.MaxKm, l.Remote, l.Flexible = in.MaxKm, in.Remote, in.Flexible
	for i, s := range in.Weekly {
		field := "weekly[" + strconv.Itoa(i) + "]"
		if s.Day < time.Sunday || s.Day > time.Saturday {
			return invalid(field+".day", "day must be a day of the week")
		}
		if s.Start < 0 || s.End > 24*60 || s.Start >= s.End {
			return invalid(field, "a weekly stretch starts before it ends, within the day (00:00 to 24:00)")
		}
	}
	l.Weekly = joinSlots(in.Weekly)
	if in.TimeZone != "" {
		if _, err := loadZone(in.TimeZone); err != nil {
			return invalid("time_zone", "unknown time zone %q: use an IANA name such as America/Mexico_City", in.TimeZone)
		}
		l.TimeZone = in.TimeZone
	}
	return nil
}

// joinSlots sorts slots by day and start and joins those of a day that
// overlap or touch, so that no hour is counted twice.
func joinSlots(in []WeeklySlot) []WeeklySlot {
	if len(in) == 0 {
		return nil
	}
	ss := slices.Clone(in)
	slices.SortFunc(ss, func(a, b WeeklySlot) int { return cmp.Or(cmp.Compare(a.Day, b.Day), cmp.Compare(a.Start, b.Start)) })
	out := ss[:1]
	for _, s := range ss[1:] {
		last := &out[len(out)-1]
		if s.Day == last.Day && s.Start <= last.End {
			last.End = max(last.End, s.End)
			continue
		}
		out = append(out, s)
	}
	return out
}

// settleReach fills in, in tx, what a listing leaves to its organization:
// a need's reach and the time zone.
func settleReach(ctx context.Context, tx *pgtx.Tx, l *Listing) error {
	if (l.Kind != Need || l.MaxKm != 0) && l.TimeZone != "" {
		return nil
	}
	m, err := orgMatching(ctx, tx, l.OrgID)
	if err != nil {
		return err
	}
	if l.Kind == Need && l.MaxKm == 0 {
		l.MaxKm = m.MaxKm
	}
	if l.TimeZone == "" {
		l.TimeZone = m.TimeZone
	}
	return nil
}

func nullKm(km float64) *float64 {
	if km == 0 {
		return nil
	}
	return &km
}

// formatWeekly writes slots as listings.weekly holds them:
// "day:start-end" joined by commas.
func formatWeekly(ss []WeeklySlot) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = strconv.Itoa(int(s.Day)) + ":" + strconv.Itoa(s.Start) + "-" + strconv.Itoa(s.End)
	}
	return strings.Join(parts, ",")
}

// parseWeekly reads listings.weekly; the schema's CHECK has held its shape.
func parseWeekly(s string) ([]WeeklySlot, error) {
	if s == "" {
		return nil, nil
	}
	var out []WeeklySlot
	for part := range strings.SplitSeq(s, ",") {
		d, rest, ok1 := strings.Cut(part, ":")
		a, b, ok2 := strings.Cut(rest, "-")
		day, err1 := strconv.Atoi(d)
		start, err2 := strconv.Atoi(a)
		end, err3 := strconv.Atoi(b)
		if !ok1 || !ok2 || err1 != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("listing weekly hours %q are malformed", s)
		}
		out = append(out, WeeklySlot{Day: time.Weekday(day), Start: start, End: end})
	}
	return out, nil
}

// zones keeps the time zones loaded: time.LoadLocation reads and parses
// the zone's data on every call, and matching converts thousands of
// listings a request. Zones never change while the program runs, so this
// cache is shared by every Store.
var zones sync.Map // string → *time.Location

func loadZone(name string) (*time.Location, error) {
	if z, ok := zones.Load(name); ok {
		return z.(*time.Location), nil
	}
	z, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	zones.Store(name, z)
	return z, nil
}

// zoneOf is the zone l's weekly hours are read in; UTC when it has none.
func zoneOf(l Listing) *time.Location {
	if len(l.Weekly) == 0 || l.TimeZone == "" {
		return time.UTC
	}
	z, err := loadZone(l.TimeZone)
	if err != nil { // a zone this program's tzdata no longer knows
		return time.UTC
	}
	return z
}

// reachClause keeps the needs whose reach takes in p: within their max_km
// (matching.DefaultMaxKm when unset) of it. The box is the widest reach's.
func reachClause(p Point, arg func(any) string) string {
	return "(l.kind = 'need' AND " + boxClause(p, MaxReachKm, arg) + " AND " + distanceSQL(p, arg) +
		" <= COALESCE(l.max_km, " + arg(float64(matching.DefaultMaxKm)) + "::FLOAT8))"
}
