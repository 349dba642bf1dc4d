package httpapi_test

import (
	"context"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
)

// listingBody is a valid POST /v1/listings body in org; change adjusts it.
func listingBody(org exchange.Org, kind string, change func(map[string]any)) map[string]any {
	b := map[string]any{
		"org_id": org.ID.String(), "kind": kind, "title": "Help with the garden", "category": "repairs",
		"tags": []string{"Garden", "tools"}, "quantity": "2.5", "place": map[string]any{"lat": 40.0, "lon": -3.0},
		"city": "Riverside", "visibility": "public",
	}
	if change != nil {
		change(b)
	}
	return b
}

// listing posts a listing through the store, owned by a in org.
func (w *world) listing(a actor, org exchange.Org, kind exchange.ListingKind, category string, lat float64, vis exchange.Visibility) exchange.Listing {
	w.t.Helper()
	l, err := w.ex.CreateListing(context.Background(), exchange.System(), exchange.NewListing{
		OrgID: org.ID, Owner: a.id, Kind: kind, Title: string(kind) + " " + category, Category: category,
		Quantity: decimal.NewFromInt(2), Place: exchange.Point{Lat: lat, Lon: -3}, Visibility: vis,
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return l
}

func TestCategories(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	list := w.must(w.call("GET", "/v1/categories", w.ana.token, nil), 200)
	if items := list["items"].([]any); len(items) == 0 {
		t.Fatalf("no seeded categories: %v", list)
	}
	c := w.must(w.call("POST", "/v1/categories", w.admin.token, map[string]any{"code": "beekeeping", "name": "Beekeeping", "parent": "repairs"}), 201)
	if c["code"] != "beekeeping" || c["parent"] != "repairs" {
		t.Fatalf("created %v", c)
	}
	w.problem(w.call("POST", "/v1/categories", w.admin.token, map[string]any{"code": "beekeeping", "name": "Again"}), 409, "category-exists")
	p := w.problem(w.call("POST", "/v1/categories", w.admin.token, map[string]any{"code": "bees", "name": "Bees", "parent": "nope"}), 404, "not-found")
	if !hasField(p, "parent") {
		t.Errorf("unknown parent names no field: %+v", p)
	}
	w.problem(w.call("POST", "/v1/categories", w.ana.token, map[string]any{"code": "bees", "name": "Bees"}), 403, "forbidden")
}

func TestCreateListing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := w.call("POST", "/v1/listings", w.ana.token, listingBody(w.timebank, "offer", func(b map[string]any) {
		b["window"] = map[string]any{"start": "2026-03-02T09:00:00Z", "end": "2026-03-02T12:00:00Z"}
	}), "Idempotency-Key", "garden-1")
	l := w.must(r, 201)
	if l["owner"] != w.ana.id.String() || l["quantity"] != "2.50" || l["unit"] != "HOUR" || l["status"] != "open" ||
		r.header.Get("Location") != "/v1/listings/"+l["id"].(string) {
		t.Fatalf("created %v (Location %q)", l, r.header.Get("Location"))
	}
	if tags := l["tags"].([]any); len(tags) != 2 || tags[0] != "garden" {
		t.Errorf("tags %v, want lower-cased and sorted", tags)
	}
	again := w.call("POST", "/v1/listings", w.ana.token, listingBody(w.timebank, "offer", func(b map[string]any) {
		b["window"] = map[string]any{"start": "2026-03-02T09:00:00Z", "end": "2026-03-02T12:00:00Z"}
	}), "Idempotency-Key", "garden-1")
	if w.must(again, 201)["id"] != l["id"] || again.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("retry with the same key: %s", again)
	}
	got := w.must(w.call("GET", "/v1/listings/"+l["id"].(string), w.cam.token, nil), 200)
	if got["id"] != l["id"] {
		t.Errorf("public listing as an outsider: %v", got)
	}

	// Cam is in the co-op, not the time bank.
	p := w.problem(w.call("POST", "/v1/listings", w.cam.token, listingBody(w.timebank, "need", nil)), 422, "not-a-member")
	if !hasField(p, "org_id") {
		t.Errorf("not a member names no org_id: %+v", p)
	}
	w.problem(w.call("POST", "/v1/listings", w.ana.token, listingBody(w.timebank, "need", func(b map[string]any) { b["category"] = "nope" })), 404, "not-found")
}

