package exchange_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/exchange/matching"
	"github.com/mutual-ledger/mutual/ledger"
)

// TestWhatTheNeighborPagesRead: the methods the neighbor's pages read
// decide themselves what a member may know. Names: of those who share an
// organization with the member, never of strangers. Accounts: one's own,
// not another member's. Neighborhoods: an organization's listings to its
// members, only its public ones to others. Matches: ranked, with the
// score's parts and the fairness history that weighed.
func TestWhatTheNeighborPagesRead(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.led.CreateUnit(ctx, ledger.Unit{Code: "HOUR", Scale: 2, Name: "hour"}); err != nil {
		t.Fatal(err)
	}
	network := e.org(t, nil, exchange.KindNetwork, "Network")
	north := e.org(t, &network, exchange.KindTimebank, "North")
	south := e.org(t, &network, exchange.KindTimebank, "South")
	ana, bruno, carla := e.member(t, "Ana"), e.member(t, "Bruno"), e.member(t, "Carla")
	e.join(t, north, ana, exchange.RoleMember)
	e.join(t, north, bruno, exchange.RoleMember)
	e.join(t, south, carla, exchange.RoleMember)
	for _, m := range []exchange.Member{ana, bruno} {
		if _, err := e.ex.OpenMemberAccount(ctx, exchange.System(), north.ID, m.ID, "HOUR", decimal.NewFromInt(10)); err != nil {
			t.Fatal(err)
		}
	}
	pa, pb, pc := e.principal(t, ana), e.principal(t, bruno), e.principal(t, carla)

	// Names.
	names, err := e.ex.MemberNames(ctx, pa, []uuid.UUID{ana.ID, bruno.ID, carla.ID, uuid.New()})
	if err != nil || len(names) != 2 || names[ana.ID] != "Ana" || names[bruno.ID] != "Bruno" {
		t.Errorf("Ana knows the names %v (%v), want hers and Bruno's only", names, err)
	}
	if names, _ := e.ex.MemberNames(ctx, pc, []uuid.UUID{ana.ID, bruno.ID}); len(names) != 0 {
		t.Errorf("Carla, of another time bank, knows the names %v", names)
	}
	if _, err := e.ex.MemberNames(ctx, exchange.Principal{}, []uuid.UUID{ana.ID}); err == nil {
		t.Errorf("a visitor was told names")
	}

	// Accounts.
	accs, err := e.ex.MemberAccounts(ctx, pa, ana.ID)
	if err != nil || len(accs) != 1 || accs[0].Unit != "HOUR" || accs[0].Owner != exchange.MemberOwner(ana.ID) {
		t.Errorf("Ana's accounts = %+v (%v)", accs, err)
	}
	if accs, err := e.ex.MemberAccounts(ctx, pa, bruno.ID); err == nil || len(accs) != 0 {
		t.Errorf("Ana read Bruno's accounts: %+v", accs)
	}

	// Neighborhoods: two listings in Gràcia (their mean point), one
	// org-only listing in Sants.
	post := func(owner exchange.Member, kind exchange.ListingKind, title, hood string, lat, lon float64, vis exchange.Visibility) exchange.Listing {
		t.Helper()
		l, err := e.ex.CreateListing(ctx, exchange.System(), exchange.NewListing{OrgID: north.ID, Owner: owner.ID, Kind: kind, Title: title,
			Category: "transport", Quantity: decimal.NewFromInt(2), Place: exchange.Point{Lat: lat, Lon: lon},
			City: "Barcelona", Neighborhood: hood, Visibility: vis})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	offer := post(bruno, exchange.Offer, "Rides", "Gràcia", 41.40, 2.15, exchange.VisibilityPublic)
	need := post(ana, exchange.Need, "Ride to the clinic", "Gràcia", 41.42, 2.17, exchange.VisibilityOrg)
	post(bruno, exchange.Offer, "Rides south", "Sants", 41.37, 2.13, exchange.VisibilityOrg)
	hoods, err := e.ex.Neighborhoods(ctx, pa, north.ID)
	if err != nil || len(hoods) != 2 || hoods[0].Name != "Gràcia" || hoods[0].Listings != 2 || hoods[1].Name != "Sants" {
		t.Fatalf("North's neighborhoods for Ana = %+v (%v)", hoods, err)
	}
	if p := hoods[0].Place; p.Lat < 41.4099 || p.Lat > 41.4101 || p.Lon < 2.1599 || p.Lon > 2.1601 {
		t.Errorf("Gràcia's point = %+v, want the mean of its listings (41.41, 2.16)", p)
	}
	if hoods, _ := e.ex.Neighborhoods(ctx, pc, north.ID); len(hoods) != 1 || hoods[0].Listings != 1 {
		t.Errorf("Carla sees North's neighborhoods %+v, want Gràcia of its one public listing", hoods)
	}

	// Matches: Ana's need finds Bruno's two offers, nearest best, with
	// no history yet; once Bruno was asked, the history is told.
	cfg := matching.DefaultConfig()
	l, ms, err := e.ex.Matches(ctx, pa, need.ID, cfg, 10)
	if err != nil || l.ID != need.ID || len(ms) != 2 || ms[0].Listing.ID != offer.ID {
		t.Fatalf("the need's matches = %+v (%v)", ms, err)
	}
	if b := ms[0].Score; b.Category != 1 || b.Km < 2.7 || b.Km > 2.9 || ms[0].Asked != 0 || ms[0].Received != 0 {
		t.Errorf("the best match = %+v asked %d received %d", b, ms[0].Asked, ms[0].Received)
	}
	if _, err := e.ex.ProposeAgreement(ctx, pa, exchange.NewAgreement{OfferID: offer.ID, NeedID: need.ID}); err != nil {
		t.Fatal(err)
	}
	_, ms, err = e.ex.Matches(ctx, pb, offer.ID, cfg, 10)
	if err != nil || len(ms) != 1 || ms[0].Listing.ID != need.ID || ms[0].Asked != 200 {
		t.Errorf("the offer's matches after Bruno was asked for 2 h = %+v (%v)", ms, err)
	}
	if _, _, err := e.ex.Matches(ctx, pc, need.ID, cfg, 10); err == nil {
		t.Errorf("Carla saw the matches of an org-only need of another time bank")
	}
	if _, _, err := e.ex.Matches(ctx, pa, need.ID, cfg, 0); err == nil {
		t.Errorf("a limit of 0 was taken")
	}
}
