package exchange_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

// TestBatchedReadsAgreeWithSingleOnes: TransfersFor and ListingsByID, which
// the pages use to read a list in one round trip, show each principal
// exactly what TransferFor and Listing show them one at a time, no more:
// a transfer touching only accounts someone may not read, a listing of
// another organization only its members see, and an id that names nothing
// are left out.
func TestBatchedReadsAgreeWithSingleOnes(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	w := newWorld(t, e)
	move := func(from, to ledger.Account) uuid.UUID {
		t.Helper()
		tr, err := e.led.CreateTransfer(ctx, ledger.TransferRequest{Memo: "a move", Postings: []ledger.Posting{
			{From: from.ID, To: to.ID, Amount: money("2"), Unit: "HOUR"}}})
		if err != nil {
			t.Fatal(err)
		}
		return tr.ID
	}
	transfers := []uuid.UUID{
		move(w.externalAcct, w.memberAcct), // the owner's
		move(w.externalAcct, w.orgAcct),    // the time bank's
		move(w.externalAcct, w.localAcct),  // the local's
		move(w.memberAcct, w.orgAcct),      // both
		uuid.New(),                         // nothing
	}
	lw := listingWorld{env: e}
	post := func(org exchange.Org, owner uuid.UUID, vis exchange.Visibility) uuid.UUID {
		t.Helper()
		in := lw.need()
		in.OrgID, in.Owner, in.Visibility = org.ID, owner, vis
		return lw.post(t, in).ID
	}
	listings := []uuid.UUID{
		post(w.timebank, w.owner.MemberID, exchange.VisibilityPublic),
		post(w.timebank, w.owner.MemberID, exchange.VisibilityOrg),
		post(w.coop, w.coordOther.MemberID, exchange.VisibilityOrg),
		uuid.New(),
	}
	people := map[string]exchange.Principal{"owner": w.owner, "other": w.other, "coordinator": w.coordOwn,
		"coop's coordinator": w.coordOther, "local's coordinator": w.coordAnc, "admin": w.admin}
	for who, p := range people {
		got, err := e.ex.TransfersFor(ctx, p, transfers)
		if err != nil {
			t.Fatalf("%s: TransfersFor: %v", who, err)
		}
		var want, seen []uuid.UUID
		for _, id := range transfers {
			one, err := e.ex.TransferFor(ctx, p, id)
			switch {
			case err == nil:
				want = append(want, id)
				if !reflect.DeepEqual(got[id], one) {
					t.Errorf("%s: transfer %s batched %+v, alone %+v", who, id, got[id], one)
				}
			case !errors.Is(err, ledger.ErrUnknownTransfer):
				t.Fatalf("%s: TransferFor: %v", who, err)
			}
		}
		for id := range got {
			seen = append(seen, id)
		}
		if !sameIDs(seen, want...) {
			t.Errorf("%s: TransfersFor shows %v, TransferFor one by one %v", who, seen, want)
		}

		ls, err := e.ex.ListingsByID(ctx, p, listings)
		if err != nil {
			t.Fatalf("%s: ListingsByID: %v", who, err)
		}
		want, seen = nil, nil
		for _, id := range listings {
			one, err := e.ex.Listing(ctx, p, id)
			switch {
			case err == nil:
				want = append(want, id)
				if !reflect.DeepEqual(ls[id], one) {
					t.Errorf("%s: listing %s batched %+v, alone %+v", who, id, ls[id], one)
				}
			case !errors.Is(err, exchange.ErrUnknownListing):
				t.Fatalf("%s: Listing: %v", who, err)
			}
		}
		for id := range ls {
			seen = append(seen, id)
		}
		if !sameIDs(seen, want...) {
			t.Errorf("%s: ListingsByID shows %v, Listing one by one %v", who, seen, want)
		}
	}
	// The cases the test is for happen: someone sees fewer than all.
	if got, _ := e.ex.TransfersFor(ctx, w.other, transfers); len(got) != 0 {
		t.Errorf("another member of the time bank sees %d of the transfers, want none", len(got))
	}
	if got, _ := e.ex.ListingsByID(ctx, w.coordOther, listings); len(got) != 2 {
		t.Errorf("the coop's coordinator sees %d listings, want 2 (the public one and the coop's)", len(got))
	}
	if _, err := e.ex.TransfersFor(ctx, exchange.Principal{}, transfers); !errors.Is(err, exchange.ErrUnauthenticated) {
		t.Errorf("TransfersFor without a principal: %v", err)
	}
	orgs, err := e.ex.OrgsByID(ctx, w.other, []uuid.UUID{w.coop.ID, w.net.ID, uuid.New()})
	if err != nil || len(orgs) != 2 || orgs[w.coop.ID].Name != "Café" || orgs[w.net.ID].Name != "Red Mutual" {
		t.Errorf("OrgsByID: %v %v", orgs, err)
	}
}

// TestTaxonomyEditsShowAtOnce: the categories and their relations are
// remembered for a moment (every page of offers and needs reads them), but
// an edit made through the store shows at the very next read: a new
// category, a new relation, a changed fit, a removed relation.
func TestTaxonomyEditsShowAtOnce(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	w := newWorld(t, e)
	has := func(code string) bool {
		cs, err := e.ex.Categories(ctx, w.owner)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if c.Code == code {
				return true
			}
		}
		return false
	}
	fit := func(need, offer string) float64 {
		rel, err := e.ex.RelatedCategories(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return rel[need][offer]
	}
	if has("beekeeping") || has("honey") || fit("beekeeping", "honey") != 0 {
		t.Fatal("the categories exist before they are made")
	}
	for _, code := range []string{"beekeeping", "honey"} {
		if _, err := e.ex.CreateCategory(ctx, w.admin, exchange.Category{Code: code, Name: code}); err != nil {
			t.Fatal(err)
		}
		if !has(code) {
			t.Errorf("%s is not listed right after it was made", code)
		}
	}
	for _, f := range []float64{0.5, 0.75} {
		if _, err := e.ex.SetCategoryRelation(ctx, w.admin, "beekeeping", "honey", f); err != nil {
			t.Fatal(err)
		}
		if got := fit("beekeeping", "honey"); got != f {
			t.Errorf("fit right after setting it to %v: %v", f, got)
		}
	}
	if err := e.ex.DeleteCategoryRelation(ctx, w.admin, "beekeeping", "honey"); err != nil {
		t.Fatal(err)
	}
	if got := fit("beekeeping", "honey"); got != 0 {
		t.Errorf("fit right after removing the relation: %v", got)
	}
}
