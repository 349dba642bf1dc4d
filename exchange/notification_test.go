package exchange_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

// notified returns, sorted, the members a notification of kind about the
// record (its column ref: trade_id or grant_id) went to.
func (e env) notified(t *testing.T, ref string, id uuid.UUID, kind string) []uuid.UUID {
	t.Helper()
	rows, err := e.pool.Query(context.Background(),
		`SELECT member_id FROM notifications WHERE `+ref+` = $1 AND kind = $2 ORDER BY member_id`, id, kind)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func wantNotified(t *testing.T, what string, got []uuid.UUID, want ...uuid.UUID) {
	t.Helper()
	slices.SortFunc(want, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	slices.SortFunc(got, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	if !slices.Equal(got, want) {
		t.Errorf("%s notified %v, want %v", what, got, want)
	}
}

// TestTradeNotificationsReachTheOtherSide: each step of a trade tells the
// coordinators of the other organization than the one that took it (and
// the member who proposed, when the counterparty decides), and no one else.
func TestTradeNotificationsReachTheOtherSide(t *testing.T) {
	t.Parallel()
	w := newTradeWorld(t)
	second := func(o exchange.Org, name string) exchange.Principal {
		m := w.member(t, name)
		w.join(t, o, m, exchange.RoleCoordinator)
		return w.principal(t, m)
	}
	abe, bex := second(w.a, "Abe"), second(w.b, "Bex")
	a := []uuid.UUID{w.coordA.MemberID, abe.MemberID}
	b := []uuid.UUID{w.coordB.MemberID, bex.MemberID}

	accepted := w.propose(t, w.produceForMoney("10", "20"))
	wantNotified(t, "a proposal", w.notified(t, "trade_id", accepted.ID, "trade_proposed"), b...)
	if _, err := w.ex.AcceptTrade(w.ctx, bex, accepted.ID); err != nil {
		t.Fatal(err)
	}
	wantNotified(t, "an acceptance", w.notified(t, "trade_id", accepted.ID, "trade_accepted"), a...)

	declined := w.propose(t, w.produceForMoney("1", "1"))
	if _, err := w.ex.DeclineTrade(w.ctx, w.coordB, declined.ID); err != nil {
		t.Fatal(err)
	}
	wantNotified(t, "a decline", w.notified(t, "trade_id", declined.ID, "trade_declined"), a...)

	cancelled := w.propose(t, w.produceForMoney("1", "1"))
	if _, err := w.ex.CancelTrade(w.ctx, abe, cancelled.ID); err != nil {
		t.Fatal(err)
	}
	wantNotified(t, "a cancellation", w.notified(t, "trade_id", cancelled.ID, "trade_cancelled"), b...)

	// The federation's coordinator proposes for A: they hear of the
	// acceptance, with A's coordinators.
	byLocal, err := w.ex.ProposeTrade(w.ctx, w.coordLocal, w.produceForMoney("2", "2"))
	if err != nil {
		t.Fatal(err)
	}
	wantNotified(t, "a proposal by the federation", w.notified(t, "trade_id", byLocal.ID, "trade_proposed"), b...)
	if _, err := w.ex.AcceptTrade(w.ctx, w.coordB, byLocal.ID); err != nil {
		t.Fatal(err)
	}
	wantNotified(t, "an acceptance of the federation's proposal", w.notified(t, "trade_id", byLocal.ID, "trade_accepted"),
		append(a, w.coordLocal.MemberID)...)

	// A co-op without coordinators of its own is represented by the
	// federation's.
	d := w.org(t, &w.local, exchange.KindCoop, "Dairy co-op")
	dUSD, err := w.led.CreateAccount(w.ctx, ledger.NewAccount{Unit: "USD", Owner: exchange.OrgOwner(d.ID), Kind: ledger.KindOrganization, LowerBound: ptr(decimal.Zero)})
	if err != nil {
		t.Fatal(err)
	}
	toD, err := w.ex.ProposeTrade(w.ctx, w.coordA, exchange.NewTrade{CounterpartyOrg: d.ID, Legs: []exchange.TradeLeg{
		{From: w.aUSD, To: dUSD.ID, Amount: num("1"), Unit: "USD"}}})
	if err != nil {
		t.Fatal(err)
	}
	wantNotified(t, "a proposal to a co-op without coordinators", w.notified(t, "trade_id", toD.ID, "trade_proposed"), w.coordLocal.MemberID)
	// A refused step tells no one.
	before := w.count(t, "notifications")
	if _, err := w.ex.AcceptTrade(w.ctx, w.coordB, declined.ID); err == nil {
		t.Fatal("accepting a declined trade succeeded")
	}
	if n := w.count(t, "notifications"); n != before {
		t.Errorf("a refused acceptance wrote %d notifications", n-before)
	}

	// Bex reads them through the exchange, naming the trade.
	ns, _, err := w.ex.Notifications(w.ctx, bex, false, exchange.Page{})
	// Four proposals and a cancellation; not the acceptance Bex made.
	if err != nil || len(ns) != 5 {
		t.Fatalf("Bex's notifications = %+v, %v; want 5", ns, err)
	}
	if n := ns[0]; n.Kind != "trade_proposed" || n.Trade == nil || *n.Trade != accepted.ID || n.Agreement != nil || n.Grant != nil || n.Message == "" {
		t.Errorf("Bex's first notification = %+v", n)
	}
	if ps := ns[0].Params; ps["Proposer"] == "" || ps["Counterparty"] == "" || ps["Proposer"] == ps["Counterparty"] {
		t.Errorf("the trade notice's parameters: %v", ps)
	}
	w.verify(t)
}

// TestGrantNotificationsReachThoseConcerned: a request tells the fund's
// governors; a decision, a first approval and a payment tell the member who
// asked and the coordinators of the requesting organization; a first
// approval also tells the governors who may give the second.
func TestGrantNotificationsReachThoseConcerned(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newFundWorld(t)
	w.fund = w.fundWith(t, exchange.FundRules{Majority: exchange.MajoritySimple, SecondApprovalAbove: ptr(money("100"))})
	w.contribute(t, exchange.Contribution{Source: "Riverside Foundation", Amount: money("1000")})
	ned, rui, ada := w.member(t, "Ned"), w.member(t, "Rui"), w.member(t, "Ada")
	w.join(t, w.network, ned, exchange.RoleCoordinator)
	w.join(t, w.riverside, rui, exchange.RoleCoordinator)
	w.join(t, w.network, ada, exchange.RoleAdmin)
	nedP := w.principal(t, ned)
	governors := []uuid.UUID{w.nia.ID, ned.ID, ada.ID}
	riverside := []uuid.UUID{w.rosa.ID, rui.ID}

	g := w.request(t, w.rosa, w.riverside, w.riversideUSD, "150")
	wantNotified(t, "a request", w.notified(t, "grant_id", g.ID, "grant_requested"), governors...)
	if _, err := w.ex.DecideGrant(ctx, w.niaP, exchange.GrantDecision{GrantID: g.ID, Approve: true}); err != nil {
		t.Fatal(err)
	}
	wantNotified(t, "an approval", w.notified(t, "grant_id", g.ID, "grant_approved"), riverside...)
	if _, _, err := w.ex.Disburse(ctx, w.niaP, g.ID); err != nil {
		t.Fatal(err)
	}
	wantNotified(t, "a first approval", w.notified(t, "grant_id", g.ID, "grant_awaiting_second_approval"),
		append([]uuid.UUID{ned.ID, ada.ID}, riverside...)...)
	if _, _, err := w.ex.Disburse(ctx, nedP, g.ID); err != nil {
		t.Fatal(err)
	}
	wantNotified(t, "a payment", w.notified(t, "grant_id", g.ID, "grant_disbursed"), riverside...)

	// Rui asks; Nia rejects: Rui and Rosa hear of it.
	r := w.request(t, rui, w.riverside, w.riversideUSD, "5")
	wantNotified(t, "Rui's request", w.notified(t, "grant_id", r.ID, "grant_requested"), governors...)
	if _, err := w.ex.DecideGrant(ctx, w.niaP, exchange.GrantDecision{GrantID: r.ID}); err != nil {
		t.Fatal(err)
	}
	wantNotified(t, "a rejection", w.notified(t, "grant_id", r.ID, "grant_rejected"), riverside...)

	// Ada, the admin, asks for Hilltop: the other governors and then
	// Hilltop's coordinator and Ada hear of it.
	h := w.request(t, ada, w.hilltop, w.hilltopUSD, "5")
	wantNotified(t, "the admin's request", w.notified(t, "grant_id", h.ID, "grant_requested"), w.nia.ID, ned.ID)
	if _, err := w.ex.DecideGrant(ctx, nedP, exchange.GrantDecision{GrantID: h.ID, Approve: true}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.ex.Disburse(ctx, nedP, h.ID); err != nil {
		t.Fatal(err)
	}
	wantNotified(t, "a payment to Hilltop", w.notified(t, "grant_id", h.ID, "grant_disbursed"), ada.ID, w.hugo.ID)

	// Every grant notification names its grant and nothing else.
	var bad int
	if err := w.pool.QueryRow(ctx, `SELECT count(*) FROM notifications WHERE kind LIKE 'grant%' AND (grant_id IS NULL OR trade_id IS NOT NULL OR agreement_id IS NOT NULL)`).Scan(&bad); err != nil || bad != 0 {
		t.Errorf("%d grant notifications name another record (%v)", bad, err)
	}
	_, err := w.pool.Exec(ctx, `UPDATE notifications SET grant_id = NULL WHERE grant_id = $1`, g.ID)
	if err == nil {
		t.Error("the schema let a grant notification lose its grant")
	}
	_, err = w.pool.Exec(ctx, `UPDATE notifications SET trade_id = NULL, grant_id = NULL, kind = 'trade_proposed' WHERE grant_id = $1`, g.ID)
	if err == nil {
		t.Error("the schema let a trade notification name no trade")
	}
	w.verify(t)
}

// TestPurgeRemovesOnlyReadNotificationsPastRetention.
func TestPurgeRemovesOnlyReadNotificationsPastRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newFundWorld(t)
	ned, ada := w.member(t, "Ned"), w.member(t, "Ada")
	w.join(t, w.network, ned, exchange.RoleCoordinator)
	w.join(t, w.network, ada, exchange.RoleAdmin)
	nedP := w.principal(t, ned)
	w.request(t, w.rosa, w.riverside, w.riversideUSD, "5") // tells Nia, Ned and Ada
	all := uuid.Max

	if n, err := w.ex.MarkNotificationsRead(ctx, w.niaP, all); err != nil || n != 1 {
		t.Fatalf("Nia read %d, %v", n, err)
	}
	w.clock.Advance(30 * 24 * time.Hour)
	if n, err := w.ex.MarkNotificationsRead(ctx, nedP, all); err != nil || n != 1 {
		t.Fatalf("Ned read %d, %v", n, err)
	}
	left := func() []uuid.UUID {
		rows, err := w.pool.Query(ctx, `SELECT member_id FROM notifications`)
		if err != nil {
			t.Fatal(err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}

	// 90 days after Nia read hers, less a second: nothing goes.
	w.clock.Advance(exchange.NotificationRetention - 30*24*time.Hour - time.Second)
	if n, err := w.ex.PurgeReadNotifications(ctx, exchange.NotificationRetention, 100); err != nil || n != 0 {
		t.Fatalf("purge before the retention = %d, %v", n, err)
	}
	w.clock.Advance(2 * time.Second)
	if n, err := w.ex.PurgeReadNotifications(ctx, exchange.NotificationRetention, 100); err != nil || n != 1 {
		t.Fatalf("purge past Nia's retention = %d, %v", n, err)
	}
	wantNotified(t, "after the first purge, left", left(), ned.ID, ada.ID)

	// A year on, the sweeper purges Ned's; Ada's, unread, stays.
	w.clock.Advance(365 * 24 * time.Hour)
	sweep, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	purged := make(chan int, 1)
	go func() {
		defer close(done)
		w.ex.RunNotificationPurge(sweep, time.Hour, func(err error) { t.Error(err) }, func(n int) { purged <- n })
	}()
	select {
	case n := <-purged:
		if n != 1 {
			t.Errorf("the sweeper purged %d, want 1", n)
		}
	case <-time.After(30 * time.Second):
		t.Error("the sweeper purged nothing")
	}
	stop()
	<-done
	wantNotified(t, "after the sweeper, left", left(), ada.ID)
	if n, err := w.ex.PurgeReadNotifications(ctx, 0, 100); err != nil || n != 0 {
		t.Errorf("purging with no retention removed %d unread notifications, %v", n, err)
	}
}
