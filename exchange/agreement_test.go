package exchange_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/internal/dbtest"
	"github.com/mutual-ledger/mutual/ledger"
)

// agreementWorld is a time bank in Oaxaca with a coordinator (Tess) and
// members with HOUR accounts that may go 10 hours into credit; Cleo is in
// Montréal's time bank, a stranger to the others.
type agreementWorld struct {
	listingWorld
	tess, dan                     exchange.Member
	pAna, pBen, pCleo, pTess, pDn exchange.Principal
	hours                         map[uuid.UUID]uuid.UUID // member → HOUR account
}

func newAgreementWorld(t testing.TB) agreementWorld {
	t.Helper()
	w := agreementWorld{listingWorld: newListingWorld(t), hours: map[uuid.UUID]uuid.UUID{}}
	w.tess, w.dan = w.member(t, "Tess"), w.member(t, "Dan")
	w.join(t, w.oaxaca, w.tess, exchange.RoleCoordinator)
	w.join(t, w.oaxaca, w.dan, exchange.RoleMember)
	for _, m := range []exchange.Member{w.ana, w.ben, w.cleo, w.dan} {
		w.hours[m.ID] = w.account(t, m, "-10")
	}
	w.pAna, w.pBen, w.pCleo = w.principal(t, w.ana), w.principal(t, w.ben), w.principal(t, w.cleo)
	w.pTess, w.pDn = w.principal(t, w.tess), w.principal(t, w.dan)
	return w
}

