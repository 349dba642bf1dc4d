package httpapi_test

import (
	"math"
	"net/url"
	"slices"
	"strconv"
	"testing"
)

// degNorth is the latitude difference of km kilometres.
func degNorth(km float64) float64 { return km / 111.19493 }

// post creates a listing over HTTP as a, from listingBody changed by set,
// and returns its id.
func (w *world) post(a actor, kind string, set map[string]any) string {
	w.t.Helper()
	b := listingBody(w.timebank, kind, func(b map[string]any) {
		b["title"], b["tags"], b["category"] = "Something", []string{}, "repairs"
		for k, v := range set {
			b[k] = v
		}
	})
	if a.id == w.cam.id {
		b["org_id"] = w.coop.ID.String()
	}
	return w.must(w.call("POST", "/v1/listings", a.token, b), 201)["id"].(string)
}

type foundItem struct {
	ID         string   `json:"id"`
	Relevance  int64    `json:"relevance"`
	DistanceKm *float64 `json:"distance_km"`
}

// search runs GET /v1/listings with query and returns every page's items,
// following next with limit per page.
func (w *world) search(token, query string, limit int) []foundItem {
	w.t.Helper()
	var all []foundItem
	after := ""
	for range 100 {
		q := query + "&limit=" + strconv.Itoa(limit)
		if after != "" {
			q += "&after=" + url.QueryEscape(after)
		}
		var page struct {
			Items []foundItem `json:"items"`
			Next  *string     `json:"next"`
		}
		r := w.call("GET", "/v1/listings?"+q, token, nil)
		if r.status != 200 {
			w.t.Fatalf("search %s: %s", q, r)
		}
		r.decode(w.t, &page)
		all = append(all, page.Items...)
		if page.Next == nil {
			return all
		}
		after = *page.Next
	}
	w.t.Fatal("search: more than 100 pages")
	return nil
}

func foundIDs(fs []foundItem) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.ID
	}
	return out
}

// Words are found whatever their case and accents, as the beginning of a
// word of the title, description, tags or category name.
func TestSearchWords(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ninos := w.post(w.ana, "offer", map[string]any{"title": "Cuidado de NIÑOS por la tarde", "category": "childcare"})
	cafe := w.post(w.ben, "offer", map[string]any{"title": "Help", "description": "Un café con Señora Müller, straße 5", "category": "food"})
	elder := w.post(w.cam, "offer", map[string]any{"title": "Walks in the park", "category": "elder_care"})
	tagged := w.post(w.ana, "need", map[string]any{"title": "Shelves", "tags": []string{"Bricolaje"}})

	for _, c := range []struct {
		q    string
		want []string
	}{
		{"ninos", []string{ninos}},
		{"Niños", []string{ninos}},
		{"NINOS", []string{ninos}},
		{"nin", []string{ninos}},               // the beginning of a word
		{"ninas", nil},                         // not another word
		{"ños", nil},                           // nor the middle of one
		{"cuidado tarde", []string{ninos}},     // every word, anywhere
		{"cuidado manana", nil},                // every word must be found
		{"cafe", []string{cafe}},               // in the description
		{"MULLER strasse", []string{cafe}},     // ü and ß folded
		{"elder", []string{elder}},             // the category's name ("Elder care")
		{"CHILDCARE", []string{ninos}},         // another category's name
		{"bricolaje", []string{tagged}},        // a tag
		{"%", nil},                             // no word at all finds nothing
		{"ninos ninos NIÑOS", []string{ninos}}, // a word said thrice counts once
	} {
		got := foundIDs(w.search(w.ana.token, "q="+url.QueryEscape(c.q), 100))
		slices.Sort(got)
		want := slices.Clone(c.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("q=%q found %v, want %v", c.q, got, want)
		}
	}
	p := w.problem(w.call("GET", "/v1/listings?q="+url.QueryEscape("a b c d e f g h i j k"), w.ana.token, nil), 422, "invalid-request")
	if !hasField(p, "q") {
		t.Errorf("eleven words: %+v", p.Errors)
	}
}

