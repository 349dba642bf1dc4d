package httpapi_test

import (
	"math"
	"slices"
	"testing"

	"github.com/mutual-ledger/mutual/httpapi"
)

type reasonItem struct {
	Code          string   `json:"code"`
	Km            *float64 `json:"km"`
	ReachKm       *float64 `json:"reach_km"`
	Fraction      *float64 `json:"fraction"`
	Category      string   `json:"category"`
	Fit           *float64 `json:"fit"`
	Level         int      `json:"level"`
	ReceivedHours string   `json:"received_hours"`
	AskedHours    string   `json:"asked_hours"`
}

type matchItem struct {
	Listing struct {
		ID string `json:"id"`
	} `json:"listing"`
	Score struct {
		Total, Category, Distance, Overlap, Km float64
	} `json:"score"`
	Reasons []reasonItem `json:"reasons"`
}

func (w *world) matches(token, id string) []matchItem {
	w.t.Helper()
	var l struct {
		Items []matchItem `json:"items"`
	}
	r := w.call("GET", "/v1/listings/"+id+"/matches", token, nil)
	if r.status != 200 {
		w.t.Fatalf("matches of %s: %s", id, r)
	}
	r.decode(w.t, &l)
	return l.Items
}

func matchIDs(ms []matchItem) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Listing.ID
	}
	return out
}

func reason(m matchItem, code string) *reasonItem {
	for i := range m.Reasons {
		if m.Reasons[i].Code == code {
			return &m.Reasons[i]
		}
	}
	return nil
}

// problemOf decodes a response as a problem, whatever its status.
func (w *world) problemOf(r resp) httpapi.Problem {
	var p httpapi.Problem
	r.decode(w.t, &p)
	return p
}

func placeAt(km float64) map[string]any {
	return map[string]any{"lat": 40 + degNorth(km), "lon": -3.0}
}