func (w agreementWorld) account(t testing.TB, m exchange.Member, lower string) uuid.UUID {
	t.Helper()
	l := decimal.RequireFromString(lower)
	a, err := w.led.CreateAccount(context.Background(), ledger.NewAccount{
		Unit: "HOUR", Owner: exchange.MemberOwner(m.ID), Kind: ledger.KindMember, LowerBound: &l})
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

// listing posts an offer or a need of quantity hours by m in Oaxaca.
func (w agreementWorld) listing(t testing.TB, m exchange.Member, kind exchange.ListingKind, quantity string) exchange.Listing {
	t.Helper()
	in := w.need()
	in.Owner, in.Kind, in.Quantity, in.Start, in.End = m.ID, kind, decimal.RequireFromString(quantity), time.Time{}, time.Time{}
	if kind == exchange.Offer {
		in.Urgency = 0
	}
	return w.post(t, in)
}

// agree posts an offer of Ben's and a need of Ana's of quantity hours and
// returns Ben's proposal between them, expiring at expires (nil: the
// default), accepted by Ana when asked.
func (w agreementWorld) agree(t testing.TB, quantity string, accept bool, expires *time.Time) exchange.Agreement {
	t.Helper()
	ctx := context.Background()
	offer := w.listing(t, w.ben, exchange.Offer, quantity)
	need := w.listing(t, w.ana, exchange.Need, quantity)
	a, err := w.ex.ProposeAgreement(ctx, w.pBen, exchange.NewAgreement{OfferID: offer.ID, NeedID: need.ID, ExpiresAt: expires})
	if err != nil {
		t.Fatal(err)
	}
	if accept {
		if a, err = w.ex.AcceptAgreement(ctx, w.pAna, a.ID, nil); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

func (w agreementWorld) balances(t testing.TB, m exchange.Member) (posted, available string) {
	t.Helper()
	a, err := w.led.Account(context.Background(), w.hours[m.ID])
	if err != nil {
		t.Fatal(err)
	}
	return a.Posted.String(), a.Available.String()
}

func (w agreementWorld) wantBalances(t testing.TB, m exchange.Member, posted, available string) {
	t.Helper()
	if p, a := w.balances(t, m); p != posted || a != available {
		t.Errorf("%s's hours: posted %s available %s, want %s and %s", m.Name, p, a, posted, available)
	}
}

func (w agreementWorld) listingStatus(t testing.TB, id uuid.UUID) exchange.ListingStatus {
	t.Helper()
	l, err := w.ex.Listing(context.Background(), exchange.Principal{MemberID: uuid.New(), Admin: true}, id)
	if err != nil {
		t.Fatal(err)
	}
	return l.Status
}

// verify fails the test if an invariant of the ledger, or one that ties the
// exchange's records to it, is broken.
func (w agreementWorld) verify(t testing.TB) {
	t.Helper()
	v, err := w.led.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range v {
		t.Error("ledger invariant broken: " + line)
	}
	v, err = w.ex.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range v {
		t.Error("exchange invariant broken: " + line)
	}
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// TestAgreementLifecycle follows a neighbor's need from a proposal to the
// hours moved: Ben offers three hours of repairs, Ana needs two.
func TestAgreementLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newAgreementWorld(t)
	offer := w.listing(t, w.ben, exchange.Offer, "3")
	need := w.listing(t, w.ana, exchange.Need, "2")

	a, err := w.ex.ProposeAgreement(ctx, w.pBen, exchange.NewAgreement{OfferID: offer.ID, NeedID: need.ID, Message: "Saturday?"})
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != exchange.AgreementProposed || !a.Quantity.Equal(dec("2")) || a.Giver != w.ben.ID || a.Receiver != w.ana.ID ||
		a.GiverAccount == nil || *a.GiverAccount != w.hours[w.ben.ID] || a.ReceiverAccount != nil {
		t.Fatalf("proposal = %+v", a)
	}
	w.wantBalances(t, w.ana, "0", "0") // nothing is reserved before acceptance

	// The proposer cannot accept their own proposal; a stranger cannot see it.
	_, err = w.ex.AcceptAgreement(ctx, w.pBen, a.ID, nil)
	wantErr(t, "proposer accepts", err, exchange.ErrForbidden)
	_, err = w.ex.AcceptAgreement(ctx, w.pCleo, a.ID, nil)
	wantErr(t, "stranger accepts", err, exchange.ErrUnknownAgreement)
	_, err = w.ex.Agreement(ctx, w.pCleo, a.ID)
	wantErr(t, "stranger reads", err, exchange.ErrUnknownAgreement)
	if _, err := w.ex.Agreement(ctx, w.pTess, a.ID); err != nil {
		t.Errorf("the time bank's coordinator reads the agreement: %v", err)
	}

	// Acceptance holds two hours of Ana's; the need is covered, the offer
	// has an hour left.
	a, err = w.ex.AcceptAgreement(ctx, w.pAna, a.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != exchange.AgreementAccepted || a.HoldID == nil || a.AcceptedAt == nil {
		t.Fatalf("accepted = %+v", a)
	}
	w.wantBalances(t, w.ana, "0", "-2")
	hold, err := w.led.Transfer(ctx, *a.HoldID)
	if err != nil || hold.State != ledger.StatePending || hold.Postings[0].From != w.hours[w.ana.ID] || hold.Postings[0].To != w.hours[w.ben.ID] {
		t.Fatalf("hold = %+v, %v", hold, err)
	}
	if st := w.listingStatus(t, need.ID); st != exchange.StatusMatched {
		t.Errorf("need is %s after acceptance, want matched", st)
	}
	if st := w.listingStatus(t, offer.ID); st != exchange.StatusOpen {
		t.Errorf("offer is %s with an hour left, want open", st)
	}
	again, err := w.ex.AcceptAgreement(ctx, w.pAna, a.ID, nil)
	if err != nil || *again.HoldID != *a.HoldID {
		t.Errorf("accepting again = %+v, %v; want the same agreement", again, err)
	}

	// It took an hour and a half. Confirmations that differ complete nothing.
	if a, err = w.ex.ConfirmAgreement(ctx, w.pAna, a.ID, dec("1.5")); err != nil || a.Status != exchange.AgreementAccepted {
		t.Fatalf("Ana confirms: %+v, %v", a, err)
	}
	if a, err = w.ex.ConfirmAgreement(ctx, w.pBen, a.ID, dec("2")); err != nil || a.Status != exchange.AgreementAccepted {
		t.Fatalf("Ben confirms another quantity: %+v, %v", a, err)
	}
	_, err = w.ex.ConfirmAgreement(ctx, w.pBen, a.ID, dec("2.5"))
	wantErr(t, "confirming more than agreed", err, ledger.ErrInvalidRequest)
	_, err = w.ex.ConfirmAgreement(ctx, w.pBen, a.ID, dec("1.555"))
	wantErr(t, "confirming thousandths of an hour", err, ledger.ErrTooManyDecimals)
	w.wantBalances(t, w.ana, "0", "-2")
	a, err = w.ex.ConfirmAgreement(ctx, w.pBen, a.ID, dec("1.5"))
	if err != nil || a.Status != exchange.AgreementCompleted || a.TransferID == nil || a.CompletedAt == nil {
		t.Fatalf("Ben confirms the same quantity: %+v, %v", a, err)
	}
	// The hours moved from the receiver to the giver; the rest is released.
	w.wantBalances(t, w.ana, "-1.5", "-1.5")
	w.wantBalances(t, w.ben, "1.5", "1.5")
	posted, err := w.led.Transfer(ctx, *a.TransferID)
	if err != nil || posted.PendingID == nil || *posted.PendingID != *a.HoldID || !posted.Postings[0].Amount.Equal(dec("1.5")) {
		t.Fatalf("posting = %+v, %v", posted, err)
	}
	// Confirmed below the agreed 2 h, the agreement gives the half hour
	// back: the need stays open for it.
	if st := w.listingStatus(t, need.ID); st != exchange.StatusOpen {
		t.Errorf("need is %s after completing 1.5 of 2 h, want open for the rest", st)
	}
	if st := w.listingStatus(t, offer.ID); st != exchange.StatusOpen {
		t.Errorf("offer is %s with an hour and a half left, want open", st)
	}
	// Confirming again changes nothing; cancelling a completed agreement is
	// refused.
	if again, err := w.ex.ConfirmAgreement(ctx, w.pAna, a.ID, dec("1.5")); err != nil || *again.TransferID != *a.TransferID {
		t.Errorf("confirming again = %+v, %v", again, err)
	}
	_, err = w.ex.CancelAgreement(ctx, w.pAna, a.ID, "changed my mind")
	wantErr(t, "cancelling a completed agreement", err, exchange.ErrAgreementState)
	w.wantBalances(t, w.ana, "-1.5", "-1.5")

	// Ben was told of the proposal's acceptance, Ana of the proposal.
	ns, _, err := w.ex.Notifications(ctx, w.pAna, false, exchange.Page{})
	if err != nil || len(ns) == 0 || ns[0].Kind != "agreement_proposed" {
		t.Errorf("Ana's notifications = %+v, %v", ns, err)
	}
	w.verify(t)
}

// TestAgreementProposalRefusals checks that bad proposals are refused and
// leave nothing behind.
func TestAgreementProposalRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newAgreementWorld(t)
	offer := w.listing(t, w.ben, exchange.Offer, "3")
	need := w.listing(t, w.ana, exchange.Need, "2")
	anaOffer := w.listing(t, w.ana, exchange.Offer, "1")
	private := w.need()
	private.Owner, private.Visibility = w.dan.ID, exchange.VisibilityOrg
	danNeed := w.post(t, private)
	withdrawn := w.listing(t, w.dan, exchange.Need, "1")
	if _, err := w.ex.UpdateListingStatus(ctx, withdrawn.ID, exchange.StatusWithdrawn); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		p    exchange.Principal
		in   exchange.NewAgreement
		want error
	}{
		{"neither owner", w.pDn, exchange.NewAgreement{OfferID: offer.ID, NeedID: need.ID}, exchange.ErrForbidden},
		{"need as offer", w.pAna, exchange.NewAgreement{OfferID: need.ID, NeedID: need.ID}, ledger.ErrInvalidRequest},
		{"own offer and need", w.pAna, exchange.NewAgreement{OfferID: anaOffer.ID, NeedID: need.ID}, ledger.ErrInvalidRequest},
		{"more than the need", w.pBen, exchange.NewAgreement{OfferID: offer.ID, NeedID: need.ID, Quantity: dec("2.5")}, exchange.ErrNoCapacity},
		{"too fine", w.pBen, exchange.NewAgreement{OfferID: offer.ID, NeedID: need.ID, Quantity: dec("0.001")}, ledger.ErrTooManyDecimals},
		{"negative", w.pBen, exchange.NewAgreement{OfferID: offer.ID, NeedID: need.ID, Quantity: dec("-1")}, ledger.ErrInvalidRequest},
		{"unknown need", w.pBen, exchange.NewAgreement{OfferID: offer.ID, NeedID: uuid.New()}, exchange.ErrUnknownListing},
		{"need it may not see", w.pCleo, exchange.NewAgreement{OfferID: offer.ID, NeedID: danNeed.ID}, exchange.ErrUnknownListing},
		{"withdrawn need", w.pBen, exchange.NewAgreement{OfferID: offer.ID, NeedID: withdrawn.ID}, exchange.ErrListingClosed},
		{"someone else's account", w.pBen, exchange.NewAgreement{OfferID: offer.ID, NeedID: need.ID, Account: ptr(w.hours[w.ana.ID])}, ledger.ErrUnknownAccount},
		{"past expiry", w.pBen, exchange.NewAgreement{OfferID: offer.ID, NeedID: need.ID, ExpiresAt: ptr(w.clock.Now().Add(-time.Minute))}, ledger.ErrInvalidRequest},
	}
	for _, c := range cases {
		_, err := w.ex.ProposeAgreement(ctx, c.p, c.in)
		wantErr(t, c.name, err, c.want)
	}
	if n := w.count(t, "agreements"); n != 0 {
		t.Errorf("%d agreements after refused proposals, want 0", n)
	}
	if n := w.count(t, "notifications"); n != 0 {
		t.Errorf("%d notifications after refused proposals, want 0", n)
	}
}

// TestAgreementCancelReleasesHold checks that cancelling an accepted
// agreement voids its hold and reopens its listings.
func TestAgreementCancelReleasesHold(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newAgreementWorld(t)
	offer := w.listing(t, w.ben, exchange.Offer, "2")
	need := w.listing(t, w.ana, exchange.Need, "2")
	a, err := w.ex.ProposeAgreement(ctx, w.pAna, exchange.NewAgreement{OfferID: offer.ID, NeedID: need.ID})
	if err != nil {
		t.Fatal(err)
	}
	if a, err = w.ex.AcceptAgreement(ctx, w.pBen, a.ID, nil); err != nil {
		t.Fatal(err)
	}
	w.wantBalances(t, w.ana, "0", "-2")
	if w.listingStatus(t, offer.ID) != exchange.StatusMatched || w.listingStatus(t, need.ID) != exchange.StatusMatched {
		t.Fatal("listings are not matched after acceptance")
	}
	_, err = w.ex.CancelAgreement(ctx, w.pTess, a.ID, "")
	wantErr(t, "coordinator cancels", err, exchange.ErrForbidden)
	c, err := w.ex.CancelAgreement(ctx, w.pBen, a.ID, "I'm ill")
	if err != nil || c.Status != exchange.AgreementCancelled || c.Reason != "I'm ill" || *c.ClosedBy != w.ben.ID {
		t.Fatalf("cancel = %+v, %v", c, err)
	}
	w.wantBalances(t, w.ana, "0", "0")
	w.wantBalances(t, w.ben, "0", "0")
	if hold, _ := w.led.Transfer(ctx, *a.HoldID); hold.State != ledger.StateVoided {
		t.Errorf("hold is %s after cancellation, want voided", hold.State)
	}
	if w.listingStatus(t, offer.ID) != exchange.StatusOpen || w.listingStatus(t, need.ID) != exchange.StatusOpen {
		t.Error("listings did not reopen after cancellation")
	}
	if again, err := w.ex.CancelAgreement(ctx, w.pAna, a.ID, ""); err != nil || again.Status != exchange.AgreementCancelled {
		t.Errorf("cancelling again = %+v, %v", again, err)
	}
	_, err = w.ex.AcceptAgreement(ctx, w.pBen, a.ID, nil)
	wantErr(t, "accepting a cancelled agreement", err, exchange.ErrAgreementState)
	_, err = w.ex.ConfirmAgreement(ctx, w.pBen, a.ID, dec("2"))
	wantErr(t, "confirming a cancelled agreement", err, exchange.ErrAgreementState)
	w.wantBalances(t, w.ana, "0", "0")
	w.verify(t)
}

// TestAgreementAcceptRefusedByTheLedger: a receiver without the credit for
// the hours cannot accept, and the proposal stays as it was.
func TestAgreementAcceptRefusedByTheLedger(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newAgreementWorld(t)
	a := w.agree(t, "12", false, nil)
	_, err := w.ex.AcceptAgreement(ctx, w.pAna, a.ID, nil)
	wantErr(t, "accepting beyond the credit limit", err, ledger.ErrInsufficientFunds)
	got, err := w.ex.Agreement(ctx, w.pAna, a.ID)
	if err != nil || got.Status != exchange.AgreementProposed || got.HoldID != nil || got.ReceiverAccount != nil {
		t.Errorf("after the refusal: %+v, %v", got, err)
	}
	if w.listingStatus(t, a.NeedID) != exchange.StatusOpen {
		t.Error("need changed status after a refused acceptance")
	}
	w.wantBalances(t, w.ana, "0", "0")
}

// TestAgreementExpiry: an accepted agreement past its expiry releases its
// hold, whether the sweeper or a late step finds it.
func TestAgreementExpiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newAgreementWorld(t)
	inAnHour := ptr(w.clock.Now().Add(time.Hour))
	late, swept := w.agree(t, "1", true, inAnHour), w.agree(t, "1", true, inAnHour)
	w.wantBalances(t, w.ana, "0", "-2")
	w.clock.Advance(2 * time.Hour)

	got, err := w.ex.Agreement(ctx, w.pAna, late.ID)
	if err != nil || got.Status != exchange.AgreementExpired {
		t.Errorf("an agreement past its expiry reads %+v, %v; want expired", got.Status, err)
	}
	_, err = w.ex.ConfirmAgreement(ctx, w.pAna, late.ID, dec("1"))
	wantErr(t, "confirming after expiry", err, exchange.ErrAgreementExpired)
	if hold, _ := w.led.Transfer(ctx, *late.HoldID); hold.State != ledger.StateVoided {
		t.Errorf("late agreement's hold is %s, want voided", hold.State)
	}
	n, err := w.ex.ExpireAgreements(ctx, 100)
	if err != nil || n != 1 {
		t.Errorf("ExpireAgreements = %d, %v; want 1", n, err)
	}
	if hold, _ := w.led.Transfer(ctx, *swept.HoldID); hold.State != ledger.StateVoided {
		t.Errorf("swept agreement's hold is %s, want voided", hold.State)
	}
	w.wantBalances(t, w.ana, "0", "0")
	if n, _ := w.ex.ExpireAgreements(ctx, 100); n != 0 {
		t.Errorf("a second sweep expired %d, want 0", n)
	}
	w.verify(t)
}

// TestAgreementDispute: a dispute keeps the hold and calls a coordinator,
// who settles it.
func TestAgreementDispute(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newAgreementWorld(t)
	a := w.agree(t, "3", true, ptr(w.clock.Now().Add(time.Hour)))
	_, err := w.ex.DisputeAgreement(ctx, w.pAna, a.ID, "")
	wantErr(t, "dispute without a reason", err, ledger.ErrInvalidRequest)
	d, err := w.ex.DisputeAgreement(ctx, w.pAna, a.ID, "he came for one hour, not three")
	if err != nil || d.Status != exchange.AgreementDisputed || *d.DisputedBy != w.ana.ID {
		t.Fatalf("dispute = %+v, %v", d, err)
	}
	// A dispute outlives the agreement's expiry, with its hold.
	w.clock.Advance(2 * time.Hour)
	if n, _ := w.ex.ExpireAgreements(ctx, 100); n != 0 {
		t.Errorf("the sweeper expired %d disputed agreements", n)
	}
	w.wantBalances(t, w.ana, "0", "-3")
	ns, _, err := w.ex.Notifications(ctx, w.pTess, true, exchange.Page{})
	if err != nil || len(ns) != 1 || ns[0].Kind != "agreement_disputed" || *ns[0].Agreement != a.ID {
		t.Fatalf("coordinator's notifications = %+v, %v", ns, err)
	}
	_, err = w.ex.CancelAgreement(ctx, w.pAna, a.ID, "")
	wantErr(t, "a party cancels a dispute", err, exchange.ErrAgreementState)
	_, err = w.ex.ResolveAgreement(ctx, w.pAna, a.ID, dec("1"), "settled")
	wantErr(t, "a party resolves their dispute", err, exchange.ErrForbidden)
	_, err = w.ex.ResolveAgreement(ctx, w.pCleo, a.ID, dec("1"), "settled")
	wantErr(t, "a stranger resolves", err, exchange.ErrUnknownAgreement)
	r, err := w.ex.ResolveAgreement(ctx, w.pTess, a.ID, dec("1"), "both agree it was one hour")
	if err != nil || r.Status != exchange.AgreementCompleted || *r.ClosedBy != w.tess.ID {
		t.Fatalf("resolve = %+v, %v", r, err)
	}
	w.wantBalances(t, w.ana, "-1", "-1")
	w.wantBalances(t, w.ben, "1", "1")
	if n, err := w.ex.MarkNotificationsRead(ctx, w.pTess, ns[0].ID); err != nil || n != 1 {
		t.Errorf("marking read = %d, %v", n, err)
	}
	if ns, _, _ := w.ex.Notifications(ctx, w.pTess, true, exchange.Page{}); len(ns) != 0 {
		t.Errorf("%d unread after marking read", len(ns))
	}
	w.verify(t)
}

// TestAgreementSchemaRefusesInconsistentRows checks the CHECK constraints
// hold an agreement's status to its ledger rows without the store.
func TestAgreementSchemaRefusesInconsistentRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newAgreementWorld(t)
	a := w.agree(t, "2", false, nil)
	for _, sql := range []string{
		`UPDATE agreements SET status = 'accepted' WHERE id = $1`,                                      // no hold
		`UPDATE agreements SET status = 'completed', completed_at = now() WHERE id = $1`,               // no transfer
		`UPDATE agreements SET giver_confirmed = quantity + 1 WHERE id = $1`,                           // more than agreed
		`UPDATE agreements SET quantity = 0 WHERE id = $1`,                                             // nothing
		`UPDATE agreements SET receiver = giver WHERE id = $1`,                                         // with oneself
		`UPDATE agreements SET status = 'disputed', hold_id = NULL, disputed_by = giver WHERE id = $1`, // disputed, no hold
	} {
		if _, err := w.pool.Exec(ctx, sql, a.ID); err == nil {
			t.Errorf("%s: accepted, want a CHECK violation", sql)
		}
	}
}

