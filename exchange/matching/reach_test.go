package matching_test

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/mutual-ledger/mutual/exchange/matching"
)

// kmNorth moves a listing km kilometres north.
func kmNorth(l *matching.Listing, km float64) { l.Lat += km / 111.19493 }

// An offer in a related category is a candidate at its fit, and ranks
// below every offer of the need's own category, even a much closer one.
func TestRelatedCategoriesRankBelowExact(t *testing.T) {
	cfg := testConfig()
	cfg.Related = map[string]map[string]float64{"childcare": {"elder care": 0.5}}
	need := baseNeed()
	elder := baseOffer()
	elder.ID, elder.Category, elder.Owner = "o-elder", "elder care", "eli"
	exactFar := baseOffer()
	exactFar.ID, exactFar.Owner = "o-far", "fay"
	kmNorth(&exactFar, 20) // 20 of the 25 km: a weak distance part

	b := mustScore(t, need, elder, matching.Fairness{}, cfg)
	if !b.Related || b.Category != 0.5 {
		t.Fatalf("elder-care offer for a childcare need: related %v, category part %v; want related at 0.5", b.Related, b.Category)
	}
	far := mustScore(t, need, exactFar, matching.Fairness{}, cfg)
	if far.Total >= b.Total {
		t.Fatalf("the test needs the related offer to score higher (%v) than the far exact one (%v)", b.Total, far.Total)
	}
	offers := []matching.Listing{elder, exactFar}
	for name, got := range map[string][]matching.Candidate{
		"Rank":  matching.Rank(need, offers, matching.Fairness{}, cfg, 0),
		"Index": matching.NewIndex(offers, cfg).Rank(need, matching.Fairness{}, 0),
	} {
		if len(got) != 2 || got[0].OfferID != "o-far" || got[1].OfferID != "o-elder" {
			t.Errorf("%s: got %v, want the exact offer first, then the related one", name, ids(got))
		}
	}

	// Without the relation, the elder-care offer is no candidate at all.
	cfg.Related = nil
	if _, ok := matching.Score(need, elder, matching.Fairness{}, cfg); ok {
		t.Error("an unrelated category was a candidate")
	}
	// A fit outside (0, 1) is ignored rather than scoring as exact.
	cfg.Related = map[string]map[string]float64{"childcare": {"elder care": 1.5}}
	if _, ok := matching.Score(need, elder, matching.Fairness{}, cfg); ok {
		t.Error("a relation of fit 1.5 made a candidate")
	}
}

func ids(cs []matching.Candidate) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.OfferID
	}
	return out
}

// Each need reaches as far as it says; without a word, Config.MaxKm.
func TestNeedReach(t *testing.T) {
	cfg := testConfig()
	need, offer := baseNeed(), baseOffer()
	kmNorth(&offer, 8)
	if _, ok := matching.Score(need, offer, matching.Fairness{}, cfg); !ok {
		t.Fatal("an offer 8 km away is not a candidate within the default 25 km")
	}
	need.MaxKm = 5
	if b, ok := matching.Score(need, offer, matching.Fairness{}, cfg); ok {
		t.Errorf("a need that reaches 5 km matched an offer 8 km away: %+v", b)
	}
	need.MaxKm = 16
	b := mustScore(t, need, offer, matching.Fairness{}, cfg)
	if math.Abs(b.Distance-0.5) > 1e-4 {
		t.Errorf("8 km for a need reaching 16 km: distance part %v, want 0.5", b.Distance)
	}
	kmNorth(&offer, 30) // 38 km, beyond the default too
	need.MaxKm = 40
	if _, ok := matching.Score(need, offer, matching.Fairness{}, cfg); !ok {
		t.Error("a need that reaches 40 km did not match an offer 38 km away")
	}
	got := matching.NewIndex([]matching.Listing{offer}, cfg).Rank(need, matching.Fairness{}, 0)
	if len(got) != 1 {
		t.Errorf("the Index did not look beyond the default 25 km for a need reaching 40: %v", ids(got))
	}
}

// A remote offer serves a need at any distance, with a full distance part,
// and the Index finds it wherever it was posted.
func TestRemoteOffers(t *testing.T) {
	cfg := testConfig()
	need := baseNeed()
	need.MaxKm = 2
	offer := baseOffer()
	offer.Lat, offer.Lon = -33.87, 151.21 // Sydney, for a need in Barcelona
	if _, ok := matching.Score(need, offer, matching.Fairness{}, cfg); ok {
		t.Fatal("an offer on the other side of the Earth matched a need reaching 2 km")
	}
	offer.Remote = true
	b := mustScore(t, need, offer, matching.Fairness{}, cfg)
	if b.Distance != 1 || b.Km < 17000 {
		t.Errorf("remote offer: distance part %v, km %v; want 1 and the real distance (> 17,000 km)", b.Distance, b.Km)
	}
	got := matching.NewIndex([]matching.Listing{offer}, cfg).Rank(need, matching.Fairness{}, 0)
	if len(got) != 1 || got[0].OfferID != offer.ID {
		t.Errorf("Index: got %v, want the remote offer", ids(got))
	}
}