// An elder-care offer 200 m away is found for a childcare need through the
// seeded relation, below an exact offer farther off, and is gone once the
// admin removes the relation.
func TestMatchesRelatedCategories(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	need := w.post(w.ana, "need", map[string]any{"title": "Someone to watch my kids", "category": "childcare"})
	elder := w.post(w.ben, "offer", map[string]any{"title": "Elder care, also kids", "category": "elder_care", "place": placeAt(0.2)})
	exact := w.post(w.cam, "offer", map[string]any{"title": "Babysitting", "category": "childcare", "place": placeAt(24)})
	w.post(w.cam, "offer", map[string]any{"title": "Dog walking", "category": "pets", "place": placeAt(0.1)})

	got := w.matches(w.ana.token, need)
	if ids := matchIDs(got); !slices.Equal(ids, []string{exact, elder}) {
		t.Fatalf("matches %v, want the exact offer 24 km away, then the elder-care one 200 m away", ids)
	}
	if got[1].Score.Category != 0.5 || !(got[1].Score.Total > got[0].Score.Total) {
		t.Errorf("elder-care offer: category part %v (want the seeded fit 0.5), total %v (the test wants it above the exact one's %v)",
			got[1].Score.Category, got[1].Score.Total, got[0].Score.Total)
	}
	if r := reason(got[1], "category_related"); r == nil || r.Category != "elder_care" || r.Fit == nil || *r.Fit != 0.5 {
		t.Errorf("reasons of the related offer: %+v", got[1].Reasons)
	}
	if r := reason(got[0], "category_exact"); r == nil || r.Category != "childcare" {
		t.Errorf("reasons of the exact offer: %+v", got[0].Reasons)
	}
	if r := reason(got[1], "distance"); r == nil || r.Km == nil || math.Abs(*r.Km-0.2) > 0.01 || r.ReachKm == nil || *r.ReachKm != 25 {
		t.Errorf("distance reason of the related offer: %+v", got[1].Reasons)
	}
	// The elder-care offer sees the childcare need too.
	if ids := matchIDs(w.matches(w.ben.token, elder)); !slices.Equal(ids, []string{need}) {
		t.Errorf("the elder-care offer's matches: %v, want the childcare need", ids)
	}

	// The admin changes the fit, then removes the relation.
	rel := w.must(w.call("PUT", "/v1/category-relations/childcare/elder_care", w.admin.token, map[string]any{"fit": 0.7}), 200)
	if rel["fit"] != 0.7 || rel["need_category"] != "childcare" || rel["offer_category"] != "elder_care" {
		t.Errorf("set relation: %v", rel)
	}
	if got := w.matches(w.ana.token, need); len(got) != 2 || got[1].Score.Category != 0.7 {
		t.Errorf("after the fit changed: %+v", got)
	}
	if r := w.call("DELETE", "/v1/category-relations/childcare/elder_care", w.admin.token, nil); r.status != 204 {
		t.Fatalf("delete the relation: %s", r)
	}
	if ids := matchIDs(w.matches(w.ana.token, need)); !slices.Equal(ids, []string{exact}) {
		t.Errorf("without the relation: %v, want the exact offer only", ids)
	}
	w.problem(w.call("DELETE", "/v1/category-relations/childcare/elder_care", w.admin.token, nil), 404, "not-found")
	w.problem(w.call("PUT", "/v1/category-relations/childcare/elder_care", w.ana.token, map[string]any{"fit": 0.7}), 403, "forbidden")
	for _, c := range []struct {
		path  string
		body  map[string]any
		code  int
		field string
	}{
		{"/v1/category-relations/childcare/elder_care", map[string]any{"fit": 1}, 422, "fit"},
		{"/v1/category-relations/childcare/elder_care", map[string]any{"fit": 0}, 422, "fit"},
		{"/v1/category-relations/childcare/childcare", map[string]any{"fit": 0.5}, 422, "offer_category"},
		{"/v1/category-relations/childcare/knitting", map[string]any{"fit": 0.5}, 404, "offer_category"},
	} {
		r := w.call("PUT", c.path, w.admin.token, c.body)
		if r.status != c.code {
			t.Errorf("PUT %s %v: %s, want %d", c.path, c.body, r, c.code)
			continue
		}
		if p := w.problemOf(r); !hasField(p, c.field) {
			t.Errorf("PUT %s %v: fields %+v, want %s", c.path, c.body, p.Errors, c.field)
		}
	}
	list := w.must(w.call("GET", "/v1/category-relations", w.ana.token, nil), 200)["items"].([]any)
	for _, it := range list {
		m := it.(map[string]any)
		if m["need_category"] == "childcare" && m["offer_category"] == "elder_care" {
			t.Errorf("the removed relation is still listed: %v", m)
		}
	}
	if len(list) < 10 {
		t.Errorf("the seeded relations: %d, want the seed", len(list))
	}
}