// TestAgreementRaceBothParties races the two parties of the same
// agreements against each other: acceptance against cancellation,
// confirmation against confirmation, confirmation against dispute. Each
// agreement must end in one consistent state, with its hold in the state
// that goes with it and the ledger intact.
func TestAgreementRaceBothParties(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newAgreementWorld(t)
	const rounds = 8
	type pair struct{ accCancel, confConf, confDispute exchange.Agreement }
	pairs := make([]pair, rounds)
	// 24 agreements of 0.4 h fit in Ana's credit of 10 h even when every
	// acceptance wins its race before any cancellation voids a hold (at
	// 0.5 h they did not, and SERIALIZABLE's retries made that order
	// likely enough to refuse an acceptance for want of hours).
	for i := range pairs {
		pairs[i] = pair{w.agree(t, "0.4", false, nil), w.agree(t, "0.4", true, nil), w.agree(t, "0.4", true, nil)}
	}
	// Under make test-faults, transactions fail on purpose from here on;
	// every call goes through settle, as a client's retry would.
	dbtest.InjectFaults(t, w.led.DB())
	var wg sync.WaitGroup
	errs := make(chan error, rounds*6)
	race := func(f, g func() error) {
		wg.Add(2)
		start := make(chan struct{})
		go func() { defer wg.Done(); <-start; errs <- f() }()
		go func() { defer wg.Done(); <-start; errs <- g() }()
		close(start)
	}
	tolerate := func(err error, ok ...error) error {
		for _, o := range ok {
			if err == nil || errorsIs(err, o) {
				return nil
			}
		}
		return err
	}
	for _, p := range pairs {
		race(func() error {
			_, err := settle(func() (exchange.Agreement, error) { return w.ex.AcceptAgreement(ctx, w.pAna, p.accCancel.ID, nil) })
			return tolerate(err, exchange.ErrAgreementState)
		}, func() error {
			_, err := settle(func() (exchange.Agreement, error) { return w.ex.CancelAgreement(ctx, w.pBen, p.accCancel.ID, "raced") })
			return err
		})
		race(func() error {
			_, err := settle(func() (exchange.Agreement, error) {
				return w.ex.ConfirmAgreement(ctx, w.pAna, p.confConf.ID, dec("0.4"))
			})
			return err
		}, func() error {
			_, err := settle(func() (exchange.Agreement, error) {
				return w.ex.ConfirmAgreement(ctx, w.pBen, p.confConf.ID, dec("0.4"))
			})
			return err
		})
		race(func() error {
			_, err := settle(func() (exchange.Agreement, error) {
				return w.ex.ConfirmAgreement(ctx, w.pAna, p.confDispute.ID, dec("0.4"))
			})
			return tolerate(err, exchange.ErrAgreementState)
		}, func() error {
			_, err := settle(func() (exchange.Agreement, error) {
				return w.ex.DisputeAgreement(ctx, w.pBen, p.confDispute.ID, "raced")
			})
			return tolerate(err, exchange.ErrAgreementState)
		})
	}
	wg.Wait()
	w.led.DB().InjectFaults(0)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("unexpected refusal: %v", err)
		}
	}
	var held, moved decimal.Decimal
	for _, p := range pairs {
		for _, a := range []exchange.Agreement{p.accCancel, p.confConf, p.confDispute} {
			got, err := w.ex.Agreement(ctx, w.pAna, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			wantHold := map[exchange.AgreementStatus]ledger.TransferState{
				exchange.AgreementCancelled: ledger.StateVoided, exchange.AgreementCompleted: ledger.StatePosted,
				exchange.AgreementDisputed: ledger.StatePending, exchange.AgreementAccepted: ledger.StatePending,
			}
			switch {
			case a.ID == p.accCancel.ID && got.Status != exchange.AgreementCancelled,
				a.ID == p.confConf.ID && got.Status != exchange.AgreementCompleted,
				a.ID == p.confDispute.ID && got.Status != exchange.AgreementDisputed && got.Status != exchange.AgreementCompleted:
				t.Errorf("agreement %s ended %s", a.ID, got.Status)
			}
			if got.HoldID != nil {
				hold, err := w.led.Transfer(ctx, *got.HoldID)
				if err != nil {
					t.Fatal(err)
				}
				if hold.State != wantHold[got.Status] {
					t.Errorf("agreement %s is %s but its hold is %s", a.ID, got.Status, hold.State)
				}
				if hold.State == ledger.StatePending {
					held = held.Add(got.Quantity)
				}
			}
			if got.Status == exchange.AgreementCompleted {
				moved = moved.Add(got.Quantity)
			}
		}
	}
	var posted int
	if err := w.pool.QueryRow(ctx, `SELECT count(*) FROM transfers WHERE pending_id IS NOT NULL`).Scan(&posted); err != nil {
		t.Fatal(err)
	}
	var completed int
	if err := w.pool.QueryRow(ctx, `SELECT count(*) FROM agreements WHERE status = 'completed'`).Scan(&completed); err != nil {
		t.Fatal(err)
	}
	if posted != completed {
		t.Errorf("%d holds posted for %d completed agreements", posted, completed)
	}
	w.wantBalances(t, w.ana, moved.Neg().String(), moved.Add(held).Neg().String())
	w.verify(t)
}