func TestCreateListingValidation(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	cases := []struct {
		name   string
		change func(map[string]any)
		status int
		typ    string
		fields []string
	}{
		{"missing", func(b map[string]any) { delete(b, "title"); delete(b, "place"); b["kind"] = "gift" }, 422, "validation-failed", []string{"title", "place", "kind"}},
		{"quantity number", func(b map[string]any) { b["quantity"] = 2 }, 422, "validation-failed", []string{"quantity"}},
		{"latitude", func(b map[string]any) { b["place"] = map[string]any{"lat": 91.0, "lon": 0.0} }, 422, "validation-failed", []string{"place.lat"}},
		{"window", func(b map[string]any) { b["window"] = map[string]any{"start": "yesterday"} }, 422, "validation-failed", []string{"window.start", "window.end"}},
		{"too many decimals", func(b map[string]any) { b["quantity"] = "1.234" }, 422, "too-many-decimals", []string{"quantity"}},
		{"non-positive", func(b map[string]any) { b["quantity"] = "0" }, 422, "invalid-request", []string{"quantity"}},
		{"urgent offer", func(b map[string]any) { b["urgency"] = 2 }, 422, "invalid-request", []string{"urgency"}},
		{"window order", func(b map[string]any) {
			b["window"] = map[string]any{"start": "2026-03-02T12:00:00Z", "end": "2026-03-02T09:00:00Z"}
		}, 422, "invalid-request", []string{"window"}},
		{"expired", func(b map[string]any) { b["expires_at"] = "2026-01-01T00:00:00Z" }, 422, "invalid-request", []string{"expires_at"}},
		{"unknown field", func(b map[string]any) { b["owner"] = w.ben.id.String() }, 400, "malformed-request", nil},
	}
	for _, c := range cases {
		p := w.problem(w.call("POST", "/v1/listings", w.ana.token, listingBody(w.timebank, "offer", c.change)), c.status, c.typ)
		for _, f := range c.fields {
			if !hasField(p, f) {
				t.Errorf("%s: no error for %s: %+v", c.name, f, p.Errors)
			}
		}
	}
}

func TestListingVisibilityAndSearch(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	private := w.listing(w.ana, w.timebank, exchange.Need, "food", 40, exchange.VisibilityOrg)
	public := w.listing(w.cam, w.coop, exchange.Offer, "food", 40.01, exchange.VisibilityPublic)
	far := w.listing(w.cam, w.coop, exchange.Offer, "food", 45, exchange.VisibilityPublic)

	w.problem(w.call("GET", "/v1/listings/"+private.ID.String(), w.cam.token, nil), 404, "not-found")
	w.problem(w.call("GET", "/v1/listings/not-a-uuid", w.ana.token, nil), 404, "not-found")
	w.must(w.call("GET", "/v1/listings/"+private.ID.String(), w.ben.token, nil), 200)

	ids := func(token, query string) []string {
		var l struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
			Next *string `json:"next"`
		}
		r := w.call("GET", "/v1/listings"+query, token, nil)
		if r.status != 200 {
			t.Fatalf("GET /v1/listings%s: %s", query, r)
		}
		r.decode(t, &l)
		var out []string
		for _, it := range l.Items {
			out = append(out, it.ID)
		}
		return out
	}
	if got := ids(w.cam.token, "?category=food"); len(got) != 2 {
		t.Errorf("cam sees %v, want the two public offers", got)
	}
	if got := ids(w.ben.token, "?kind=need"); len(got) != 1 || got[0] != private.ID.String() {
		t.Errorf("ben's needs: %v", got)
	}
	if got := ids(w.ana.token, "?kind=offer&lat=40&lon=-3&radius_km=10"); len(got) != 1 || got[0] != public.ID.String() {
		t.Errorf("offers near: %v, want %s (not %s)", got, public.ID, far.ID)
	}
	if got := ids(w.ana.token, "?org="+w.coop.ID.String()+"&q=OFFER"); len(got) != 2 {
		t.Errorf("text and org: %v", got)
	}
	// Pagination.
	first := w.must(w.call("GET", "/v1/listings?limit=1", w.admin.token, nil), 200)
	next, _ := first["next"].(string)
	if next == "" {
		t.Fatalf("first page has no next: %v", first)
	}
	second := w.must(w.call("GET", "/v1/listings?limit=1&after="+next, w.admin.token, nil), 200)
	if second["items"].([]any)[0].(map[string]any)["id"] == first["items"].([]any)[0].(map[string]any)["id"] {
		t.Errorf("the second page repeats the first")
	}
	w.problem(w.call("GET", "/v1/listings?lat=40", w.ana.token, nil), 400, "malformed-request")
	w.problem(w.call("GET", "/v1/listings?lat=x&lon=1&radius_km=1", w.ana.token, nil), 400, "malformed-request")
	p := w.problem(w.call("GET", "/v1/listings?lat=40&lon=-3&radius_km=0", w.ana.token, nil), 422, "invalid-request")
	if !hasField(p, "radius_km") {
		t.Errorf("bad radius: %+v", p.Errors)
	}
}