// An offer given only on Sundays does not serve a Saturday need, unless the
// need is flexible; Saturday morning hours serve it in proportion.
func TestWeeklyAvailability(t *testing.T) {
	cfg := testConfig()
	madrid, err := time.LoadLocation("Europe/Madrid")
	if err != nil {
		t.Fatal(err)
	}
	// Saturday 7 March 2026, 9:00 to 13:00 in Madrid (UTC+1).
	sat := time.Date(2026, 3, 7, 9, 0, 0, 0, madrid)
	need := baseNeed()
	need.Start, need.End = sat, sat.Add(4*time.Hour)
	sunday := baseOffer()
	sunday.Start, sunday.End = time.Time{}, time.Time{}
	sunday.Zone = madrid
	sunday.Weekly = []matching.Slot{{Day: time.Sunday, Start: 9 * 60, End: 12 * 60}}
	if b, ok := matching.Score(need, sunday, matching.Fairness{}, cfg); ok {
		t.Errorf("a Sunday-only offer matched a Saturday need: %+v", b)
	}
	need.Flexible = true
	b := mustScore(t, need, sunday, matching.Fairness{}, cfg)
	if b.Overlap != 0 {
		t.Errorf("flexible need, no common hour: overlap part %v, want 0", b.Overlap)
	}
	rs := matching.Reasons(need, sunday, b, matching.Fairness{}, cfg)
	if !hasReason(rs, matching.ReasonTimeFlexible) {
		t.Errorf("reasons %+v lack %s", rs, matching.ReasonTimeFlexible)
	}
	need.Flexible = false

	saturday := sunday
	saturday.Weekly = []matching.Slot{{Day: time.Saturday, Start: 9 * 60, End: 12 * 60}, {Day: time.Sunday, Start: 9 * 60, End: 12 * 60}}
	b = mustScore(t, need, saturday, matching.Fairness{}, cfg)
	if math.Abs(b.Overlap-0.75) > 1e-9 {
		t.Errorf("Saturdays 9 to 12 for a need 9 to 13: overlap %v, want 0.75", b.Overlap)
	}
	// The same hours read in UTC fall an hour later on Madrid's clock (10
	// to 13): for a need from 9 to 12 in Madrid, 2 of its 3 hours.
	need.End = sat.Add(3 * time.Hour)
	if b = mustScore(t, need, saturday, matching.Fairness{}, cfg); b.Overlap != 1 {
		t.Errorf("Saturdays 9 to 12 Madrid for a need 9 to 12 Madrid: overlap %v, want 1", b.Overlap)
	}
	utc := saturday
	utc.Zone = nil
	b = mustScore(t, need, utc, matching.Fairness{}, cfg)
	if math.Abs(b.Overlap-2.0/3) > 1e-9 {
		t.Errorf("Saturdays 9 to 12 UTC for a need 9 to 12 Madrid: overlap %v, want 2/3", b.Overlap)
	}
	// Across the change to summer time (29 March 2026), 9 to 12 stays 9
	// to 12 on the clock of Madrid.
	summer := time.Date(2026, 4, 4, 9, 0, 0, 0, madrid)
	need.Start, need.End = summer, summer.Add(3*time.Hour)
	b = mustScore(t, need, saturday, matching.Fairness{}, cfg)
	if b.Overlap != 1 {
		t.Errorf("a Saturday in summer time: overlap %v, want 1", b.Overlap)
	}
	// A week-long need: Saturday and Sunday mornings, 6 of its 168 hours.
	week := time.Date(2026, 3, 2, 0, 0, 0, 0, madrid)
	need.Start, need.End = week, week.Add(7*24*time.Hour)
	b = mustScore(t, need, saturday, matching.Fairness{}, cfg)
	if math.Abs(b.Overlap-6.0/168) > 1e-9 {
		t.Errorf("a week-long need: overlap %v, want 6/168", b.Overlap)
	}
	// An offer with a dated window and weekly hours is given only in both.
	saturday.Start, saturday.End = week.Add(6*24*time.Hour), week.Add(7*24*time.Hour) // the Sunday only
	b = mustScore(t, need, saturday, matching.Fairness{}, cfg)
	if math.Abs(b.Overlap-3.0/168) > 1e-9 {
		t.Errorf("weekly hours within a window: overlap %v, want 3/168", b.Overlap)
	}
	// A need without a window is served whenever the offer is given.
	need.Start, need.End = time.Time{}, time.Time{}
	if b = mustScore(t, need, sunday, matching.Fairness{}, cfg); b.Overlap != 1 || !b.AnyTime {
		t.Errorf("a need at any time: overlap %v any %v, want 1 and any", b.Overlap, b.AnyTime)
	}
}

// Dated windows that do not meet also exclude a pair, unless the need is
// flexible.
func TestNoOverlapExcludes(t *testing.T) {
	cfg := testConfig()
	need, offer := baseNeed(), baseOffer()
	offer.Start, offer.End = need.End, need.End.Add(time.Hour)
	if _, ok := matching.Score(need, offer, matching.Fairness{}, cfg); ok {
		t.Error("an offer available only after the need's window matched")
	}
	need.Flexible = true
	if _, ok := matching.Score(need, offer, matching.Fairness{}, cfg); !ok {
		t.Error("a flexible need did not match an offer at another time")
	}
}

