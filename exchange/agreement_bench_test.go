package exchange_test

import (
	"context"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
)

// BenchmarkAgreementLifecycle measures an agreement from proposal to the
// hours moved: propose, accept (which writes the hold), and the two
// confirmations (the second posts it), each step its own transaction, with
// 8 pairs of neighbors at once. One op is one whole agreement; steps/s
// counts its four transactions.
func BenchmarkAgreementLifecycle(b *testing.B) {
	ctx := context.Background()
	w := newAgreementWorld(b)
	const pairs = 8
	type pair struct {
		giver, receiver   exchange.Member
		pGiver, pReceiver exchange.Principal
	}
	ps := make([]pair, pairs)
	for i := range ps {
		g, r := w.member(b, "giver"), w.member(b, "receiver")
		w.join(b, w.oaxaca, g, exchange.RoleMember)
		w.join(b, w.oaxaca, r, exchange.RoleMember)
		w.account(b, g, "0")
		w.account(b, r, "-100000")
		ps[i] = pair{g, r, w.principal(b, g), w.principal(b, r)}
	}
	// The listings are posted before the clock starts: a need of one hour
	// and an offer of one hour per agreement.
	type listings struct{ offer, need uuid.UUID }
	work := make([][]listings, pairs)
	for i := range b.N {
		p := ps[i%pairs]
		work[i%pairs] = append(work[i%pairs], listings{
			w.listing(b, p.giver, exchange.Offer, "1").ID, w.listing(b, p.receiver, exchange.Need, "1").ID})
	}
	b.ResetTimer()
	var wg sync.WaitGroup
	for i := range pairs {
		p := ps[i]
		wg.Go(func() {
			for _, l := range work[i] {
				a, err := w.ex.ProposeAgreement(ctx, p.pGiver, exchange.NewAgreement{OfferID: l.offer, NeedID: l.need})
				if err == nil {
					_, err = w.ex.AcceptAgreement(ctx, p.pReceiver, a.ID, nil)
				}
				if err == nil {
					_, err = w.ex.ConfirmAgreement(ctx, p.pReceiver, a.ID, dec("1"))
				}
				if err == nil {
					_, err = w.ex.ConfirmAgreement(ctx, p.pGiver, a.ID, dec("1"))
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(4*b.N)/b.Elapsed().Seconds(), "steps/s")
	w.verify(b)
}
