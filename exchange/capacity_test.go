package exchange_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

func (w agreementWorld) remaining(t testing.TB, ls ...exchange.Listing) []string {
	t.Helper()
	left, err := w.ex.Remaining(context.Background(), ls)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(left))
	for i, l := range left {
		out[i] = l.StringFixed(2)
	}
	return out
}

// kinds returns the kinds of m's notifications about agreement a.
func (w agreementWorld) kinds(t testing.TB, p exchange.Principal, a uuid.UUID) []string {
	t.Helper()
	ns, _, err := w.ex.Notifications(context.Background(), p, false, exchange.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range ns {
		if n.Agreement != nil && *n.Agreement == a {
			out = append(out, n.Kind)
		}
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// TestCompletedBelowAgreedGivesBack: a 3 h agreement confirmed at 2.5 h by
// both moves 2.5 h and leaves 0.5 h of the offer and of the need, which stay
// open; a new proposal takes what is left by default and one for more is
// refused with what is available.
func TestCompletedBelowAgreedGivesBack(t *testing.T) {
	t.Parallel()
	w := newAgreementWorld(t)
	ctx := context.Background()
	a := w.agree(t, "3", true, nil)
	offer, need := mustListing(t, w, a.OfferID), mustListing(t, w, a.NeedID)
	if got := w.remaining(t, offer, need); got[0] != "0.00" || got[1] != "0.00" {
		t.Fatalf("after acceptance: left %v, want nothing", got)
	}
	if _, err := w.ex.ConfirmAgreement(ctx, w.pBen, a.ID, dec("2.5")); err != nil {
		t.Fatal(err)
	}
	done, err := w.ex.ConfirmAgreement(ctx, w.pAna, a.ID, dec("2.5"))
	if err != nil {
		t.Fatal(err)
	}
	if done.Status != exchange.AgreementCompleted || done.CompletedQuantity == nil || !done.CompletedQuantity.Equal(dec("2.5")) {
		t.Fatalf("completed agreement: status %s, completed quantity %v", done.Status, done.CompletedQuantity)
	}
	w.wantBalances(t, w.ben, "2.5", "2.5")
	if got := w.remaining(t, offer, need); got[0] != "0.50" || got[1] != "0.50" {
		t.Fatalf("after completing 2.5 of 3: left %v, want 0.50 of each", got)
	}
	for _, id := range []uuid.UUID{offer.ID, need.ID} {
		if st := w.listingStatus(t, id); st != exchange.StatusOpen {
			t.Errorf("listing %s is %s, want open for the half hour left", id, st)
		}
	}
	_, err = w.ex.ProposeAgreement(ctx, w.pBen, exchange.NewAgreement{OfferID: offer.ID, NeedID: need.ID, Quantity: dec("1")})
	var le *ledger.Error
	if !errors.Is(err, exchange.ErrNoCapacity) || !errors.As(err, &le) || le.Available == nil || !le.Available.Equal(dec("0.5")) || le.Field != "quantity" {
		t.Fatalf("proposing 1 h of 0.5 h left: got %v, want no-capacity with 0.5 available", err)
	}
	rest, err := w.ex.ProposeAgreement(ctx, w.pBen, exchange.NewAgreement{OfferID: offer.ID, NeedID: need.ID})
	if err != nil || !rest.Quantity.Equal(dec("0.5")) {
		t.Fatalf("proposal of what is left: %+v, %v; want 0.5", rest.Quantity, err)
	}
	w.verify(t)
}

func mustListing(t testing.TB, w agreementWorld, id uuid.UUID) exchange.Listing {
	t.Helper()
	l, err := w.ex.Listing(context.Background(), exchange.Principal{MemberID: uuid.New(), Admin: true}, id)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestMismatchedConfirmations: confirmations of 3 and 2.5 tell both parties
// and the coordinator; a party may correct their figure, and otherwise a
// coordinator settles it as a dispute.
func TestMismatchedConfirmations(t *testing.T) {
	t.Parallel()
	w := newAgreementWorld(t)
	ctx := context.Background()

	a := w.agree(t, "3", true, nil)
	if _, err := w.ex.ConfirmAgreement(ctx, w.pBen, a.ID, dec("3")); err != nil {
		t.Fatal(err)
	}
	got, err := w.ex.ConfirmAgreement(ctx, w.pAna, a.ID, dec("2.5"))
	if err != nil || got.Status != exchange.AgreementAccepted {
		t.Fatalf("mismatched confirmation: %s, %v; want accepted", got.Status, err)
	}
	for name, p := range map[string]exchange.Principal{"Ana": w.pAna, "Ben": w.pBen, "Tess": w.pTess} {
		if !contains(w.kinds(t, p, a.ID), "agreement_mismatch") {
			t.Errorf("%s was not told the confirmations differ", name)
		}
	}
	if contains(w.kinds(t, w.pDn, a.ID), "agreement_mismatch") {
		t.Error("Dan, no party and no coordinator, was told")
	}
	// A party may not settle it; the coordinator does, for 2.5 h.
	if _, err := w.ex.ResolveAgreement(ctx, w.pBen, a.ID, dec("3"), "I gave three"); !errors.Is(err, exchange.ErrForbidden) {
		t.Fatalf("party settling: %v, want forbidden", err)
	}
	settled, err := w.ex.ResolveAgreement(ctx, w.pTess, a.ID, dec("2.5"), "the receiver's log says 2.5")
	if err != nil || settled.Status != exchange.AgreementCompleted || !settled.CompletedQuantity.Equal(dec("2.5")) {
		t.Fatalf("coordinator settling: %+v, %v", settled.Status, err)
	}
	w.wantBalances(t, w.ben, "2.5", "2.5")

	// The other way out: the giver corrects the figure.
	b := w.agree(t, "3", true, nil)
	if _, err := w.ex.ConfirmAgreement(ctx, w.pBen, b.ID, dec("3")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ex.ConfirmAgreement(ctx, w.pAna, b.ID, dec("2.5")); err != nil {
		t.Fatal(err)
	}
	fixed, err := w.ex.ConfirmAgreement(ctx, w.pBen, b.ID, dec("2.5"))
	if err != nil || fixed.Status != exchange.AgreementCompleted {
		t.Fatalf("corrected confirmation: %s, %v; want completed", fixed.Status, err)
	}
	// An agreement whose confirmations agree, or are missing, is not the
	// coordinator's to settle.
	c := w.agree(t, "1", true, nil)
	if _, err := w.ex.ResolveAgreement(ctx, w.pTess, c.ID, dec("1"), "no"); !errors.Is(err, exchange.ErrAgreementState) {
		t.Fatalf("settling an agreement nobody confirmed: %v, want agreement-state", err)
	}
	w.wantBalances(t, w.ben, "5", "5")
	w.verify(t)
}

// TestSendProposal: a coordinator sends a matching proposal's pairs as
// agreement proposals for the organization; both parties accept; the pairs
// may not ask more than is left, and members may not send.
func TestSendProposal(t *testing.T) {
	t.Parallel()
	w := newAgreementWorld(t)
	ctx := context.Background()
	offer := w.listing(t, w.ben, exchange.Offer, "3")
	needAna := w.listing(t, w.ana, exchange.Need, "2")
	needDan := w.listing(t, w.dan, exchange.Need, "2")
	send := exchange.ProposalSend{OrgID: w.oaxaca.ID, Pairs: []exchange.ProposalPair{
		{OfferID: offer.ID, NeedID: needAna.ID, Quantity: dec("2")},
		{OfferID: offer.ID, NeedID: needDan.ID, Quantity: dec("1")},
	}}

	count := func() int {
		as, _, err := w.ex.Agreements(ctx, w.pTess, exchange.AgreementFilter{Org: w.oaxaca.ID}, exchange.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return len(as)
	}
	if _, err := w.ex.SendProposal(ctx, w.pAna, send); !errors.Is(err, exchange.ErrForbidden) {
		t.Fatalf("a member sending: %v, want forbidden", err)
	}
	over := send
	over.Pairs = append([]exchange.ProposalPair{}, send.Pairs...)
	over.Pairs[1].Quantity = dec("1.5")
	_, err := w.ex.SendProposal(ctx, w.pTess, over)
	var le *ledger.Error
	if !errors.Is(err, exchange.ErrNoCapacity) || !errors.As(err, &le) || le.Field != "pairs[1].quantity" {
		t.Fatalf("pairs asking 3.5 h of a 3 h offer: %v, want no-capacity at pairs[1].quantity", err)
	}
	cleoNeed := w.post(t, func() exchange.NewListing {
		in := w.need()
		in.OrgID, in.Owner, in.Place = w.montreal.ID, w.cleo.ID, montrealCenter
		return in
	}())
	outside := exchange.ProposalSend{OrgID: w.oaxaca.ID, Pairs: []exchange.ProposalPair{{OfferID: offer.ID, NeedID: cleoNeed.ID, Quantity: dec("1")}}}
	if _, err := w.ex.SendProposal(ctx, w.pTess, outside); !errors.Is(err, exchange.ErrForbidden) {
		t.Fatalf("a need of another organization: %v, want forbidden", err)
	}
	if n := count(); n != 0 {
		t.Fatalf("refused sends left %d agreements", n)
	}

	as, err := w.ex.SendProposal(ctx, w.pTess, send)
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 2 || as[0].ProposedFor == nil || *as[0].ProposedFor != w.oaxaca.ID || as[0].ProposedBy != w.tess.ID {
		t.Fatalf("sent %+v", as)
	}
	// Each agreement sent is recorded as proposed by the coordinator.
	for _, a := range as {
		wantActor(t, w.pool, "agreement.proposed", a.ID, w.pTess)
	}
	for _, p := range []exchange.Principal{w.pAna, w.pBen} {
		if !contains(w.kinds(t, p, as[0].ID), "agreement_proposed") {
			t.Errorf("party %s not told of the proposal", p.MemberID)
		}
	}
	// Ana accepts first: still proposed, nothing held; Ben's acceptance
	// reserves the hours.
	a, err := w.ex.AcceptAgreement(ctx, w.pAna, as[0].ID, nil)
	if err != nil || a.Status != exchange.AgreementProposed || a.HoldID != nil {
		t.Fatalf("first acceptance: %s hold %v, %v", a.Status, a.HoldID, err)
	}
	if again, err := w.ex.AcceptAgreement(ctx, w.pAna, as[0].ID, nil); err != nil || again.Status != exchange.AgreementProposed {
		t.Fatalf("accepting twice: %s, %v", again.Status, err)
	}
	a, err = w.ex.AcceptAgreement(ctx, w.pBen, as[0].ID, nil)
	if err != nil || a.Status != exchange.AgreementAccepted || a.HoldID == nil {
		t.Fatalf("second acceptance: %s, %v", a.Status, err)
	}
	w.wantBalances(t, w.ana, "0", "-2")
	if !contains(w.kinds(t, w.pTess, as[0].ID), "agreement_accepted") {
		t.Error("the coordinator was not told both accepted")
	}
	// The coordinator may withdraw the other while it is only proposed.
	if c, err := w.ex.CancelAgreement(ctx, w.pTess, as[1].ID, "sent by mistake"); err != nil || c.Status != exchange.AgreementCancelled {
		t.Fatalf("coordinator withdrawing: %v", err)
	}
	w.verify(t)
}

// TestCapacityUnderConcurrentProposals races proposals and acceptances,
// by the parties and by a coordinator's sends, for ten one-hour needs on a
// 4 h offer: exactly 4 h are ever taken.
func TestCapacityUnderConcurrentProposals(t *testing.T) {
	t.Parallel()
	w := newAgreementWorld(t)
	ctx := context.Background()
	offer := w.listing(t, w.ben, exchange.Offer, "4")
	var needs []exchange.Listing
	for i := range 10 {
		owner := w.ana
		if i%2 == 1 {
			owner = w.dan
		}
		needs = append(needs, w.listing(t, owner, exchange.Need, "1"))
	}
	receiver := func(n exchange.Listing) exchange.Principal {
		if n.Owner == w.ana.ID {
			return w.pAna
		}
		return w.pDn
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(needs))
	for i, n := range needs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var id uuid.UUID
			if i%3 == 0 {
				as, err := w.ex.SendProposal(ctx, w.pTess, exchange.ProposalSend{OrgID: w.oaxaca.ID,
					Pairs: []exchange.ProposalPair{{OfferID: offer.ID, NeedID: n.ID, Quantity: dec("1")}}})
				if err != nil {
					errs <- err
					return
				}
				id = as[0].ID
				if _, err := w.ex.AcceptAgreement(ctx, w.pBen, id, nil); err != nil {
					errs <- err
					return
				}
			} else {
				a, err := w.ex.ProposeAgreement(ctx, w.pBen, exchange.NewAgreement{OfferID: offer.ID, NeedID: n.ID, Quantity: dec("1")})
				if err != nil {
					errs <- err
					return
				}
				id = a.ID
			}
			_, err := w.ex.AcceptAgreement(ctx, receiver(n), id, nil)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, exchange.ErrNoCapacity):
			t.Errorf("unexpected refusal: %v", err)
		}
	}
	as, _, err := w.ex.Agreements(ctx, w.pBen, exchange.AgreementFilter{Listing: offer.ID, Status: exchange.AgreementAccepted}, exchange.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	taken := decimal.Zero
	for _, a := range as {
		taken = taken.Add(a.Quantity)
	}
	if ok != 4 || len(as) != 4 || !taken.Equal(dec("4")) {
		t.Fatalf("%d acceptances succeeded, %d accepted agreements take %s h of a 4 h offer; want exactly 4", ok, len(as), taken)
	}
	if got := w.remaining(t, offer); got[0] != "0.00" {
		t.Fatalf("offer has %s left, want 0", got[0])
	}
	if st := w.listingStatus(t, offer.ID); st != exchange.StatusMatched {
		t.Errorf("offer is %s, want matched", st)
	}
	w.verify(t)
}
