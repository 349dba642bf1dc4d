package exchange_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/exchange/matching"
	"github.com/mutual-ledger/mutual/ledger"
)

// listingWorld is a network with two cities, a time bank in each, and
// members: ana and ben in Oaxaca's time bank, cleo in Montréal's.
type listingWorld struct {
	env
	oaxaca, montreal exchange.Org
	ana, ben, cleo   exchange.Member
}

func newListingWorld(t testing.TB) listingWorld {
	t.Helper()
	ctx := context.Background()
	e := newEnv(t)
	for _, u := range []ledger.Unit{{Code: "HOUR", Scale: 2}, {Code: "MEAL", Scale: 0}} {
		if _, err := e.led.CreateUnit(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	net := e.org(t, nil, exchange.KindNetwork, "Red Mutual")
	w := listingWorld{env: e}
	w.oaxaca = e.org(t, &net, exchange.KindTimebank, "Oaxaca Time Bank")
	w.montreal = e.org(t, &net, exchange.KindTimebank, "Montréal Time Bank")
	w.ana, w.ben, w.cleo = e.member(t, "Ana"), e.member(t, "Ben"), e.member(t, "Cleo")
	e.join(t, w.oaxaca, w.ana, exchange.RoleMember)
	e.join(t, w.oaxaca, w.ben, exchange.RoleMember)
	e.join(t, w.montreal, w.cleo, exchange.RoleMember)
	return w
}

var (
	oaxacaCenter   = exchange.Point{Lat: 17.0732, Lon: -96.7266}
	montrealCenter = exchange.Point{Lat: 45.5019, Lon: -73.5674}
)

// need is a valid request to post a need in Oaxaca.
func (w listingWorld) need() exchange.NewListing {
	start := w.clock.Now().Add(24 * time.Hour)
	return exchange.NewListing{
		OrgID: w.oaxaca.ID, Owner: w.ana.ID, Kind: exchange.Need,
		Title: "  Ride to the clinic ", Description: "Tuesday morning, wheelchair fits in a hatchback.",
		Category: "transport", Tags: []string{"Clinic", "wheelchair", "clinic"},
		Quantity: decimal.RequireFromString("1.5"), Place: oaxacaCenter, City: "Oaxaca", Neighborhood: "Jalatlaco",
		Start: start, End: start.Add(3 * time.Hour), Urgency: 2, Visibility: exchange.VisibilityPublic,
	}
}

func (w listingWorld) post(t testing.TB, in exchange.NewListing) exchange.Listing {
	t.Helper()
	l, err := w.ex.CreateListing(context.Background(), exchange.System(), in)
	if err != nil {
		t.Fatalf("posting %q: %v", in.Title, err)
	}
	return l
}

func TestCreateListing(t *testing.T) {
	ctx := context.Background()
	w := newListingWorld(t)

	l := w.post(t, w.need())
	if l.Title != "Ride to the clinic" || l.Unit != "HOUR" || l.Status != exchange.StatusOpen ||
		!slices.Equal(l.Tags, []string{"clinic", "wheelchair"}) || l.Urgency != 2 || l.Owner != w.ana.ID {
		t.Errorf("created %+v", l)
	}
	got, err := w.ex.Listing(ctx, exchange.Principal{MemberID: uuid.New(), Admin: true}, l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Title != l.Title || !slices.Equal(got.Tags, l.Tags) || !got.Start.Equal(l.Start) || !got.End.Equal(l.End) ||
		got.Place != l.Place || got.Visibility != exchange.VisibilityPublic || got.Neighborhood != "Jalatlaco" ||
		!got.CreatedAt.Equal(l.CreatedAt) || !got.Quantity.Equal(decimal.RequireFromString("1.5")) {
		t.Errorf("read back %+v, want %+v", got, l)
	}

	// An offer without a window, tags or visibility: org-only by default.
	offer := w.need()
	offer.Kind, offer.Urgency, offer.Start, offer.End, offer.Tags, offer.Visibility = exchange.Offer, 0, time.Time{}, time.Time{}, nil, ""
	o := w.post(t, offer)
	if o.Visibility != exchange.VisibilityOrg || o.Tags == nil || len(o.Tags) != 0 || !o.Start.IsZero() {
		t.Errorf("offer %+v", o)
	}
	if _, err := w.ex.Listing(ctx, exchange.Principal{MemberID: uuid.New(), Admin: true}, uuid.New()); !errors.Is(err, exchange.ErrUnknownListing) {
		t.Errorf("unknown listing: %v", err)
	}
	again := w.need()
	again.ID = l.ID
	if _, err := w.ex.CreateListing(ctx, exchange.System(), again); !isCode(err, ledger.ECONFLICT) {
		t.Errorf("taken id: %v", err)
	}

	// ToMatching carries what the engine scores on.
	m := exchange.ToMatching(got)
	if m.Kind != matching.Need || m.ID != l.ID.String() || m.Owner != w.ana.ID.String() || m.Quantity != 150 ||
		m.Lat != oaxacaCenter.Lat || !m.Start.Equal(l.Start) || m.Urgency != 2 || m.Category != "transport" {
		t.Errorf("ToMatching = %+v", m)
	}
}

func TestCreateListingRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	w := newListingWorld(t)
	past := w.clock.Now().Add(-time.Minute)
	cases := []struct {
		name string
		edit func(*exchange.NewListing)
		want error
	}{
		{"no org", func(n *exchange.NewListing) { n.OrgID = uuid.Nil }, ledger.ErrInvalidRequest},
		{"no owner", func(n *exchange.NewListing) { n.Owner = uuid.Nil }, ledger.ErrInvalidRequest},
		{"bad kind", func(n *exchange.NewListing) { n.Kind = "gift" }, ledger.ErrInvalidRequest},
		{"empty title", func(n *exchange.NewListing) { n.Title = "   " }, ledger.ErrInvalidRequest},
		{"long title", func(n *exchange.NewListing) { n.Title = strings.Repeat("é", 201) }, ledger.ErrInvalidRequest},
		{"long description", func(n *exchange.NewListing) { n.Description = strings.Repeat("a", 5001) }, ledger.ErrInvalidRequest},
		{"no category", func(n *exchange.NewListing) { n.Category = "" }, ledger.ErrInvalidRequest},
		{"unknown category", func(n *exchange.NewListing) { n.Category = "astrology" }, exchange.ErrUnknownCategory},
		{"malformed category", func(n *exchange.NewListing) { n.Category = "Food!" }, exchange.ErrUnknownCategory},
		{"empty tag", func(n *exchange.NewListing) { n.Tags = []string{"ok", " "} }, ledger.ErrInvalidRequest},
		{"bad tag", func(n *exchange.NewListing) { n.Tags = []string{"a,b"} }, ledger.ErrInvalidRequest},
		{"too many tags", func(n *exchange.NewListing) {
			n.Tags = nil
			for i := range exchange.MaxTags + 1 {
				n.Tags = append(n.Tags, strings.Repeat("t", i+1))
			}
		}, ledger.ErrInvalidRequest},
		{"zero quantity", func(n *exchange.NewListing) { n.Quantity = decimal.Zero }, ledger.ErrInvalidRequest},
		{"negative quantity", func(n *exchange.NewListing) { n.Quantity = decimal.NewFromInt(-1) }, ledger.ErrInvalidRequest},
		{"unknown unit", func(n *exchange.NewListing) { n.Unit = "KWH" }, ledger.ErrUnknownUnit},
		{"half a meal", func(n *exchange.NewListing) { n.Unit, n.Quantity = "MEAL", decimal.RequireFromString("1.5") }, ledger.ErrTooManyDecimals},
		{"finer than the unit", func(n *exchange.NewListing) { n.Quantity = decimal.RequireFromString("1.005") }, ledger.ErrTooManyDecimals},
		{"latitude", func(n *exchange.NewListing) { n.Place.Lat = 90.5 }, ledger.ErrInvalidRequest},
		{"longitude", func(n *exchange.NewListing) { n.Place.Lon = -181 }, ledger.ErrInvalidRequest},
		{"NaN", func(n *exchange.NewListing) { n.Place.Lat = math.NaN() }, ledger.ErrInvalidRequest},
		{"long city", func(n *exchange.NewListing) { n.City = strings.Repeat("c", 201) }, ledger.ErrInvalidRequest},
		{"long neighborhood", func(n *exchange.NewListing) { n.Neighborhood = strings.Repeat("c", 201) }, ledger.ErrInvalidRequest},
		{"window reversed", func(n *exchange.NewListing) { n.Start, n.End = n.End, n.Start }, ledger.ErrInvalidRequest},
		{"window empty", func(n *exchange.NewListing) { n.End = n.Start }, ledger.ErrInvalidRequest},
		{"window half", func(n *exchange.NewListing) { n.End = time.Time{} }, ledger.ErrInvalidRequest},
		{"urgency high", func(n *exchange.NewListing) { n.Urgency = 4 }, ledger.ErrInvalidRequest},
		{"urgency negative", func(n *exchange.NewListing) { n.Urgency = -1 }, ledger.ErrInvalidRequest},
		{"urgent offer", func(n *exchange.NewListing) { n.Kind, n.Urgency = exchange.Offer, 1 }, ledger.ErrInvalidRequest},
		{"bad visibility", func(n *exchange.NewListing) { n.Visibility = "friends" }, ledger.ErrInvalidRequest},
		{"expired already", func(n *exchange.NewListing) { n.ExpiresAt = &past }, ledger.ErrInvalidRequest},
		{"unknown org", func(n *exchange.NewListing) { n.OrgID = uuid.New() }, exchange.ErrUnknownOrg},
		{"unknown owner", func(n *exchange.NewListing) { n.Owner = uuid.New() }, exchange.ErrUnknownMember},
		{"owner of another org", func(n *exchange.NewListing) { n.Owner = w.cleo.ID }, exchange.ErrNotAMember},
	}
	for _, c := range cases {
		in := w.need()
		c.edit(&in)
		_, err := w.ex.CreateListing(ctx, exchange.System(), in)
		wantErr(t, c.name, err, c.want)
	}
	if n, m := w.count(t, "listings"), w.count(t, "listing_tags"); n != 0 || m != 0 {
		t.Errorf("refused listings left %d listings and %d tags", n, m)
	}
	// A whole number of meals is fine.
	ok := w.need()
	ok.Unit, ok.Quantity = "MEAL", decimal.NewFromInt(3)
	w.post(t, ok)
}

func TestCategories(t *testing.T) {
	ctx := context.Background()
	w := newListingWorld(t)
	cats, err := w.ex.Categories(ctx, w.principal(t, w.ana))
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, c := range cats {
		codes = append(codes, c.Code)
	}
	for _, want := range []string{"childcare", "food", "transport", "repairs", "housing", "health", "language",
		"tech", "elder_care", "gardening", "education", "arts", "legal_aid", "moving", "cleaning", "pets"} {
		if !slices.Contains(codes, want) {
			t.Errorf("seeded taxonomy lacks %q: %v", want, codes)
		}
	}

	admin := exchange.Principal{MemberID: uuid.New(), Admin: true} // the network admin, as the rules see them
	c, err := w.ex.CreateCategory(ctx, admin, exchange.Category{Code: "bike_repair", Name: " Bike repair ", Parent: ptr("repairs")})
	if err != nil || c.Name != "Bike repair" || *c.Parent != "repairs" {
		t.Fatalf("CreateCategory = %+v, %v", c, err)
	}
	_, err = w.ex.CreateCategory(ctx, admin, exchange.Category{Code: "bike_repair", Name: "Again"})
	wantErr(t, "duplicate", err, exchange.ErrCategoryExists)
	_, err = w.ex.CreateCategory(ctx, admin, exchange.Category{Code: "Bikes", Name: "Bikes"})
	wantErr(t, "bad code", err, ledger.ErrInvalidRequest)
	_, err = w.ex.CreateCategory(ctx, admin, exchange.Category{Code: "bikes", Name: ""})
	wantErr(t, "no name", err, ledger.ErrInvalidRequest)
	_, err = w.ex.CreateCategory(ctx, admin, exchange.Category{Code: "bikes", Name: "Bikes", Parent: ptr("vehicles")})
	wantErr(t, "unknown parent", err, exchange.ErrUnknownCategory)
	_, err = w.ex.CreateCategory(ctx, admin, exchange.Category{Code: "bikes", Name: "Bikes", Parent: ptr("bikes")})
	wantErr(t, "own parent", err, ledger.ErrInvalidRequest)
	if n := w.count(t, "categories"); n != len(cats)+1 {
		t.Errorf("%d categories, want %d", n, len(cats)+1)
	}

	in := w.need()
	in.Category = "bike_repair"
	w.post(t, in)
}

func TestListingStatusTransitions(t *testing.T) {
	ctx := context.Background()
	w := newListingWorld(t)
	const (
		open      = exchange.StatusOpen
		matched   = exchange.StatusMatched
		fulfilled = exchange.StatusFulfilled
		withdrawn = exchange.StatusWithdrawn
		expired   = exchange.StatusExpired
	)
	// How to reach each status from open.
	paths := map[exchange.ListingStatus][]exchange.ListingStatus{
		open: nil, matched: {matched}, fulfilled: {matched, fulfilled}, withdrawn: {withdrawn}, expired: {expired},
	}
	allowed := map[[2]exchange.ListingStatus]bool{
		{open, matched}: true, {open, withdrawn}: true, {open, expired}: true,
		{matched, fulfilled}: true, {matched, open}: true, {matched, withdrawn}: true,
	}
	all := []exchange.ListingStatus{open, matched, fulfilled, withdrawn, expired}
	for _, from := range all {
		for _, to := range all {
			l := w.post(t, w.need())
			for _, step := range paths[from] {
				if _, err := w.ex.UpdateListingStatus(ctx, l.ID, step); err != nil {
					t.Fatalf("%s → %s on the way to %s: %v", l.Status, step, from, err)
				}
			}
			w.clock.Advance(time.Second)
			got, err := w.ex.UpdateListingStatus(ctx, l.ID, to)
			after, rerr := w.ex.Listing(ctx, exchange.Principal{MemberID: uuid.New(), Admin: true}, l.ID)
			if rerr != nil {
				t.Fatal(rerr)
			}
			name := string(from) + " → " + string(to)
			if allowed[[2]exchange.ListingStatus{from, to}] {
				wantErr(t, name, err, nil)
				if got.Status != to || after.Status != to || !after.UpdatedAt.Equal(w.clock.Now()) ||
					!slices.Equal(got.Tags, l.Tags) {
					t.Errorf("%s: returned %s (tags %v), stored %s updated %v", name, got.Status, got.Tags, after.Status, after.UpdatedAt)
				}
			} else {
				wantErr(t, name, err, exchange.ErrStatusTransition)
				if after.Status != from {
					t.Errorf("%s refused, but the listing is now %s", name, after.Status)
				}
			}
		}
	}
	_, err := w.ex.UpdateListingStatus(ctx, uuid.New(), withdrawn)
	wantErr(t, "unknown listing", err, exchange.ErrUnknownListing)
	l := w.post(t, w.need())
	_, err = w.ex.UpdateListingStatus(ctx, l.ID, "done")
	wantErr(t, "unknown status", err, ledger.ErrInvalidRequest)
}

func TestListingExpiry(t *testing.T) {
	ctx := context.Background()
	w := newListingWorld(t)
	in := w.need()
	in.ExpiresAt = ptr(w.clock.Now().Add(time.Hour))
	soon := w.post(t, in)
	in.ExpiresAt = ptr(w.clock.Now().Add(48 * time.Hour))
	later := w.post(t, in)
	in.ExpiresAt = nil
	never := w.post(t, in)
	in.ExpiresAt = ptr(w.clock.Now().Add(time.Hour))
	raced := w.post(t, in)

	openIDs := func() []uuid.UUID {
		t.Helper()
		return ids(t, w, exchange.ListingQuery{})
	}
	if got := openIDs(); !sameIDs(got, soon.ID, later.ID, never.ID, raced.ID) {
		t.Errorf("before expiry, open = %v", got)
	}

	w.clock.Advance(2 * time.Hour)
	// Before ExpireListings runs: not open, and read as expired.
	if got := openIDs(); !sameIDs(got, later.ID, never.ID) {
		t.Errorf("past expiry, open = %v, want only the two unexpired", got)
	}
	if got := ids(t, w, exchange.ListingQuery{Statuses: []exchange.ListingStatus{exchange.StatusExpired}}); !sameIDs(got, soon.ID, raced.ID) {
		t.Errorf("expired = %v", got)
	}
	if l, err := w.ex.Listing(ctx, exchange.Principal{MemberID: uuid.New(), Admin: true}, soon.ID); err != nil || l.Status != exchange.StatusExpired {
		t.Errorf("Listing before ExpireListings: %s, %v", l.Status, err)
	}
	// Matching an expired listing is refused, and records the expiry.
	_, err := w.ex.UpdateListingStatus(ctx, raced.ID, exchange.StatusMatched)
	wantErr(t, "matching an expired listing", err, exchange.ErrStatusTransition)
	if st := storedStatus(t, w, raced.ID); st != "expired" {
		t.Errorf("after the refused change, stored status %q", st)
	}
	if st := storedStatus(t, w, soon.ID); st != "open" {
		t.Errorf("before ExpireListings, stored status %q", st)
	}

	n, err := w.ex.ExpireListings(ctx, w.clock.Now())
	if err != nil || n != 1 {
		t.Errorf("ExpireListings = %d, %v; want 1", n, err)
	}
	if st := storedStatus(t, w, soon.ID); st != "expired" {
		t.Errorf("after ExpireListings, stored status %q", st)
	}
	l, err := w.ex.Listing(ctx, exchange.Principal{MemberID: uuid.New(), Admin: true}, soon.ID)
	if err != nil || l.Status != exchange.StatusExpired || !l.UpdatedAt.Equal(w.clock.Now()) {
		t.Errorf("owner sees %s updated %v, %v", l.Status, l.UpdatedAt, err)
	}
	if n, err := w.ex.ExpireListings(ctx, w.clock.Now()); err != nil || n != 0 {
		t.Errorf("ExpireListings again = %d, %v", n, err)
	}
	if got := openIDs(); !sameIDs(got, later.ID, never.ID) {
		t.Errorf("after ExpireListings, open = %v", got)
	}
}

func storedStatus(t *testing.T, w listingWorld, id uuid.UUID) string {
	t.Helper()
	var st string
	if err := w.pool.QueryRow(context.Background(), `SELECT status FROM listings WHERE id = $1`, id).Scan(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// ids runs a search through every page, checking that pages neither repeat
// nor skip (ids strictly increase), and returns the ids found.
func ids(t *testing.T, w listingWorld, q exchange.ListingQuery) []uuid.UUID {
	t.Helper()
	return pagedIDs(t, w, q, 0)
}

func pagedIDs(t *testing.T, w listingWorld, q exchange.ListingQuery, limit int) []uuid.UUID {
	t.Helper()
	var out []uuid.UUID
	p := exchange.Page{Limit: limit}
	for pages := 0; ; pages++ {
		ls, next, err := w.ex.SearchListings(context.Background(), exchange.System(), q, p)
		if err != nil {
			t.Fatalf("search %+v: %v", q, err)
		}
		if limit > 0 && len(ls) > limit {
			t.Fatalf("page of %d, limit %d", len(ls), limit)
		}
		for _, l := range ls {
			if len(out) > 0 && strings.Compare(l.ID.String(), out[len(out)-1].String()) <= 0 {
				t.Fatalf("ids out of order or repeated: %s after %s", l.ID, out[len(out)-1])
			}
			out = append(out, l.ID)
		}
		if next == uuid.Nil {
			return out
		}
		if pages > 10000 {
			t.Fatal("pagination does not end")
		}
		p.After = next
	}
}

func sameIDs(got []uuid.UUID, want ...uuid.UUID) bool {
	a, b := slices.Clone(got), slices.Clone(want)
	cmp := func(x, y uuid.UUID) int { return strings.Compare(x.String(), y.String()) }
	slices.SortFunc(a, cmp)
	slices.SortFunc(b, cmp)
	return slices.Equal(a, b)
}

// TestSearchListings posts generated listings around Oaxaca and Montréal and
// checks each filter against what the test computes from what it posted.
func TestSearchListings(t *testing.T) {
	ctx := context.Background()
	w := newListingWorld(t)
	rng := rand.New(rand.NewPCG(4, 2))
	categories := []string{"transport", "food", "childcare", "repairs"}
	words := []string{"bicycle", "soup", "homework", "ladder", "piano"}
	base := w.clock.Now()

	type posted struct {
		l  exchange.Listing
		km float64 // from its city's center
	}
	var all []posted
	for i := range 120 {
		city, center, org, owners := "Oaxaca", oaxacaCenter, w.oaxaca, []exchange.Member{w.ana, w.ben}
		if i%2 == 1 {
			city, center, org, owners = "Montréal", montrealCenter, w.montreal, []exchange.Member{w.cleo}
		}
		// Distances are drawn away from the 5 km radius searched below, so
		// that rounding cannot put a point on either side of it.
		km := 0.2 + rng.Float64()*4.5
		if rng.IntN(2) == 0 {
			km = 5.5 + rng.Float64()*20
		}
		in := exchange.NewListing{
			OrgID: org.ID, Owner: owners[rng.IntN(len(owners))].ID, Kind: exchange.Offer,
			Title:       strings.ToUpper(words[i%len(words)][:1]) + words[i%len(words)][1:] + " help",
			Description: "Listing number " + strings.Repeat("x", i%3),
			Category:    categories[rng.IntN(len(categories))], Quantity: decimal.NewFromInt(int64(1 + rng.IntN(4))),
			Place: destination(center, rng.Float64()*360, km), City: city, Visibility: exchange.VisibilityPublic,
		}
		if i%3 == 0 {
			in.Kind, in.Urgency = exchange.Need, rng.IntN(4)
		}
		if i%4 == 0 {
			in.Start = base.Add(time.Duration(rng.IntN(10*24)) * time.Hour)
			in.End = in.Start.Add(time.Duration(1+rng.IntN(6)) * time.Hour)
		}
		if i%5 == 0 {
			in.Tags = []string{"evenings"}
		}
		if i%7 == 0 {
			in.Visibility = exchange.VisibilityOrg
		}
		all = append(all, posted{w.post(t, in), km})
	}
	withdrawn := all[3].l
	if _, err := w.ex.UpdateListingStatus(ctx, withdrawn.ID, exchange.StatusWithdrawn); err != nil {
		t.Fatal(err)
	}
	admin := exchange.Viewer{All: true}
	want := func(keep func(p posted) bool) []uuid.UUID {
		var out []uuid.UUID
		for _, p := range all {
			if p.l.ID != withdrawn.ID && keep(p) {
				out = append(out, p.l.ID)
			}
		}
		return out
	}
	check := func(name string, q exchange.ListingQuery, keep func(p posted) bool) {
		t.Helper()
		got := ids(t, w, q)
		exp := want(keep)
		if !sameIDs(got, exp...) {
			t.Errorf("%s: %d results, want %d", name, len(got), len(exp))
		}
		if len(exp) == 0 {
			t.Errorf("%s: the generated data has nothing to find", name)
		}
	}
	nearOaxaca := func(p posted) bool { return p.l.City == "Oaxaca" && p.km <= 5 }
	window := func(p posted, from, to time.Time) bool {
		return p.l.Start.IsZero() || p.l.End.After(from) && p.l.Start.Before(to)
	}
	from, to := base.Add(48*time.Hour), base.Add(72*time.Hour)

	check("everything open", exchange.ListingQuery{Viewer: admin}, func(posted) bool { return true })
	check("needs", exchange.ListingQuery{Viewer: admin, Kind: exchange.Need}, func(p posted) bool { return p.l.Kind == exchange.Need })
	check("food offers", exchange.ListingQuery{Viewer: admin, Kind: exchange.Offer, Category: "food"}, func(p posted) bool {
		return p.l.Kind == exchange.Offer && p.l.Category == "food"
	})
	check("text", exchange.ListingQuery{Viewer: admin, Text: "  BICYCLE  "}, func(p posted) bool { return strings.HasPrefix(p.l.Title, "Bicycle") })
	check("text, two words", exchange.ListingQuery{Viewer: admin, Text: "soup xx"}, func(p posted) bool {
		return strings.HasPrefix(p.l.Title, "Soup") && strings.Contains(p.l.Description, "xx")
	})
	check("text in tags", exchange.ListingQuery{Viewer: admin, Text: "evenings"}, func(p posted) bool { return len(p.l.Tags) > 0 })
	check("tag", exchange.ListingQuery{Viewer: admin, Tags: []string{"Evenings"}}, func(p posted) bool { return len(p.l.Tags) > 0 })
	check("within 5 km of Oaxaca", exchange.ListingQuery{Viewer: admin, Near: &oaxacaCenter, RadiusKm: 5}, nearOaxaca)
	check("within 5 km of Montréal", exchange.ListingQuery{Viewer: admin, Near: &montrealCenter, RadiusKm: 5}, func(p posted) bool {
		return p.l.City == "Montréal" && p.km <= 5
	})
	check("within 30 km of Oaxaca", exchange.ListingQuery{Viewer: admin, Near: &oaxacaCenter, RadiusKm: 30}, func(p posted) bool {
		return p.l.City == "Oaxaca"
	})
	check("time window", exchange.ListingQuery{Viewer: admin, From: from, To: to}, func(p posted) bool { return window(p, from, to) })
	check("open-ended window", exchange.ListingQuery{Viewer: admin, From: base.Add(9 * 24 * time.Hour)}, func(p posted) bool {
		return p.l.Start.IsZero() || p.l.End.After(base.Add(9*24*time.Hour))
	})
	check("organization", exchange.ListingQuery{Viewer: admin, OrgID: w.montreal.ID}, func(p posted) bool { return p.l.OrgID == w.montreal.ID })
	check("everything combined", exchange.ListingQuery{Viewer: admin, Near: &oaxacaCenter, RadiusKm: 5, Kind: exchange.Offer, From: from, To: to},
		func(p posted) bool { return nearOaxaca(p) && p.l.Kind == exchange.Offer && window(p, from, to) })

	// Visibility: org-only listings are seen by their organization's
	// members, their owner and the admin only.
	public := func(p posted) bool { return p.l.Visibility == exchange.VisibilityPublic }
	check("anonymous", exchange.ListingQuery{}, public)
	check("cleo of Montréal", exchange.ListingQuery{Viewer: exchange.ViewerOf(w.principal(t, w.cleo))}, func(p posted) bool {
		return public(p) || p.l.OrgID == w.montreal.ID
	})
	check("ben of Oaxaca", exchange.ListingQuery{Viewer: exchange.ViewerOf(w.principal(t, w.ben))}, func(p posted) bool {
		return public(p) || p.l.OrgID == w.oaxaca.ID
	})
	hidden := all[0].l // i = 0: org-only, in Oaxaca
	if hidden.Visibility != exchange.VisibilityOrg || hidden.OrgID != w.oaxaca.ID {
		t.Fatalf("listing 0 is %s in %s", hidden.Visibility, hidden.OrgID)
	}
	cleo := exchange.ViewerOf(w.principal(t, w.cleo))
	if got := ids(t, w, exchange.ListingQuery{Viewer: cleo, OrgID: w.oaxaca.ID}); slices.Contains(got, hidden.ID) {
		t.Error("a member of another organization found an org-only listing")
	}
	if cleo.MaySee(hidden) || !exchange.ViewerOf(w.principal(t, w.ana)).MaySee(hidden) || (exchange.Viewer{}).MaySee(hidden) {
		t.Error("MaySee disagrees with the search on an org-only listing")
	}
	// Other statuses are found when asked for.
	if got := ids(t, w, exchange.ListingQuery{Viewer: admin, Statuses: []exchange.ListingStatus{exchange.StatusWithdrawn}}); !sameIDs(got, withdrawn.ID) {
		t.Errorf("withdrawn = %v", got)
	}

	// Pagination: every page size walks the same set, without gaps or
	// repeats (pagedIDs checks the order).
	full := ids(t, w, exchange.ListingQuery{Viewer: admin})
	for _, limit := range []int{1, 7, 50, 119, 500} {
		if got := pagedIDs(t, w, exchange.ListingQuery{Viewer: admin}, limit); !slices.Equal(got, full) {
			t.Errorf("limit %d walked %d listings, want %d", limit, len(got), len(full))
		}
	}

	// Bad queries.
	bad := []struct {
		name string
		q    exchange.ListingQuery
		p    exchange.Page
	}{
		{"kind", exchange.ListingQuery{Kind: "gift"}, exchange.Page{}},
		{"status", exchange.ListingQuery{Statuses: []exchange.ListingStatus{"lost"}}, exchange.Page{}},
		{"radius", exchange.ListingQuery{Near: &oaxacaCenter}, exchange.Page{}},
		{"point", exchange.ListingQuery{Near: &exchange.Point{Lat: 91}, RadiusKm: 1}, exchange.Page{}},
		{"window", exchange.ListingQuery{From: to, To: from}, exchange.Page{}},
		{"words", exchange.ListingQuery{Text: strings.Repeat("a ", 11)}, exchange.Page{}},
		{"limit", exchange.ListingQuery{}, exchange.Page{Limit: exchange.MaxLimit + 1}},
	}
	for _, b := range bad {
		_, _, err := w.ex.SearchListings(ctx, exchange.System(), b.q, b.p)
		wantErr(t, "bad "+b.name, err, ledger.ErrInvalidRequest)
	}
	// LIKE's wildcards are searched for literally.
	if got := ids(t, w, exchange.ListingQuery{Viewer: admin, Text: "%"}); len(got) != 0 {
		t.Errorf("searching %% found %d listings", len(got))
	}
}

// destination is the point km away from p on the given bearing (degrees).
func destination(p exchange.Point, bearing, km float64) exchange.Point {
	const r = 6371.0
	rad := math.Pi / 180
	lat1, lon1, b, d := p.Lat*rad, p.Lon*rad, bearing*rad, km/r
	lat2 := math.Asin(math.Sin(lat1)*math.Cos(d) + math.Cos(lat1)*math.Sin(d)*math.Cos(b))
	lon2 := lon1 + math.Atan2(math.Sin(b)*math.Sin(d)*math.Cos(lat1), math.Cos(d)-math.Sin(lat1)*math.Sin(lat2))
	return exchange.Point{Lat: lat2 / rad, Lon: lon2 / rad}
}

func isCode(err error, code ledger.Code) bool {
	var e *ledger.Error
	return errors.As(err, &e) && e.Code == code
}