func TestWithdrawListing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	l := w.listing(w.ana, w.timebank, exchange.Offer, "food", 40, exchange.VisibilityOrg).ID.String()
	w.problem(w.call("POST", "/v1/listings/"+l+"/withdraw", w.ben.token, nil), 403, "forbidden")
	w.problem(w.call("POST", "/v1/listings/"+l+"/withdraw", w.cam.token, nil), 404, "not-found")
	got := w.must(w.call("POST", "/v1/listings/"+l+"/withdraw", w.ana.token, nil), 200)
	if got["status"] != "withdrawn" {
		t.Fatalf("withdrawn: %v", got)
	}
	w.problem(w.call("POST", "/v1/listings/"+l+"/withdraw", w.coordTB.token, nil), 409, "status-transition")
	other := w.listing(w.ben, w.timebank, exchange.Offer, "food", 40, exchange.VisibilityOrg).ID.String()
	w.must(w.call("POST", "/v1/listings/"+other+"/withdraw", w.coordTB.token, nil), 200)
	if got := w.must(w.call("GET", "/v1/listings?kind=offer", w.ana.token, nil), 200)["items"].([]any); len(got) != 0 {
		t.Errorf("withdrawn listings still searched: %v", got)
	}
}

func TestListingMatches(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	need := w.listing(w.ana, w.timebank, exchange.Need, "food", 40, exchange.VisibilityOrg)
	far := w.listing(w.ben, w.timebank, exchange.Offer, "food", 40.1, exchange.VisibilityOrg)
	near := w.listing(w.cam, w.coop, exchange.Offer, "food", 40.01, exchange.VisibilityPublic)
	otherCategory := w.listing(w.ben, w.timebank, exchange.Offer, "tech", 40, exchange.VisibilityPublic)
	own := w.listing(w.ana, w.timebank, exchange.Offer, "food", 40, exchange.VisibilityPublic)
	hidden := w.listing(w.coordCoop, w.coop, exchange.Offer, "food", 40, exchange.VisibilityOrg)

	type match struct {
		Listing struct {
			ID string `json:"id"`
		} `json:"listing"`
		Score struct {
			Total, Category, Distance, Km float64
		} `json:"score"`
	}
	matches := func(token, id, query string) []match {
		var l struct {
			Items []match `json:"items"`
		}
		r := w.call("GET", "/v1/listings/"+id+"/matches"+query, token, nil)
		if r.status != 200 {
			t.Fatalf("matches: %s", r)
		}
		r.decode(t, &l)
		return l.Items
	}
	got := matches(w.ana.token, need.ID.String(), "")
	if len(got) != 2 || got[0].Listing.ID != near.ID.String() || got[1].Listing.ID != far.ID.String() {
		t.Fatalf("matches %+v, want %s then %s (not %s, %s, %s)", got, near.ID, far.ID, otherCategory.ID, own.ID, hidden.ID)
	}
	if !(got[0].Score.Total > got[1].Score.Total) || got[0].Score.Category != 1 || !(got[0].Score.Km < got[1].Score.Km) {
		t.Errorf("scores %+v", got)
	}
	if got := matches(w.ana.token, need.ID.String(), "?limit=1"); len(got) != 1 || got[0].Listing.ID != near.ID.String() {
		t.Errorf("limit 1: %+v", got)
	}
	// From the offer's side: the need, when its viewer may see it.
	if got := matches(w.ben.token, far.ID.String(), ""); len(got) != 1 || got[0].Listing.ID != need.ID.String() {
		t.Errorf("the offer's matches: %+v", got)
	}
	if got := matches(w.cam.token, near.ID.String(), ""); len(got) != 0 {
		t.Errorf("an org-only need shown to an outsider: %+v", got)
	}
	w.problem(w.call("GET", "/v1/listings/"+need.ID.String()+"/matches", w.cam.token, nil), 404, "not-found")
	w.problem(w.call("GET", "/v1/listings/"+need.ID.String()+"/matches?limit=0", w.ana.token, nil), 400, "malformed-request")
}