// Each need reaches as far as it says, else its organization's default,
// which a coordinator sets; a remote offer reaches any need.
func TestMatchesReach(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	offer5 := w.post(w.ben, "offer", map[string]any{"category": "tech", "place": placeAt(5)})
	remote := w.post(w.cam, "offer", map[string]any{"category": "tech", "remote": true, "place": map[string]any{"lat": 19.43, "lon": -99.13}})

	near := w.post(w.ana, "need", map[string]any{"category": "tech", "max_km": 3})
	if ids := matchIDs(w.matches(w.ana.token, near)); !slices.Equal(ids, []string{remote}) {
		t.Errorf("a need reaching 3 km: %v, want only the remote offer", ids)
	}
	far := w.post(w.ana, "need", map[string]any{"category": "tech", "max_km": 8})
	got := w.matches(w.ana.token, far)
	if ids := matchIDs(got); !slices.Equal(ids, []string{remote, offer5}) && !slices.Equal(ids, []string{offer5, remote}) {
		t.Fatalf("a need reaching 8 km: %v, want both offers", ids)
	}
	for _, m := range got {
		if m.Listing.ID == remote {
			if r := reason(m, "remote"); r == nil || r.Km == nil || *r.Km < 9000 || m.Score.Distance != 1 {
				t.Errorf("the remote offer: distance part %v, reasons %+v", m.Score.Distance, m.Reasons)
			}
		} else if r := reason(m, "distance"); r == nil || math.Abs(*r.Km-5) > 0.01 || *r.ReachKm != 8 || math.Abs(m.Score.Distance-(1-5.0/8)) > 1e-3 {
			t.Errorf("the offer 5 km away: distance part %v, reasons %+v", m.Score.Distance, m.Reasons)
		}
	}
	// From the offer's side, the needs whose reach takes it in.
	if ids := matchIDs(w.matches(w.ben.token, offer5)); !slices.Equal(ids, []string{far}) {
		t.Errorf("the 5 km offer's matches: %v, want the need reaching 8 km", ids)
	}
	if ids := matchIDs(w.matches(w.cam.token, remote)); len(ids) != 2 {
		t.Errorf("the remote offer's matches: %v, want both needs", ids)
	}

	// The organization's default: 25 km until a coordinator says 4.
	m := w.must(w.call("GET", "/v1/orgs/"+w.timebank.ID.String()+"/matching", w.ana.token, nil), 200)
	if m["max_km"] != 25.0 || m["time_zone"] != "UTC" || m["from"] != nil {
		t.Errorf("defaults: %v", m)
	}
	w.problem(w.call("PUT", "/v1/orgs/"+w.local.ID.String()+"/matching", w.coordTB.token, map[string]any{"max_km": 4, "time_zone": "Europe/Madrid"}), 403, "forbidden")
	set := w.must(w.call("PUT", "/v1/orgs/"+w.timebank.ID.String()+"/matching", w.coordTB.token, map[string]any{"max_km": 4, "time_zone": "Europe/Madrid"}), 200)
	if set["max_km"] != 4.0 || set["from"] != w.timebank.ID.String() {
		t.Errorf("set: %v", set)
	}
	p := w.problem(w.call("PUT", "/v1/orgs/"+w.timebank.ID.String()+"/matching", w.coordTB.token, map[string]any{"max_km": 4, "time_zone": "Mars/Olympus"}), 422, "invalid-request")
	if !hasField(p, "time_zone") {
		t.Errorf("unknown zone: %+v", p.Errors)
	}
	dflt := w.must(w.call("POST", "/v1/listings", w.ana.token, listingBody(w.timebank, "need", func(b map[string]any) { b["category"] = "tech" })), 201)
	if dflt["max_km"] != 4.0 || dflt["time_zone"] != "Europe/Madrid" {
		t.Errorf("a need posted without max_km: max_km %v, time zone %v; want the time bank's 4 and Europe/Madrid", dflt["max_km"], dflt["time_zone"])
	}
	if ids := matchIDs(w.matches(w.ana.token, dflt["id"].(string))); !slices.Equal(ids, []string{remote}) {
		t.Errorf("a need reaching the default 4 km: %v, want only the remote offer", ids)
	}
	// A group under an organization with defaults takes them.
	if m := w.must(w.call("GET", "/v1/orgs/"+w.coop.ID.String()+"/matching", w.cam.token, nil), 200); m["max_km"] != 25.0 {
		t.Errorf("the co-op beside the time bank: %v", m)
	}

	// What only one kind may say.
	for _, c := range []struct {
		kind  string
		set   map[string]any
		field string
	}{
		{"offer", map[string]any{"max_km": 3}, "max_km"},
		{"need", map[string]any{"remote": true}, "remote"},
		{"offer", map[string]any{"flexible": true}, "flexible"},
		{"need", map[string]any{"weekly": []any{map[string]any{"day": "monday", "start": "09:00", "end": "10:00"}}}, "weekly"},
		{"offer", map[string]any{"weekly": []any{map[string]any{"day": "monday", "start": "10:00", "end": "09:00"}}}, "weekly[0]"},
		{"offer", map[string]any{"time_zone": "Nowhere/Land"}, "time_zone"},
	} {
		r := w.call("POST", "/v1/listings", w.ana.token, listingBody(w.timebank, c.kind, func(b map[string]any) {
			for k, v := range c.set {
				b[k] = v
			}
		}))
		if p := w.problemOf(r); r.status != 422 || !hasField(p, c.field) {
			t.Errorf("%s with %v: %s, want 422 naming %s", c.kind, c.set, r, c.field)
		}
	}
	for _, bad := range []map[string]any{
		{"max_km": 0}, {"max_km": 1001},
		{"weekly": []any{map[string]any{"day": "caturday", "start": "09:00", "end": "10:00"}}},
		{"weekly": []any{map[string]any{"day": "monday", "start": "9:00", "end": "10:00"}}},
		{"weekly": []any{map[string]any{"day": "monday", "start": "09:00", "end": "24:01"}}},
	} {
		r := w.call("POST", "/v1/listings", w.ana.token, listingBody(w.timebank, "offer", func(b map[string]any) {
			for k, v := range bad {
				b[k] = v
			}
		}))
		if r.status != 422 {
			t.Errorf("offer with %v: %s, want 422", bad, r)
		}
	}
}