func hasReason(rs []matching.Reason, code string) bool {
	for _, r := range rs {
		if r.Code == code {
			return true
		}
	}
	return false
}

// Reasons gives codes and figures for each part of a score.
func TestReasons(t *testing.T) {
	cfg := testConfig()
	need, offer := baseNeed(), baseOffer()
	need.MaxKm = 10
	offer.Category = "elder care"
	kmNorth(&offer, 2)
	offer.Start = need.Start.Add(time.Hour)
	f := matching.Fairness{Received: map[string]int64{"ana": 250}, Asked: map[string]int64{"bo": 100}}
	b := mustScore(t, need, offer, f, cfg)
	got := matching.Reasons(need, offer, b, f, cfg)
	want := []matching.Reason{
		{Code: matching.ReasonCategoryRelated, Category: "elder care", Fit: 0.5},
		{Code: matching.ReasonDistance, Km: b.Km, ReachKm: 10},
		{Code: matching.ReasonTimeOverlap, Fraction: 0.75},
		{Code: matching.ReasonUrgency, Level: 3},
		{Code: matching.ReasonFairnessRecent, ReceivedHundredths: 250, AskedHundredths: 100},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("reasons:\n got %+v\nwant %+v", got, want)
	}
	if math.Abs(b.Km-2) > 0.01 {
		t.Errorf("km %v, want 2", b.Km)
	}
	offer.Category, offer.Remote = "childcare", true
	need.Urgency = 0
	need.Start, need.End = time.Time{}, time.Time{}
	b = mustScore(t, need, offer, matching.Fairness{}, cfg)
	got = matching.Reasons(need, offer, b, matching.Fairness{}, cfg)
	want = []matching.Reason{
		{Code: matching.ReasonCategoryExact, Category: "childcare"},
		{Code: matching.ReasonRemote, Km: b.Km},
		{Code: matching.ReasonTimeAny},
		{Code: matching.ReasonFairnessNew},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("reasons:\n got %+v\nwant %+v", got, want)
	}
}

// decorate gives generated offers and needs the new ways to say where and
// when: a quarter of the needs reach farther or nearer than the default and
// a quarter are flexible; one offer in twenty is remote, three in ten are
// given on weekly hours in a zone.
func decorate(seed uint64, needs, offers []matching.Listing) {
	r := rand.New(rand.NewPCG(seed, 7))
	zones := []*time.Location{time.UTC, time.FixedZone("UTC-5", -5*3600), time.FixedZone("UTC+3", 3*3600)}
	for i := range needs {
		switch r.IntN(4) {
		case 0:
			needs[i].MaxKm = 2 + r.Float64()*60
		case 1:
			needs[i].Flexible = true
		}
	}
	for i := range offers {
		switch r.IntN(20) {
		case 0:
			offers[i].Remote = true
		case 1, 2, 3, 4, 5, 6:
			day := time.Weekday(r.IntN(7))
			start := 60 * (6 + r.IntN(10))
			offers[i].Weekly = []matching.Slot{{Day: day, Start: start, End: start + 60*(1+r.IntN(4))}, {Day: (day + 3) % 7, Start: 600, End: 1200}}
			offers[i].Zone = zones[r.IntN(len(zones))]
		}
	}
}

// The Index agrees with ranking every offer when needs reach differently,
// offers are remote and given on weekly hours.
func TestIndexAgreesWithRankOnReach(t *testing.T) {
	cfg := testConfig()
	for seed := uint64(1); seed <= 3; seed++ {
		needs, offers, f := generate(seed, genParams{needs: 150, offers: 3000, cities: cities, spreadKm: 20})
		decorate(seed, needs, offers)
		ix := matching.NewIndex(offers, cfg)
		for _, n := range needs {
			want := matching.Rank(n, offers, f, cfg, 10)
			got := ix.Rank(n, f, 10)
			if !reflect.DeepEqual(ids(got), ids(want)) {
				t.Fatalf("seed %d need %s: Index %v, Rank %v", seed, n.ID, ids(got), ids(want))
			}
		}
	}
}

// BenchmarkRank100kReach is BenchmarkRank100k with the ways to say where and
// when: one offer in twenty remote (all of them candidates for every need
// of their category, wherever they are), three in ten on weekly hours in a
// zone, a quarter of the needs reaching 2 to 62 km and a quarter flexible.
func BenchmarkRank100kReach(b *testing.B) {
	cfg := testConfig()
	needs, offers, f := generate(42, genParams{needs: 1000, offers: 100_000, cities: cities, spreadKm: 8})
	decorate(42, needs, offers)
	ix := matching.NewIndex(offers, cfg)
	b.ResetTimer()
	found := 0
	for i := 0; b.Loop(); i++ {
		found += len(ix.Rank(needs[i%len(needs)], f, 20))
	}
	b.ReportMetric(float64(found)/float64(b.N), "candidates/op")
}