// TestTwoAcceptOneOffer: Ben offers half an hour and proposes it to Ana and
// to Dan, who both need half an hour, and accept at the same moment. Exactly one
// of them gets the hours.
func TestTwoAcceptOneOffer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newAgreementWorld(t)
	const rounds = 10
	for round := range rounds {
		offer := w.listing(t, w.ben, exchange.Offer, "0.5")
		var ids []uuid.UUID
		for _, m := range []exchange.Member{w.ana, w.dan} {
			need := w.listing(t, m, exchange.Need, "0.5")
			a, err := w.ex.ProposeAgreement(ctx, w.pBen, exchange.NewAgreement{OfferID: offer.ID, NeedID: need.ID})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, a.ID)
		}
		results := make([]error, 2)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, p := range []exchange.Principal{w.pAna, w.pDn} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, results[i] = w.ex.AcceptAgreement(ctx, p, ids[i], nil)
			}()
		}
		close(start)
		wg.Wait()
		won := 0
		for _, err := range results {
			switch {
			case err == nil:
				won++
			case !errorsIs(err, exchange.ErrNoCapacity):
				t.Errorf("round %d: acceptance refused with %v, want ErrNoCapacity", round, err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d acceptances of an offer with capacity for one (%v)", round, won, results)
		}
		if st := w.listingStatus(t, offer.ID); st != exchange.StatusMatched {
			t.Errorf("round %d: offer is %s, want matched", round, st)
		}
	}
	var holds int
	if err := w.pool.QueryRow(ctx, `SELECT count(*) FROM transfers WHERE state = 'pending'`).Scan(&holds); err != nil {
		t.Fatal(err)
	}
	if holds != rounds {
		t.Errorf("%d holds for %d offers with capacity for one", holds, rounds)
	}
	pa, aa := w.balances(t, w.ana)
	pd, ad := w.balances(t, w.dan)
	if got, want := dec(aa).Add(dec(ad)), dec("-0.5").Mul(decimal.NewFromInt(rounds)); !got.Equal(want) || pa != "0" || pd != "0" {
		t.Errorf("Ana and Dan hold %s hours together, want %s", got, want)
	}
	w.verify(t)
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// TestExchangeVerifyFindsABrokenAgreement breaks the tie between an
// accepted agreement and its hold with raw SQL, around the store, and checks
// that Verify reports it.
func TestExchangeVerifyFindsABrokenAgreement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newAgreementWorld(t)
	a := w.agree(t, "2", true, nil)
	if v, err := w.ex.Verify(ctx); err != nil || len(v) != 0 {
		t.Fatalf("Verify before = %v, %v", v, err)
	}
	if _, err := w.pool.Exec(ctx, `UPDATE transfers SET state = 'voided', resolved_at = now() WHERE id = $1`, *a.HoldID); err != nil {
		t.Fatal(err)
	}
	v, err := w.ex.Verify(ctx)
	if err != nil || len(v) != 1 || !strings.Contains(v[0], a.ID.String()) {
		t.Errorf("Verify after voiding the hold around the store = %q, %v", v, err)
	}
}

