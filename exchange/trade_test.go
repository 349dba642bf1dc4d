package exchange_test

import (
	"context"
	"encoding/json"
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

// tradeWorld is two co-ops under a local organization, A (which grows
// produce) and B (which has money), and a third co-op C, each with a
// coordinator, plus a plain member of B.
type tradeWorld struct {
	env
	ctx                    context.Context
	local, a, b, c         exchange.Org
	coordA, coordB, coordC exchange.Principal
	coordLocal, memberB    exchange.Principal
	admin                  exchange.Principal
	aKG, aUSD, bKG, bUSD   uuid.UUID
	bPool, bFund, cUSD     uuid.UUID
	memberBUSD, bank       uuid.UUID
}

func newTradeWorld(t *testing.T) *tradeWorld {
	t.Helper()
	ctx := context.Background()
	w := &tradeWorld{env: newEnv(t), ctx: ctx}
	network, adminM, _, _, _, err := w.ex.Bootstrap(ctx, "Network")
	if err != nil {
		t.Fatal(err)
	}
	w.admin = w.principal(t, adminM)
	w.local = w.org(t, &network, exchange.KindLocal, "Valley federation")
	w.a = w.org(t, &w.local, exchange.KindCoop, "Orchard co-op")
	w.b = w.org(t, &w.local, exchange.KindCoop, "Kitchen co-op")
	w.c = w.org(t, &w.local, exchange.KindCoop, "Bakery co-op")
	coord := func(o exchange.Org, name string, role exchange.Role) exchange.Principal {
		m := w.member(t, name)
		w.join(t, o, m, role)
		return w.principal(t, m)
	}
	w.coordA = coord(w.a, "Ada", exchange.RoleCoordinator)
	w.coordB = coord(w.b, "Bo", exchange.RoleCoordinator)
	w.coordC = coord(w.c, "Cy", exchange.RoleCoordinator)
	w.coordLocal = coord(w.local, "Lu", exchange.RoleCoordinator)
	w.memberB = coord(w.b, "Bea", exchange.RoleMember)
	for _, u := range []struct {
		code  string
		scale int32
	}{{"KG_PRODUCE", 1}, {"USD", 2}} {
		if _, err := w.led.CreateUnit(ctx, ledger.Unit{Code: u.code, Scale: u.scale}); err != nil {
			t.Fatal(err)
		}
	}
	open := func(owner, unit string, kind ledger.AccountKind) uuid.UUID {
		in := ledger.NewAccount{Unit: unit, Owner: owner, Kind: kind, Name: unit + " of " + owner}
		if kind != ledger.KindExternal {
			in.LowerBound = ptr(decimal.Zero)
		}
		acc, err := w.led.CreateAccount(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return acc.ID
	}
	w.aKG = open(exchange.OrgOwner(w.a.ID), "KG_PRODUCE", ledger.KindOrganization)
	w.aUSD = open(exchange.OrgOwner(w.a.ID), "USD", ledger.KindOrganization)
	w.bKG = open(exchange.OrgOwner(w.b.ID), "KG_PRODUCE", ledger.KindOrganization)
	w.bUSD = open(exchange.OrgOwner(w.b.ID), "USD", ledger.KindOrganization)
	w.bPool = open(exchange.OrgOwner(w.b.ID), "USD", ledger.KindPool)
	w.bFund = open(exchange.OrgOwner(w.b.ID), "USD", ledger.KindFund)
	w.cUSD = open(exchange.OrgOwner(w.c.ID), "USD", ledger.KindOrganization)
	w.memberBUSD = open(exchange.MemberOwner(w.memberB.MemberID), "USD", ledger.KindMember)
	w.bank = open("", "USD", ledger.KindExternal)
	farm := open("", "KG_PRODUCE", ledger.KindExternal)
	w.move(t, farm, w.aKG, num("1000"), "KG_PRODUCE")
	w.move(t, w.bank, w.bUSD, num("500"), "USD")
	return w
}

func num(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func (w *tradeWorld) move(t *testing.T, from, to uuid.UUID, amount decimal.Decimal, unit string) {
	t.Helper()
	if _, err := w.led.CreateTransfer(w.ctx, ledger.TransferRequest{Postings: []ledger.Posting{{From: from, To: to, Amount: amount, Unit: unit}}}); err != nil {
		t.Fatal(err)
	}
}

// produceForMoney is A's proposal to B: kg of produce against dollars.
func (w *tradeWorld) produceForMoney(kg, usd string) exchange.NewTrade {
	return exchange.NewTrade{CounterpartyOrg: w.b.ID, Memo: "apples for soup", Legs: []exchange.TradeLeg{
		{From: w.aKG, To: w.bKG, Amount: num(kg), Unit: "KG_PRODUCE"},
		{From: w.bUSD, To: w.aUSD, Amount: num(usd), Unit: "USD"},
	}}
}

func (w *tradeWorld) propose(t *testing.T, in exchange.NewTrade) exchange.Trade {
	t.Helper()
	tr, err := w.ex.ProposeTrade(w.ctx, w.coordA, in)
	if err != nil {
		t.Fatalf("proposing: %v", err)
	}
	return tr
}

// wantBalance checks an account's posted balance.
func (w *tradeWorld) wantBalance(t *testing.T, id uuid.UUID, want string) {
	t.Helper()
	acc, err := w.led.Account(w.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !acc.Posted.Equal(num(want)) {
		t.Errorf("account %s (%s) holds %s, want %s", acc.Name, id, acc.Posted, want)
	}
}

func (w *tradeWorld) verify(t *testing.T) {
	t.Helper()
	problems, err := w.led.Verify(w.ctx)
	if more, merr := w.ex.Verify(w.ctx); merr == nil {
		problems = append(problems, more...)
	} else if err == nil {
		err = merr
	}
	if err != nil || len(problems) > 0 {
		t.Fatalf("ledger verify: %v %v", problems, err)
	}
}

// TestProposeTradeRefusals checks every refusal of a proposal, and that
// none leaves a trade behind.
func TestProposeTradeRefusals(t *testing.T) {
	t.Parallel()
	w := newTradeWorld(t)
	past := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	with := func(change func(*exchange.NewTrade)) exchange.NewTrade {
		in := w.produceForMoney("100", "200")
		change(&in)
		return in
	}
	cases := []struct {
		name  string
		p     exchange.Principal
		in    exchange.NewTrade
		want  error
		field string
	}{
		{"no counterparty", w.coordA, with(func(in *exchange.NewTrade) { in.CounterpartyOrg = uuid.Nil }), ledger.ErrInvalidRequest, "counterparty_org"},
		{"unknown counterparty", w.coordA, with(func(in *exchange.NewTrade) { in.CounterpartyOrg = uuid.New() }), exchange.ErrUnknownOrg, "counterparty_org"},
		{"with itself", w.coordA, with(func(in *exchange.NewTrade) { in.ProposerOrg = w.b.ID }), ledger.ErrInvalidRequest, "counterparty_org"},
		{"no legs", w.coordA, with(func(in *exchange.NewTrade) { in.Legs = nil }), ledger.ErrInvalidRequest, "legs"},
		{"zero amount", w.coordA, with(func(in *exchange.NewTrade) { in.Legs[0].Amount = decimal.Zero }), ledger.ErrNonPositiveAmount, "legs[0].amount"},
		{"negative amount", w.coordA, with(func(in *exchange.NewTrade) { in.Legs[1].Amount = num("-1") }), ledger.ErrNonPositiveAmount, "legs[1].amount"},
		{"finer than the unit", w.coordA, with(func(in *exchange.NewTrade) { in.Legs[0].Amount = num("100.05") }), ledger.ErrTooManyDecimals, "legs[0].amount"},
		{"unit not the accounts'", w.coordA, with(func(in *exchange.NewTrade) { in.Legs[0].Unit = "USD" }), ledger.ErrUnitMismatch, "legs[0].unit"},
		{"accounts of two units", w.coordA, with(func(in *exchange.NewTrade) { in.Legs[0].To = w.bUSD }), ledger.ErrUnitMismatch, "legs[0].unit"},
		{"unknown account", w.coordA, with(func(in *exchange.NewTrade) { in.Legs[1].From = uuid.New() }), ledger.ErrUnknownAccount, "legs[1].from_account"},
		{"same account", w.coordA, with(func(in *exchange.NewTrade) { in.Legs[0].To = w.aKG }), ledger.ErrSameAccount, "legs[0]"},
		{"both sides the counterparty's", w.coordA, with(func(in *exchange.NewTrade) { in.Legs[1].To = w.bPool }), ledger.ErrInvalidRequest, "legs[1]"},
		{"within the counterparty", w.coordA, with(func(in *exchange.NewTrade) {
			in.Legs = append(in.Legs, exchange.TradeLeg{From: w.bUSD, To: w.memberBUSD, Amount: num("1"), Unit: "USD"})
		}), exchange.ErrNotVisible, "legs[2].to_account"},
		{"a third organization", w.coordA, with(func(in *exchange.NewTrade) { in.Legs[1].To = w.cUSD }), exchange.ErrNotVisible, "legs[1].to_account"},
		{"a third organization its proposer governs", w.coordLocal, with(func(in *exchange.NewTrade) { in.Legs[1].To = w.cUSD }), ledger.ErrInvalidRequest, "legs[1]"},
		{"proposer_org not the legs'", w.coordLocal, with(func(in *exchange.NewTrade) { in.ProposerOrg = w.c.ID }), ledger.ErrInvalidRequest, "proposer_org"},
		{"proposer_org not governed", w.coordB, with(func(in *exchange.NewTrade) { in.ProposerOrg = w.a.ID; in.CounterpartyOrg = w.c.ID }), exchange.ErrForbidden, "proposer_org"},
		{"unknown proposer_org", w.coordA, with(func(in *exchange.NewTrade) { in.ProposerOrg = uuid.New() }), exchange.ErrUnknownOrg, "proposer_org"},
		{"someone else's accounts", w.coordC, w.produceForMoney("100", "200"), exchange.ErrNotVisible, "legs[0].from_account"},
		{"a plain member", w.memberB, with(func(in *exchange.NewTrade) { in.CounterpartyOrg = w.a.ID }), exchange.ErrNotVisible, "legs[0].to_account"},
		{"a member's own account", w.memberB, exchange.NewTrade{CounterpartyOrg: w.a.ID, Legs: []exchange.TradeLeg{
			{From: w.memberBUSD, To: w.aUSD, Amount: num("1"), Unit: "USD"}}}, ledger.ErrInvalidRequest, "legs"},
		{"expiry in the past", w.coordA, with(func(in *exchange.NewTrade) { in.ExpiresAt = &past }), ledger.ErrInvalidRequest, "expires_at"},
		{"memo too long", w.coordA, with(func(in *exchange.NewTrade) { in.Memo = strings.Repeat("m", ledger.MaxMemo+1) }), ledger.ErrInvalidRequest, "memo"},
		{"too many legs", w.coordA, with(func(in *exchange.NewTrade) {
			for len(in.Legs) <= ledger.MaxPostings {
				in.Legs = append(in.Legs, in.Legs[0])
			}
		}), ledger.ErrInvalidRequest, "legs"},
		{"a fund's account", w.coordA, with(func(in *exchange.NewTrade) { in.Legs[1].From = w.bFund }), ledger.ErrInvalidRequest, "legs[1]"},
		{"no principal", exchange.Principal{}, w.produceForMoney("100", "200"), exchange.ErrUnauthenticated, ""},
	}
	for _, c := range cases {
		_, err := w.ex.ProposeTrade(w.ctx, c.p, c.in)
		wantErr(t, c.name, err, c.want)
		var le *ledger.Error
		if errors.As(err, &le) && le.Field != c.field {
			t.Errorf("%s: field %q, want %q (%v)", c.name, le.Field, c.field, err)
		}
	}
	if n := w.count(t, "trades"); n != 0 {
		t.Errorf("%d trades written by refused proposals", n)
	}
	if n := w.count(t, "trade_legs"); n != 0 {
		t.Errorf("%d trade legs written by refused proposals", n)
	}
	w.wantBalance(t, w.aKG, "1000")
	w.wantBalance(t, w.bUSD, "500")
}

// TestAcceptTradePostsOneTransfer: acceptance moves every leg in one
// transfer, in two units, and only the counterparty may accept.
func TestAcceptTradePostsOneTransfer(t *testing.T) {
	t.Parallel()
	w := newTradeWorld(t)
	tr := w.propose(t, w.produceForMoney("100", "200"))
	if tr.Status != exchange.TradeProposed || tr.ProposerOrg != w.a.ID || tr.ProposedBy != w.coordA.MemberID || len(tr.Legs) != 2 {
		t.Fatalf("proposed trade = %+v", tr)
	}
	w.wantBalance(t, w.aKG, "1000")
	w.wantBalance(t, w.bUSD, "500")

	// Both sides' members see it; a stranger does not.
	for name, p := range map[string]exchange.Principal{"B's member": w.memberB, "A's coordinator": w.coordA, "the federation": w.coordLocal} {
		if got, err := w.ex.Trade(w.ctx, p, tr.ID); err != nil || got.ID != tr.ID || len(got.Legs) != 2 || !got.Legs[0].Amount.Equal(num("100")) {
			t.Errorf("%s reading the trade: %+v, %v", name, got, err)
		}
	}
	_, err := w.ex.Trade(w.ctx, w.coordC, tr.ID)
	wantErr(t, "a stranger reading", err, exchange.ErrUnknownTrade)
	_, err = w.ex.AcceptTrade(w.ctx, w.coordC, tr.ID)
	wantErr(t, "a stranger accepting", err, exchange.ErrUnknownTrade)
	_, err = w.ex.AcceptTrade(w.ctx, w.memberB, tr.ID)
	wantErr(t, "B's member accepting", err, exchange.ErrForbidden)
	_, err = w.ex.AcceptTrade(w.ctx, w.coordA, tr.ID)
	wantErr(t, "the proposer accepting", err, exchange.ErrForbidden)
	_, err = w.ex.DeclineTrade(w.ctx, w.coordA, tr.ID)
	wantErr(t, "the proposer declining", err, exchange.ErrForbidden)
	_, err = w.ex.CancelTrade(w.ctx, w.coordB, tr.ID)
	wantErr(t, "the counterparty cancelling", err, exchange.ErrForbidden)
	_, err = w.ex.AcceptTrade(w.ctx, w.coordB, uuid.New())
	wantErr(t, "accepting an unknown trade", err, exchange.ErrUnknownTrade)
	w.wantBalance(t, w.aKG, "1000")

	done, err := w.ex.AcceptTrade(w.ctx, w.coordB, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if done.Status != exchange.TradeAccepted || done.TransferID == nil || done.DecidedBy == nil || *done.DecidedBy != w.coordB.MemberID {
		t.Fatalf("accepted trade = %+v", done)
	}
	xfer, err := w.led.Transfer(w.ctx, *done.TransferID)
	if err != nil {
		t.Fatal(err)
	}
	if len(xfer.Postings) != 2 || xfer.Postings[0].Unit != "KG_PRODUCE" || xfer.Postings[1].Unit != "USD" || xfer.State != ledger.StatePosted {
		t.Errorf("transfer = %+v, want one posted transfer of produce and dollars", xfer)
	}
	var meta map[string]string
	if err := json.Unmarshal(xfer.Metadata, &meta); err != nil || meta["trade"] != tr.ID.String() {
		t.Errorf("transfer metadata %s, want the trade id", xfer.Metadata)
	}
	w.wantBalance(t, w.aKG, "900")
	w.wantBalance(t, w.bKG, "100")
	w.wantBalance(t, w.aUSD, "200")
	w.wantBalance(t, w.bUSD, "300")
	if got, err := w.ex.Trade(w.ctx, w.coordA, tr.ID); err != nil || got.Status != exchange.TradeAccepted || *got.TransferID != xfer.ID {
		t.Errorf("stored trade = %+v, %v", got, err)
	}

	// Decided once: the same member accepting again (a retry whose first
	// answer was lost) gets the trade as it stands and nothing moves again;
	// nobody can decide it otherwise.
	again, err := w.ex.AcceptTrade(w.ctx, w.coordB, tr.ID)
	if err != nil || again.Status != exchange.TradeAccepted || again.TransferID == nil || *again.TransferID != xfer.ID {
		t.Errorf("accepting again: %+v, %v; want the accepted trade with its one transfer", again, err)
	}
	_, err = w.ex.AcceptTrade(w.ctx, w.admin, tr.ID)
	wantErr(t, "accepting again by another member", err, exchange.ErrTradeNotProposed)
	_, err = w.ex.CancelTrade(w.ctx, w.coordA, tr.ID)
	wantErr(t, "cancelling an accepted trade", err, exchange.ErrTradeNotProposed)
	w.wantBalance(t, w.aKG, "900")
	w.verify(t)
}

// TestAcceptTradeRefusedByTheLedger: a leg the counterparty cannot pay
// leaves the trade proposed and every balance as it was.
func TestAcceptTradeRefusedByTheLedger(t *testing.T) {
	t.Parallel()
	w := newTradeWorld(t)
	tr := w.propose(t, w.produceForMoney("100", "600")) // B holds 500 USD
	_, err := w.ex.AcceptTrade(w.ctx, w.coordB, tr.ID)
	wantErr(t, "accepting beyond B's funds", err, ledger.ErrInsufficientFunds)
	var le *ledger.Error
	if errors.As(err, &le) && (le.Account != w.bUSD) {
		t.Errorf("refusal names account %s, want B's USD account %s", le.Account, w.bUSD)
	}
	got, err := w.ex.Trade(w.ctx, w.coordB, tr.ID)
	if err != nil || got.Status != exchange.TradeProposed || got.TransferID != nil {
		t.Fatalf("trade after the refusal: %+v, %v", got, err)
	}
	w.wantBalance(t, w.aKG, "1000")
	w.wantBalance(t, w.bKG, "0")
	w.wantBalance(t, w.bUSD, "500")
	w.wantBalance(t, w.aUSD, "0")

	// Once B has the money, the same trade goes through.
	w.move(t, w.bank, w.bUSD, num("100"), "USD")
	if got, err = w.ex.AcceptTrade(w.ctx, w.coordB, tr.ID); err != nil || got.Status != exchange.TradeAccepted {
		t.Fatalf("accepting after funding: %+v, %v", got, err)
	}
	w.wantBalance(t, w.bUSD, "0")
	w.wantBalance(t, w.aUSD, "600")
	w.verify(t)
}

// TestTradeDeclineCancelExpire covers the ends other than acceptance.
func TestTradeDeclineCancelExpire(t *testing.T) {
	t.Parallel()
	w := newTradeWorld(t)
	declined := w.propose(t, w.produceForMoney("1", "2"))
	got, err := w.ex.DeclineTrade(w.ctx, w.coordB, declined.ID)
	if err != nil || got.Status != exchange.TradeDeclined || got.DecidedBy == nil || *got.DecidedBy != w.coordB.MemberID {
		t.Fatalf("declining: %+v, %v", got, err)
	}
	_, err = w.ex.AcceptTrade(w.ctx, w.coordB, declined.ID)
	wantErr(t, "accepting a declined trade", err, exchange.ErrTradeNotProposed)

	cancelled := w.propose(t, w.produceForMoney("1", "2"))
	if got, err = w.ex.CancelTrade(w.ctx, w.coordA, cancelled.ID); err != nil || got.Status != exchange.TradeCancelled {
		t.Fatalf("cancelling: %+v, %v", got, err)
	}
	_, err = w.ex.DeclineTrade(w.ctx, w.coordB, cancelled.ID)
	wantErr(t, "declining a cancelled trade", err, exchange.ErrTradeNotProposed)

	in := w.produceForMoney("1", "2")
	exp := w.clock.Now().Add(time.Hour)
	in.ExpiresAt = &exp
	expiring := w.propose(t, in)
	w.clock.Advance(2 * time.Hour)
	if got, err = w.ex.Trade(w.ctx, w.coordB, expiring.ID); err != nil || got.Status != exchange.TradeExpired {
		t.Fatalf("trade past its expiry: %+v, %v", got, err)
	}
	_, err = w.ex.AcceptTrade(w.ctx, w.coordB, expiring.ID)
	wantErr(t, "accepting an expired trade", err, exchange.ErrTradeNotProposed)

	// The list holds them all, for either party, and pages.
	page1, next, err := w.ex.Trades(w.ctx, w.memberB, w.b.ID, exchange.Page{Limit: 2})
	if err != nil || len(page1) != 2 || next == uuid.Nil {
		t.Fatalf("first page: %d trades, next %s, %v", len(page1), next, err)
	}
	page2, next, err := w.ex.Trades(w.ctx, w.coordA, w.a.ID, exchange.Page{Limit: 2, After: next})
	if err != nil || len(page2) != 1 || next != uuid.Nil || page2[0].ID != expiring.ID || page2[0].Status != exchange.TradeExpired {
		t.Fatalf("second page: %+v, next %s, %v", page2, next, err)
	}
	_, _, err = w.ex.Trades(w.ctx, w.coordC, w.a.ID, exchange.Page{})
	wantErr(t, "a stranger listing", err, exchange.ErrForbidden)
	w.wantBalance(t, w.aKG, "1000")
	w.verify(t)
}

// TestTradeDecisionsRace races two accepts and a cancel on each of several
// trades: exactly one decision wins each, and value moves only for the
// accepted ones, once.
func TestTradeDecisionsRace(t *testing.T) {
	t.Parallel()
	w := newTradeWorld(t)
	rounds := 8
	accepted := 0
	// Under make test-faults the decisions fail on purpose; each is
	// repeated while its outcome is unknown, as a client would. More
	// rounds then make lost commits likely (B's 500 USD pay for 25).
	faults := dbtest.InjectFaults(t, w.led.DB())
	if faults > 0 {
		rounds = 20
	}
	for round := range rounds {
		w.led.DB().InjectFaults(0) // proposing is the round's setup
		tr := w.propose(t, w.produceForMoney("10", "20"))
		w.led.DB().InjectFaults(faults)
		decide := []func() (exchange.Trade, error){
			func() (exchange.Trade, error) {
				return settle(func() (exchange.Trade, error) { return w.ex.AcceptTrade(w.ctx, w.coordB, tr.ID) })
			},
			func() (exchange.Trade, error) {
				return settle(func() (exchange.Trade, error) { return w.ex.AcceptTrade(w.ctx, w.admin, tr.ID) })
			},
			func() (exchange.Trade, error) {
				return settle(func() (exchange.Trade, error) { return w.ex.CancelTrade(w.ctx, w.coordA, tr.ID) })
			},
		}
		results := make([]exchange.Trade, len(decide))
		errs := make([]error, len(decide))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, f := range decide {
			wg.Go(func() {
				<-start
				results[i], errs[i] = f()
			})
		}
		close(start)
		wg.Wait()
		w.led.DB().InjectFaults(0)
		wins := 0
		var winner exchange.Trade
		for i, err := range errs {
			switch {
			case err == nil:
				wins++
				winner = results[i]
			case !errors.Is(err, exchange.ErrTradeNotProposed):
				t.Errorf("round %d: decision %d failed with %v, want a win or ErrTradeNotProposed", round, i, err)
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: %d decisions won, want exactly 1", round, wins)
		}
		stored, err := w.ex.Trade(w.ctx, w.admin, tr.ID)
		if err != nil || stored.Status != winner.Status {
			t.Fatalf("round %d: stored %+v, %v; winner says %s", round, stored, err, winner.Status)
		}
		if winner.Status == exchange.TradeAccepted {
			accepted++
		}
	}
	var transfers int
	if err := w.pool.QueryRow(w.ctx, `SELECT count(*) FROM transfers WHERE metadata ? 'trade'`).Scan(&transfers); err != nil {
		t.Fatal(err)
	}
	if transfers != accepted {
		t.Errorf("%d trade transfers for %d accepted trades", transfers, accepted)
	}
	w.wantBalance(t, w.bKG, decimal.NewFromInt(int64(10*accepted)).String())
	w.wantBalance(t, w.aUSD, decimal.NewFromInt(int64(20*accepted)).String())
	w.verify(t)
}

// TestStatementPeriodsAndBound: a statement's balances and entries follow
// its period, only those who may read the organization's accounts get it,
// and a period with too many entries is refused.
func TestStatementPeriodsAndBound(t *testing.T) {
	t.Parallel()
	w := newTradeWorld(t) // A received 1000 kg at 09:00
	w.clock.Advance(time.Hour)
	t1 := w.clock.Now()
	if _, err := w.ex.AcceptTrade(w.ctx, w.coordB, w.propose(t, w.produceForMoney("100", "200")).ID); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(time.Hour)
	t2 := w.clock.Now()
	w.move(t, w.aKG, w.bKG, num("50.5"), "KG_PRODUCE")

	st, err := w.ex.Statement(w.ctx, w.coordA, w.a.ID, t1, t2)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Accounts) != 2 {
		t.Fatalf("statement of A has %d accounts, want 2", len(st.Accounts))
	}
	kg := st.Accounts[0] // KG_PRODUCE sorts before USD
	if kg.ID != w.aKG || !kg.Opening.Equal(num("1000")) || !kg.Closing.Equal(num("900")) || len(kg.Entries) != 1 {
		t.Fatalf("A's produce in [t1, t2): %+v", kg)
	}
	e := kg.Entries[0]
	if !e.Amount.Equal(num("-100")) || !e.BalanceAfter.Equal(num("900")) || e.Counterparty.AccountID != w.bKG ||
		e.Counterparty.OrgName != "Kitchen co-op" || e.Memo != "apples for soup" || !strings.Contains(string(e.Metadata), "trade") {
		t.Errorf("A's produce entry: %+v", e)
	}
	usd := st.Accounts[1]
	if !usd.Opening.IsZero() || !usd.Closing.Equal(num("200")) || len(usd.Entries) != 1 || usd.Entries[0].Counterparty.AccountID != w.bUSD {
		t.Errorf("A's dollars in [t1, t2): %+v", usd)
	}

	// From the beginning to now: three produce entries.
	all, err := w.ex.Statement(w.ctx, w.coordLocal, w.a.ID, time.Time{}, time.Time{})
	if err != nil || len(all.Accounts[0].Entries) != 3 || !all.Accounts[0].Opening.IsZero() || !all.Accounts[0].Closing.Equal(num("849.5")) {
		t.Fatalf("A's statement from the beginning: %+v, %v", all, err)
	}

	for name, p := range map[string]exchange.Principal{"B's coordinator": w.coordB, "B's member": w.memberB} {
		_, err := w.ex.Statement(w.ctx, p, w.a.ID, t1, t2)
		wantErr(t, name+" reading A's statement", err, exchange.ErrNotVisible)
	}
	_, err = w.ex.Statement(w.ctx, w.coordA, uuid.New(), t1, t2)
	wantErr(t, "an unknown organization", err, exchange.ErrUnknownOrg)
	_, err = w.ex.Statement(w.ctx, w.coordA, w.a.ID, t2, t1)
	wantErr(t, "a period that ends before it starts", err, ledger.ErrInvalidRequest)

	// One entry too many in a period is refused; a shorter one is not.
	w.clock.Advance(time.Hour)
	t3 := w.clock.Now()
	reqs := make([]ledger.TransferRequest, exchange.MaxStatementEntries)
	for i := range reqs {
		reqs[i] = ledger.TransferRequest{Postings: []ledger.Posting{{From: w.bank, To: w.cUSD, Amount: num("0.01"), Unit: "USD"}}}
	}
	if _, err := w.led.CreateTransfers(w.ctx, reqs, true); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ex.Statement(w.ctx, w.coordC, w.c.ID, t3, time.Time{}); err != nil {
		t.Fatalf("a period of exactly %d entries: %v", exchange.MaxStatementEntries, err)
	}
	w.move(t, w.bank, w.cUSD, num("0.01"), "USD")
	_, err = w.ex.Statement(w.ctx, w.coordC, w.c.ID, t3, time.Time{})
	wantErr(t, "a period of too many entries", err, exchange.ErrStatementTooLarge)
}