// An offer given only on Sundays is no match for a Saturday need, unless
// the need is flexible; Saturday mornings are, in proportion, read in the
// organization's time zone.
func TestMatchesWeeklyHours(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.must(w.call("PUT", "/v1/orgs/"+w.timebank.ID.String()+"/matching", w.coordTB.token, map[string]any{"max_km": 25, "time_zone": "Europe/Madrid"}), 200)
	sundays := w.post(w.ben, "offer", map[string]any{"category": "gardening",
		"weekly": []any{map[string]any{"day": "sunday", "start": "09:00", "end": "12:00"}}})
	saturdays := w.post(w.ben, "offer", map[string]any{"category": "gardening",
		"weekly": []any{
			map[string]any{"day": "saturday", "start": "09:00", "end": "11:00"},
			map[string]any{"day": "saturday", "start": "10:30", "end": "12:00"}, // joined with the one before
		}})
	got := w.must(w.call("GET", "/v1/listings/"+saturdays, w.ben.token, nil), 200)
	if wk := got["weekly"].([]any); len(wk) != 1 || wk[0].(map[string]any)["end"] != "12:00" || got["time_zone"] != "Europe/Madrid" {
		t.Errorf("weekly hours as stored: %v in %v", got["weekly"], got["time_zone"])
	}
	// Saturday 7 March 2026, 9:00 to 13:00 in Madrid: 8:00 to 12:00 UTC.
	window := map[string]any{"start": "2026-03-07T08:00:00Z", "end": "2026-03-07T12:00:00Z"}
	need := w.post(w.ana, "need", map[string]any{"category": "gardening", "window": window})
	ms := w.matches(w.ana.token, need)
	if ids := matchIDs(ms); !slices.Equal(ids, []string{saturdays}) {
		t.Fatalf("a Saturday need: %v, want the Saturday offer only (not %s)", ids, sundays)
	}
	if r := reason(ms[0], "time_overlap"); r == nil || r.Fraction == nil || math.Abs(*r.Fraction-0.75) > 1e-9 || ms[0].Score.Overlap != 0.75 {
		t.Errorf("Saturdays 9 to 12 for a need 9 to 13: %+v, reasons %+v", ms[0].Score, ms[0].Reasons)
	}
	flexible := w.post(w.ana, "need", map[string]any{"category": "gardening", "window": window, "flexible": true})
	ms = w.matches(w.ana.token, flexible)
	if len(ms) != 2 || ms[0].Listing.ID != saturdays || ms[1].Listing.ID != sundays {
		t.Fatalf("a flexible Saturday need: %v, want the Saturday offer, then the Sunday one", matchIDs(ms))
	}
	if r := reason(ms[1], "time_flexible"); r == nil || ms[1].Score.Overlap != 0 {
		t.Errorf("the Sunday offer for a flexible need: %+v, reasons %+v", ms[1].Score, ms[1].Reasons)
	}
	// From the Sunday offer's side, only the flexible need.
	if ids := matchIDs(w.matches(w.ben.token, sundays)); !slices.Equal(ids, []string{flexible}) {
		t.Errorf("the Sunday offer's matches: %v, want the flexible need", ids)
	}
	// Reasons never speak in sentences: every one has a known code.
	known := []string{"category_exact", "category_related", "distance", "remote", "time_any", "time_overlap", "time_flexible", "urgency", "fairness_new", "fairness_recent"}
	for _, m := range ms {
		for _, r := range m.Reasons {
			if !slices.Contains(known, r.Code) {
				t.Errorf("unknown reason code %q", r.Code)
			}
		}
		if reason(m, "fairness_new") == nil && reason(m, "fairness_recent") == nil {
			t.Errorf("no fairness reason: %+v", m.Reasons)
		}
	}
}