// Words rank: a word in the title weighs more than in a tag, in a tag
// more than in the category's name, in that more than in the description,
// and a whole word counts double a word it only begins.
func TestSearchRelevanceOrder(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	inDescription := w.post(w.ana, "offer", map[string]any{"title": "Lessons", "description": "guitarra and more", "category": "arts"})
	inTitle := w.post(w.ben, "offer", map[string]any{"title": "Clases de guitarra", "category": "arts"})
	inTag := w.post(w.cam, "offer", map[string]any{"title": "Lessons", "tags": []string{"guitarra"}, "category": "arts"})
	prefixInTitle := w.post(w.ana, "need", map[string]any{"title": "Guitarras rotas", "category": "repairs"})

	got := w.search(w.ana.token, "q=guitarra", 100)
	wantOrder := []string{inTitle, inTag, prefixInTitle, inDescription}
	if !slices.Equal(foundIDs(got), wantOrder) {
		t.Fatalf("order %v, want title, tag, title by prefix, description: %v", foundIDs(got), wantOrder)
	}
	for i, want := range []int64{8, 6, 4, 2} {
		if got[i].Relevance != want || got[i].DistanceKm != nil {
			t.Errorf("result %d: relevance %d distance %v, want %d and no distance", i, got[i].Relevance, got[i].DistanceKm, want)
		}
	}
	// Two words add up; the category's name counts as a word of the listing.
	got = w.search(w.ana.token, "q=guitarra+arts", 100)
	if ids := foundIDs(got); !slices.Equal(ids, []string{inTitle, inTag, inDescription}) || got[0].Relevance != 8+4 {
		t.Errorf("guitarra arts: %v (first relevance %d), want the three arts listings, title first at 12", ids, got[0].Relevance)
	}
	// Pages of one walk the same order.
	if paged := foundIDs(w.search(w.ana.token, "q=guitarra", 1)); !slices.Equal(paged, wantOrder) {
		t.Errorf("paged by one: %v, want %v", paged, wantOrder)
	}
}

// A point sorts by distance and gives every result its distance in km;
// radius_km keeps those within it; with words, relevance comes first and
// distance breaks its ties.
func TestSearchDistance(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	at := func(km float64) map[string]any {
		return map[string]any{"place": map[string]any{"lat": 40 + degNorth(km), "lon": -3.0}}
	}
	with := func(m map[string]any, k string, v any) map[string]any { m[k] = v; return m }
	km12 := w.post(w.ana, "offer", with(at(12), "title", "Bike repair"))
	km1 := w.post(w.ben, "offer", with(at(1), "title", "Bike lights"))
	km5 := w.post(w.cam, "need", with(at(5), "title", "Sewing"))
	km3 := w.post(w.ana, "need", with(at(3), "title", "Bicycle"))

	got := w.search(w.ana.token, "lat=40&lon=-3", 100)
	if ids := foundIDs(got); !slices.Equal(ids, []string{km1, km3, km5, km12}) {
		t.Fatalf("by distance: %v, want 1, 3, 5, 12 km", ids)
	}
	for i, want := range []float64{1, 3, 5, 12} {
		if got[i].DistanceKm == nil || math.Abs(*got[i].DistanceKm-want) > 0.01 {
			t.Errorf("result %d: distance_km %v, want %v", i, got[i].DistanceKm, want)
		}
	}
	if ids := foundIDs(w.search(w.ana.token, "lat=40&lon=-3&radius_km=6", 100)); !slices.Equal(ids, []string{km1, km3, km5}) {
		t.Errorf("within 6 km: %v, want 1, 3, 5 km", ids)
	}
	if ids := foundIDs(w.search(w.ana.token, "lat=40&lon=-3&kind=offer", 1)); !slices.Equal(ids, []string{km1, km12}) {
		t.Errorf("offers by distance, a page at a time: %v", ids)
	}
	// "bi" begins bike and bicycle: all three weigh 4 in their titles, so
	// distance orders them.
	got = w.search(w.ana.token, "q=bi&lat=40&lon=-3", 100)
	if ids := foundIDs(got); !slices.Equal(ids, []string{km1, km3, km12}) {
		t.Errorf("q=bi near: %v, want 1, 3, 12 km", ids)
	}
	// A whole word outranks a nearer listing it only begins.
	got = w.search(w.ana.token, "q=bicycle&lat=40&lon=-3", 100)
	if ids := foundIDs(got); !slices.Equal(ids, []string{km3}) {
		t.Errorf("q=bicycle: %v, want the 3 km need", ids)
	}
	// Both words in the title (8 + 8) before "bike" in the title and
	// "repair" beginning the category's name, Repairs (8 + 2), though
	// nearer.
	got = w.search(w.ana.token, "q=bike+repair&lat=40&lon=-3", 100)
	if ids := foundIDs(got); !slices.Equal(ids, []string{km12, km1}) || got[0].Relevance != 16 || got[1].Relevance != 10 ||
		got[0].DistanceKm == nil || math.Abs(*got[0].DistanceKm-12) > 0.01 {
		t.Errorf("q=bike repair: %+v, want the 12 km offer (16) then the 1 km one (10), with distances", got)
	}
	w.problem(w.call("GET", "/v1/listings?lat=40", w.ana.token, nil), 400, "malformed-request")
	w.problem(w.call("GET", "/v1/listings?radius_km=5", w.ana.token, nil), 400, "malformed-request")
}