// TestFairness counts what each member received and was asked to give in
// the window, and forgets what is older.
func TestFairness(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newAgreementWorld(t)
	w.agree(t, "1.5", true, nil)
	w.agree(t, "1.5", false, nil)
	f, err := w.ex.Fairness(ctx, w.pAna, []uuid.UUID{w.ana.ID, w.ben.ID, w.dan.ID})
	if err != nil {
		t.Fatal(err)
	}
	ana, ben, dan := w.ana.ID.String(), w.ben.ID.String(), w.dan.ID.String()
	if f.Received[ana] != 150 || f.Asked[ben] != 300 || f.Received[ben] != 0 || f.Asked[dan] != 0 {
		t.Errorf("fairness = %+v; want Ana received 150 hundredths, Ben asked 300", f)
	}
	w.clock.Advance(exchange.FairnessWindow + time.Hour)
	if f, err = w.ex.Fairness(ctx, w.pAna, []uuid.UUID{w.ana.ID, w.ben.ID}); err != nil || len(f.Received)+len(f.Asked) != 0 {
		t.Errorf("fairness after the window = %+v, %v; want nothing", f, err)
	}
}

// TestProposalOnATakenOffer: once an offer's hours are all agreed, a new
// proposal without a quantity is refused for want of capacity, not for a
// zero quantity.
func TestProposalOnATakenOffer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newAgreementWorld(t)
	offer := w.listing(t, w.ben, exchange.Offer, "1")
	first := w.listing(t, w.ana, exchange.Need, "1")
	a, err := w.ex.ProposeAgreement(ctx, w.pBen, exchange.NewAgreement{OfferID: offer.ID, NeedID: first.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.ex.AcceptAgreement(ctx, w.pAna, a.ID, nil); err != nil {
		t.Fatal(err)
	}
	second := w.listing(t, w.dan, exchange.Need, "1")
	_, err = w.ex.ProposeAgreement(ctx, w.pDn, exchange.NewAgreement{OfferID: offer.ID, NeedID: second.ID})
	wantErr(t, "proposing on a taken offer", err, exchange.ErrNoCapacity)
}
