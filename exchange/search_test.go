package exchange_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

func foundIDs(t *testing.T, w listingWorld, q exchange.ListingQuery) []uuid.UUID {
	t.Helper()
	fs, _, err := w.ex.FindListings(context.Background(), exchange.System(), q, nil, exchange.Page{Limit: exchange.MaxLimit})
	if err != nil {
		t.Fatalf("FindListings(%+v): %v", q, err)
	}
	out := make([]uuid.UUID, len(fs))
	for i, f := range fs {
		out[i] = f.ID
	}
	return out
}

// Listings written before the words existed (or with older words) are
// found once IndexListingWords has indexed them, and only then; indexing
// again changes nothing.
func TestIndexListingWords(t *testing.T) {
	ctx := context.Background()
	w := newListingWorld(t)
	in := w.need()
	in.Title = "Cuidado de niños"
	old := w.post(t, in)
	in.Title = "Clases de guitarra"
	fresh := w.post(t, in)
	admin := exchange.Viewer{All: true}
	if got := foundIDs(t, w, exchange.ListingQuery{Viewer: admin, Text: "NINOS"}); !slices.Equal(got, []uuid.UUID{old.ID}) {
		t.Fatalf("before: %v", got)
	}
	// As a listing posted before migration 0020 stands: no words, version 0.
	if _, err := w.pool.Exec(ctx, `DELETE FROM listing_words WHERE listing_id = $1`, old.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.pool.Exec(ctx, `UPDATE listings SET words_version = 0, search_text = '' WHERE id = $1`, old.ID); err != nil {
		t.Fatal(err)
	}
	if got := foundIDs(t, w, exchange.ListingQuery{Viewer: admin, Text: "ninos"}); len(got) != 0 {
		t.Fatalf("an unindexed listing was found: %v", got)
	}
	n, err := w.ex.IndexListingWords(ctx)
	if err != nil || n != 1 {
		t.Fatalf("IndexListingWords = %d, %v; want the one listing", n, err)
	}
	if got := foundIDs(t, w, exchange.ListingQuery{Viewer: admin, Text: "niños cuidado"}); !slices.Equal(got, []uuid.UUID{old.ID}) {
		t.Errorf("after indexing: %v", got)
	}
	var text string
	if err := w.pool.QueryRow(ctx, `SELECT search_text FROM listings WHERE id = $1`, old.ID).Scan(&text); err != nil || text == "" {
		t.Errorf("search_text after indexing: %q, %v", text, err)
	}
	if n, err := w.ex.IndexListingWords(ctx); err != nil || n != 0 {
		t.Errorf("indexing again: %d, %v; want nothing to do", n, err)
	}
	if got := foundIDs(t, w, exchange.ListingQuery{Viewer: admin, Text: "guitarra"}); !slices.Equal(got, []uuid.UUID{fresh.ID}) {
		t.Errorf("the other listing: %v", got)
	}
}

// A need takes its organization's reach and zone when it says none; an
// offer says it is remote and when it is given; what only one kind may say
// is refused on the other, and the schema refuses it too.
func TestListingReach(t *testing.T) {
	ctx := context.Background()
	w := newListingWorld(t)
	need := w.post(t, w.need())
	if need.MaxKm != 25 || need.TimeZone != "UTC" || need.Remote || need.Flexible || len(need.Weekly) != 0 {
		t.Errorf("a need saying nothing: %+v", need)
	}
	coord := w.member(t, "Coord")
	w.join(t, w.oaxaca, coord, exchange.RoleCoordinator)
	if _, err := w.ex.SetOrgMatching(ctx, w.principal(t, coord), w.oaxaca.ID, 7.5, "America/Mexico_City"); err != nil {
		t.Fatal(err)
	}
	_, err := w.ex.SetOrgMatching(ctx, w.principal(t, w.ana), w.oaxaca.ID, 7.5, "UTC")
	wantErr(t, "a member setting her organization's defaults", err, exchange.ErrForbidden)
	need = w.post(t, w.need())
	if need.MaxKm != 7.5 || need.TimeZone != "America/Mexico_City" {
		t.Errorf("a need after the defaults changed: reach %v zone %q", need.MaxKm, need.TimeZone)
	}
	in := w.need()
	in.Kind, in.Urgency = exchange.Offer, 0
	in.Remote = true
	in.Weekly = []exchange.WeeklySlot{{Day: time.Saturday, Start: 600, End: 720}, {Day: time.Saturday, Start: 540, End: 600}, {Day: time.Monday, Start: 0, End: 1440}}
	offer := w.post(t, in)
	got, err := w.ex.Listing(ctx, w.principal(t, w.ana), offer.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []exchange.WeeklySlot{{Day: time.Monday, Start: 0, End: 1440}, {Day: time.Saturday, Start: 540, End: 720}}
	if !got.Remote || got.MaxKm != 0 || !slices.Equal(got.Weekly, want) {
		t.Errorf("the offer read back: remote %v reach %v weekly %v; want remote, no reach, %v", got.Remote, got.MaxKm, got.Weekly, want)
	}
	for _, bad := range []func(*exchange.NewListing){
		func(l *exchange.NewListing) { l.MaxKm = 3 },
		func(l *exchange.NewListing) { l.Flexible = true },
		func(l *exchange.NewListing) { l.Weekly = []exchange.WeeklySlot{{Day: 7, Start: 0, End: 60}} },
		func(l *exchange.NewListing) { l.Weekly = []exchange.WeeklySlot{{Day: 1, Start: 60, End: 60}} },
		func(l *exchange.NewListing) { l.Weekly = []exchange.WeeklySlot{{Day: 1, Start: 0, End: 1441}} },
		func(l *exchange.NewListing) { l.TimeZone = "Atlantis/Capital" },
	} {
		o := in
		bad(&o)
		if _, err := w.ex.CreateListing(ctx, exchange.System(), o); !isInvalid(err) {
			t.Errorf("offer %+v: %v, want invalid", o, err)
		}
	}
	n := w.need()
	n.Remote = true
	if _, err := w.ex.CreateListing(ctx, exchange.System(), n); !isInvalid(err) {
		t.Errorf("a remote need: %v", err)
	}
	// The schema backs the rules.
	for _, sql := range []string{
		`UPDATE listings SET remote = true WHERE id = '` + need.ID.String() + `'`,
		`UPDATE listings SET max_km = 5 WHERE id = '` + offer.ID.String() + `'`,
		`UPDATE listings SET weekly = '7:0-60' WHERE id = '` + offer.ID.String() + `'`,
		`UPDATE listings SET time_zone = 'x y' WHERE id = '` + offer.ID.String() + `'`,
		`INSERT INTO category_relations VALUES ('food', 'food', 0.5, now())`,
		`INSERT INTO category_relations VALUES ('food', 'pets', 1, now())`,
	} {
		if _, err := w.pool.Exec(ctx, sql); err == nil {
			t.Errorf("the schema took %s", sql)
		}
	}
}

func isInvalid(err error) bool { return errors.Is(err, ledger.ErrInvalidRequest) }
