package exchange_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

// fundWorld is a network with a USD fund, two local organizations under it
// (Riverside with a co-op under it, and Hilltop), and people: Nia
// coordinates the network, Rosa Riverside, Hugo Hilltop; Ana is a member of
// the co-op. The co-op and Ana have USD to give, Riverside and Hilltop an
// account to receive grants.
type fundWorld struct {
	env
	network, riverside, hilltop, coop exchange.Org
	nia, rosa, hugo, ana              exchange.Member
	fund                              exchange.Fund
	niaP                              exchange.Principal // Nia, who governs the fund
	coopUSD, anaUSD                   uuid.UUID
	riversideUSD, hilltopUSD          uuid.UUID
}

func newFundWorld(t *testing.T) fundWorld {
	t.Helper()
	ctx := context.Background()
	e := newEnv(t)
	for _, u := range []ledger.Unit{{Code: "USD", Scale: 2}, {Code: "HOUR", Scale: 2}} {
		if _, err := e.led.CreateUnit(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	w := fundWorld{env: e}
	w.network = e.org(t, nil, exchange.KindNetwork, "Red Mutual")
	w.riverside = e.org(t, &w.network, exchange.KindLocal, "Riverside assembly")
	w.hilltop = e.org(t, &w.network, exchange.KindLocal, "Hilltop assembly")
	w.coop = e.org(t, &w.riverside, exchange.KindCoop, "Bread co-op")
	w.nia, w.rosa, w.hugo, w.ana = e.member(t, "Nia"), e.member(t, "Rosa"), e.member(t, "Hugo"), e.member(t, "Ana")
	e.join(t, w.network, w.nia, exchange.RoleCoordinator)
	e.join(t, w.riverside, w.rosa, exchange.RoleCoordinator)
	e.join(t, w.hilltop, w.hugo, exchange.RoleCoordinator)
	e.join(t, w.coop, w.ana, exchange.RoleMember)

	w.niaP = e.principal(t, w.nia)
	var err error
	w.fund, err = e.ex.CreateFund(ctx, w.niaP, exchange.NewFund{OrgID: w.network.ID, Name: "Solidarity fund", Unit: "USD"})
	if err != nil {
		t.Fatal(err)
	}
	w.coopUSD = w.account(t, exchange.OrgOwner(w.coop.ID), ledger.KindOrganization)
	w.riversideUSD = w.account(t, exchange.OrgOwner(w.riverside.ID), ledger.KindOrganization)
	w.hilltopUSD = w.account(t, exchange.OrgOwner(w.hilltop.ID), ledger.KindOrganization)
	acc, err := e.ex.OpenMemberAccount(ctx, exchange.System(), w.coop.ID, w.ana.ID, "USD", decimal.Zero)
	if err != nil {
		t.Fatal(err)
	}
	w.anaUSD = acc.ID
	// Money arrives in the co-op's and Ana's accounts from their banks.
	bank := w.account(t, exchange.OrgOwner(w.coop.ID), ledger.KindExternal)
	for _, to := range []uuid.UUID{w.coopUSD, w.anaUSD} {
		if _, err := e.led.CreateTransfer(ctx, ledger.TransferRequest{Postings: []ledger.Posting{{From: bank, To: to, Amount: money("500"), Unit: "USD"}}}); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func (w fundWorld) account(t *testing.T, owner string, kind ledger.AccountKind) uuid.UUID {
	t.Helper()
	in := ledger.NewAccount{Unit: "USD", Owner: owner, Kind: kind, Name: "USD"}
	acc, err := w.led.CreateAccount(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return acc.ID
}

func money(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func (w fundWorld) balance(t *testing.T, id uuid.UUID) decimal.Decimal {
	t.Helper()
	acc, err := w.led.Account(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return acc.Posted
}

func (w fundWorld) wantBalance(t *testing.T, what string, id uuid.UUID, want string) {
	t.Helper()
	if got := w.balance(t, id); !got.Equal(money(want)) {
		t.Errorf("%s balance = %s, want %s", what, got, want)
	}
}

// verify checks the ledger's invariants.
func (w fundWorld) verify(t *testing.T) {
	t.Helper()
	problems, err := w.led.Verify(context.Background())
	if more, merr := w.ex.Verify(context.Background()); merr == nil {
		problems = append(problems, more...)
	} else if err == nil {
		err = merr
	}
	if err != nil || len(problems) > 0 {
		t.Fatalf("ledger verify: %v %v", problems, err)
	}
}

// giver is who gives a contribution: Ana from her own account, Nia (who
// governs the fund and coordinates the network) otherwise.
func (w fundWorld) giver(t *testing.T, c exchange.Contribution) exchange.Principal {
	if c.From == w.anaUSD {
		return w.principal(t, w.ana)
	}
	return w.niaP
}

func (w fundWorld) contribute(t *testing.T, c exchange.Contribution) exchange.FundMovement {
	t.Helper()
	c.FundID = w.fund.ID
	m, err := w.ex.Contribute(context.Background(), w.giver(t, c), c)
	if err != nil {
		t.Fatalf("contributing %s: %v", c.Amount, err)
	}
	return m
}

func (w fundWorld) approved(t *testing.T, org exchange.Org, to uuid.UUID, amount string) exchange.Grant {
	t.Helper()
	ctx := context.Background()
	by := w.rosa // who coordinates org
	if org.ID == w.hilltop.ID {
		by = w.hugo
	}
	g, err := w.ex.RequestGrant(ctx, w.principal(t, by), exchange.NewGrant{FundID: w.fund.ID, OrgID: org.ID,
		Amount: money(amount), Purpose: "Community kitchen", ToAccount: to})
	if err != nil {
		t.Fatal(err)
	}
	g, err = w.ex.DecideGrant(ctx, w.niaP, exchange.GrantDecision{GrantID: g.ID, Approve: true})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestFundOpensItsAccountsWithTheFund(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newFundWorld(t)
	f := w.fund
	acc, err := w.led.Account(ctx, f.AccountID)
	if err != nil || acc.Kind != ledger.KindFund || acc.Owner != exchange.OrgOwner(w.network.ID) || acc.Unit != "USD" ||
		acc.LowerBound == nil || !acc.LowerBound.IsZero() {
		t.Fatalf("fund account = %+v, %v", acc, err)
	}
	ext, err := w.led.Account(ctx, f.ExternalAccountID)
	if err != nil || ext.Kind != ledger.KindExternal || ext.Owner != exchange.OrgOwner(w.network.ID) {
		t.Fatalf("external account = %+v, %v", ext, err)
	}
	got, err := w.ex.Fund(ctx, exchange.Principal{}, f.ID)
	if err != nil || got != f {
		t.Fatalf("Fund = %+v, %v; want %+v", got, err, f)
	}

	// A refused fund leaves no account behind.
	accounts, funds := w.count(t, "accounts"), w.count(t, "funds")
	for _, in := range []exchange.NewFund{
		{OrgID: w.network.ID, Name: "Fund", Unit: "EUR"},           // unknown unit
		{OrgID: uuid.New(), Name: "Fund", Unit: "USD"},             // unknown org
		{OrgID: w.network.ID, Name: "  ", Unit: "USD"},             // no name
		{ID: f.ID, OrgID: w.network.ID, Name: "Fund", Unit: "USD"}, // id taken
	} {
		if _, err := w.ex.CreateFund(ctx, w.niaP, in); err == nil {
			t.Errorf("CreateFund(%+v) succeeded", in)
		}
	}
	// A member that does not exist (an admin's token outliving its member).
	ghost := exchange.Principal{MemberID: uuid.New(), Admin: true}
	for _, in := range []exchange.NewFund{{OrgID: w.network.ID, Name: "Fund", Unit: "USD"}} {
		if _, err := w.ex.CreateFund(ctx, ghost, in); err == nil {
			t.Errorf("CreateFund(%+v) succeeded", in)
		}
	}
	if a, n := w.count(t, "accounts"), w.count(t, "funds"); a != accounts || n != funds {
		t.Errorf("refused funds left accounts %d→%d, funds %d→%d", accounts, a, funds, n)
	}
	funds2, next, err := w.ex.Funds(ctx, exchange.Principal{}, exchange.Page{})
	if err != nil || len(funds2) != 1 || funds2[0].ID != f.ID || next != uuid.Nil {
		t.Fatalf("Funds = %+v, %v, %v", funds2, next, err)
	}
}

func TestContributionsAreCreditedToOrganizations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newFundWorld(t)

	outside := w.contribute(t, exchange.Contribution{Source: " Riverside Foundation ", Amount: money("1000"), Memo: "yearly gift"})
	if outside.OrgID != nil || outside.Source != "Riverside Foundation" || outside.Direction != exchange.Inflow {
		t.Errorf("outside donation = %+v", outside)
	}
	coop := w.contribute(t, exchange.Contribution{From: w.coopUSD, Amount: money("200")})
	if coop.OrgID == nil || *coop.OrgID != w.coop.ID {
		t.Errorf("co-op contribution credited to %v, want the co-op", coop.OrgID)
	}
	ana := w.contribute(t, exchange.Contribution{From: w.anaUSD, OrgID: w.coop.ID, Amount: money("50.25")})
	if ana.OrgID == nil || *ana.OrgID != w.coop.ID {
		t.Errorf("Ana's contribution credited to %v, want the co-op", ana.OrgID)
	}
	w.wantBalance(t, "fund", w.fund.AccountID, "1250.25")
	w.wantBalance(t, "external", w.fund.ExternalAccountID, "-1000")
	w.wantBalance(t, "co-op", w.coopUSD, "300")
	w.wantBalance(t, "Ana", w.anaUSD, "449.75")

	// The transfer says which fund it went to.
	tr, err := w.led.Transfer(ctx, ana.TransferID)
	if err != nil || tr.Postings[0].From != w.anaUSD || tr.Postings[0].To != w.fund.AccountID {
		t.Fatalf("Ana's transfer = %+v, %v", tr, err)
	}

	// A retry with the ledger key moves the money once and returns the
	// first movement.
	keyed := exchange.Contribution{From: w.coopUSD, Amount: money("10"), IdempotencyKey: "coop-march"}
	first := w.contribute(t, keyed)
	again := w.contribute(t, keyed)
	if again.ID != first.ID || again.TransferID != first.TransferID {
		t.Errorf("retried contribution = %+v, want %+v", again, first)
	}
	w.wantBalance(t, "co-op after a retried contribution", w.coopUSD, "290")

	// Refusals change nothing.
	movements, transfers := w.count(t, "fund_movements"), w.count(t, "transfers")
	hours := w.account(t, exchange.OrgOwner(w.coop.ID), ledger.KindOrganization)
	for _, c := range []struct {
		name string
		in   exchange.Contribution
		want error
	}{
		{"neither account nor source", exchange.Contribution{Amount: money("1")}, ledger.ErrInvalidRequest},
		{"both account and source", exchange.Contribution{From: w.coopUSD, Source: "X", Amount: money("1")}, ledger.ErrInvalidRequest},
		{"outside money credited to an org", exchange.Contribution{Source: "X", OrgID: w.coop.ID, Amount: money("1")}, ledger.ErrInvalidRequest},
		{"member account without org", exchange.Contribution{From: w.anaUSD, Amount: money("1")}, ledger.ErrInvalidRequest},
		{"member of another org", exchange.Contribution{From: w.anaUSD, OrgID: w.hilltop.ID, Amount: money("1")}, exchange.ErrNotAMember},
		{"org account credited elsewhere", exchange.Contribution{From: w.coopUSD, OrgID: w.hilltop.ID, Amount: money("1")}, ledger.ErrInvalidRequest},
		{"the fund's own account", exchange.Contribution{From: w.fund.AccountID, Amount: money("1")}, ledger.ErrInvalidRequest},
		{"the fund's external account", exchange.Contribution{From: w.fund.ExternalAccountID, Amount: money("1")}, ledger.ErrInvalidRequest},
		{"unknown account", exchange.Contribution{From: uuid.New(), Amount: money("1")}, ledger.ErrUnknownAccount},
		{"more than the account holds", exchange.Contribution{From: w.coopUSD, Amount: money("290.01")}, ledger.ErrInsufficientFunds},
		{"zero", exchange.Contribution{From: w.coopUSD, Amount: money("0")}, ledger.ErrNonPositiveAmount},
		{"too many decimals", exchange.Contribution{From: w.coopUSD, Amount: money("1.001")}, ledger.ErrTooManyDecimals},
		{"empty account", exchange.Contribution{From: hours, Amount: money("1")}, ledger.ErrInsufficientFunds},
		{"same key, other request", exchange.Contribution{From: w.coopUSD, Amount: money("11"), IdempotencyKey: "coop-march"}, ledger.ErrIdempotencyConflict},
	} {
		c.in.FundID = w.fund.ID
		_, err := w.ex.Contribute(ctx, w.giver(t, c.in), c.in)
		wantErr(t, c.name, err, c.want)
	}
	_, err = w.ex.Contribute(ctx, w.niaP, exchange.Contribution{FundID: uuid.New(), Source: "X", Amount: money("1")})
	wantErr(t, "unknown fund", err, exchange.ErrUnknownFund)
	if m, n := w.count(t, "fund_movements"), w.count(t, "transfers"); m != movements || n != transfers {
		t.Errorf("refused contributions wrote movements %d→%d, transfers %d→%d", movements, m, transfers, n)
	}
	w.wantBalance(t, "fund after refusals", w.fund.AccountID, "1260.25")
	w.verify(t)
}

func TestGrantFromRequestToReport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newFundWorld(t)
	w.contribute(t, exchange.Contribution{Source: "Riverside Foundation", Amount: money("300")})
	w.contribute(t, exchange.Contribution{From: w.coopUSD, Amount: money("100")})

	// Bad requests are refused and write nothing.
	other := w.account(t, exchange.OrgOwner(w.hilltop.ID), ledger.KindOrganization)
	hoursAcc, err := w.led.CreateAccount(ctx, ledger.NewAccount{Unit: "HOUR", Owner: exchange.OrgOwner(w.riverside.ID), Kind: ledger.KindOrganization})
	if err != nil {
		t.Fatal(err)
	}
	rosa := w.principal(t, w.rosa)
	good := exchange.NewGrant{FundID: w.fund.ID, OrgID: w.riverside.ID, Amount: money("350"), Purpose: "Community kitchen", ToAccount: w.riversideUSD}
	for _, c := range []struct {
		name   string
		change func(*exchange.NewGrant)
		want   error
	}{
		{"unknown fund", func(g *exchange.NewGrant) { g.FundID = uuid.New() }, exchange.ErrUnknownFund},
		{"the fund's own organization", func(g *exchange.NewGrant) { g.OrgID = w.network.ID }, ledger.ErrInvalidRequest},
		{"unknown organization", func(g *exchange.NewGrant) { g.OrgID = uuid.New() }, exchange.ErrUnknownOrg},
		{"another organization's account", func(g *exchange.NewGrant) { g.ToAccount = other }, ledger.ErrInvalidRequest},
		{"an account in hours", func(g *exchange.NewGrant) { g.ToAccount = hoursAcc.ID }, ledger.ErrUnitMismatch},
		{"unknown account", func(g *exchange.NewGrant) { g.ToAccount = uuid.New() }, ledger.ErrUnknownAccount},
		{"no purpose", func(g *exchange.NewGrant) { g.Purpose = " " }, ledger.ErrInvalidRequest},
		{"negative amount", func(g *exchange.NewGrant) { g.Amount = money("-5") }, ledger.ErrNonPositiveAmount},
		{"too many decimals", func(g *exchange.NewGrant) { g.Amount = money("5.001") }, ledger.ErrTooManyDecimals},
	} {
		in := good
		c.change(&in)
		// Nia, who acts for every organization, so that the refusals are
		// the request's, not hers.
		_, err := w.ex.RequestGrant(ctx, w.niaP, in)
		wantErr(t, c.name, err, c.want)
	}
	if n := w.count(t, "grant_requests"); n != 0 {
		t.Fatalf("refused requests wrote %d grants", n)
	}

	g, err := w.ex.RequestGrant(ctx, rosa, good)
	if err != nil || g.Status != exchange.GrantRequested || g.DecidedBy != nil {
		t.Fatalf("RequestGrant = %+v, %v", g, err)
	}
	_, _, err = w.ex.Disburse(ctx, w.niaP, g.ID)
	wantErr(t, "disbursing a grant not yet approved", err, exchange.ErrGrantStatus)

	w.clock.Advance(time.Hour)
	decidedAt := w.clock.Now().UTC()
	votes := exchange.GrantVotes{For: 7, Against: 2, Abstain: 1}
	g, err = w.ex.DecideGrant(ctx, w.niaP, exchange.GrantDecision{GrantID: g.ID, Approve: true, Note: "Assembly of March", Votes: &votes})
	if err != nil || g.Status != exchange.GrantApproved || g.DecidedBy == nil || *g.DecidedBy != w.nia.ID ||
		g.DecidedAt == nil || !g.DecidedAt.Equal(decidedAt) || g.Votes == nil || *g.Votes != votes || g.DecisionNote != "Assembly of March" {
		t.Fatalf("DecideGrant = %+v, %v", g, err)
	}
	_, err = w.ex.DecideGrant(ctx, w.niaP, exchange.GrantDecision{GrantID: g.ID, Approve: false})
	wantErr(t, "deciding twice", err, exchange.ErrGrantStatus)
	_, err = w.ex.WithdrawGrant(ctx, rosa, g.ID)
	wantErr(t, "withdrawing an approved grant", err, exchange.ErrGrantStatus)

	// The fund holds 400: a grant of 350 is paid, but a second of 100 is
	// refused by the ledger, and changes nothing.
	big := w.approved(t, w.hilltop, w.hilltopUSD, "100")
	g, out, err := w.ex.Disburse(ctx, w.niaP, g.ID)
	if err != nil || g.Status != exchange.GrantDisbursed || g.TransferID == nil || *g.TransferID != out.TransferID ||
		out.Direction != exchange.Outflow || out.OrgID == nil || *out.OrgID != w.riverside.ID || !out.Amount.Equal(money("350")) {
		t.Fatalf("Disburse = %+v, %+v, %v", g, out, err)
	}
	_, _, err = w.ex.Disburse(ctx, w.niaP, g.ID)
	wantErr(t, "disbursing twice", err, exchange.ErrGrantStatus)
	movements := w.count(t, "fund_movements")
	_, _, err = w.ex.Disburse(ctx, w.niaP, big.ID)
	wantErr(t, "disbursing more than the fund holds", err, ledger.ErrInsufficientFunds)
	if got, _ := w.ex.Grant(ctx, w.niaP, big.ID); got.Status != exchange.GrantApproved || got.TransferID != nil {
		t.Errorf("refused disbursement left the grant %s", got.Status)
	}
	if n := w.count(t, "fund_movements"); n != movements {
		t.Errorf("refused disbursement wrote %d movements", n-movements)
	}
	w.wantBalance(t, "fund", w.fund.AccountID, "50")
	w.wantBalance(t, "Riverside", w.riversideUSD, "350")
	w.wantBalance(t, "Hilltop", w.hilltopUSD, "0")

	// A rejected and a withdrawn request.
	hugo := w.principal(t, w.hugo)
	rej, _ := w.ex.RequestGrant(ctx, hugo, exchange.NewGrant{FundID: w.fund.ID, OrgID: w.hilltop.ID, Amount: money("5"), Purpose: "Chairs", ToAccount: w.hilltopUSD})
	if rej, err = w.ex.DecideGrant(ctx, w.niaP, exchange.GrantDecision{GrantID: rej.ID}); err != nil || rej.Status != exchange.GrantRejected || rej.Votes != nil {
		t.Fatalf("rejecting = %+v, %v", rej, err)
	}
	wd, _ := w.ex.RequestGrant(ctx, hugo, exchange.NewGrant{FundID: w.fund.ID, OrgID: w.hilltop.ID, Amount: money("5"), Purpose: "Tables", ToAccount: w.hilltopUSD})
	if wd, err = w.ex.WithdrawGrant(ctx, hugo, wd.ID); err != nil || wd.Status != exchange.GrantWithdrawn {
		t.Fatalf("withdrawing = %+v, %v", wd, err)
	}

	// Next month Ana gives, in the co-op's name.
	w.clock.Advance(31 * 24 * time.Hour)
	w.contribute(t, exchange.Contribution{From: w.anaUSD, OrgID: w.coop.ID, Amount: money("20")})

	r, err := w.ex.FundReport(ctx, exchange.Principal{}, exchange.ReportQuery{FundID: w.fund.ID})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Balance.Equal(money("70")) || !r.Recorded.Equal(money("70")) || !r.Reconciled || !r.In.Equal(money("420")) || !r.Out.Equal(money("350")) {
		t.Errorf("report balance %s, recorded %s, reconciled %v, in %s, out %s; want 70, 70, true, 420, 350", r.Balance, r.Recorded, r.Reconciled, r.In, r.Out)
	}
	if len(r.Movements) != 4 || len(r.Periods) != 2 || r.Periods[0].Label != "2026-03" || r.Periods[1].Label != "2026-04" {
		t.Fatalf("report has %d movements, periods %+v", len(r.Movements), r.Periods)
	}
	march := r.Periods[0]
	if len(march.Inflows) != 2 || march.Inflows[0].Name != "Riverside Foundation" || march.Inflows[0].OrgID != nil ||
		march.Inflows[1].Name != "Bread co-op" || !march.Inflows[1].Amount.Equal(money("100")) || !march.In.Equal(money("400")) {
		t.Errorf("March inflows = %+v", march.Inflows)
	}
	if len(march.Outflows) != 1 || march.Outflows[0].Name != "Riverside assembly" || len(march.Outflows[0].Grants) != 1 {
		t.Fatalf("March outflows = %+v", march.Outflows)
	}
	paid := march.Outflows[0].Grants[0]
	if paid.GrantID != g.ID || paid.Purpose != "Community kitchen" || paid.DecidedBy != "Nia" || !paid.DecidedAt.Equal(decidedAt) ||
		paid.Votes == nil || *paid.Votes != votes || paid.TransferID != *g.TransferID {
		t.Errorf("paid grant = %+v", paid)
	}
	april := r.Periods[1]
	if len(april.Inflows) != 1 || april.Inflows[0].Name != "Bread co-op" || !april.In.Equal(money("20")) || len(april.Outflows) != 0 {
		t.Errorf("April = %+v", april)
	}

	// By year, and for April alone.
	r, err = w.ex.FundReport(ctx, exchange.Principal{}, exchange.ReportQuery{FundID: w.fund.ID, Period: exchange.PeriodYear})
	if err != nil || len(r.Periods) != 1 || r.Periods[0].Label != "2026" || len(r.Periods[0].Inflows) != 2 ||
		!r.Periods[0].Inflows[0].Amount.Equal(money("300")) || !r.Periods[0].Inflows[1].Amount.Equal(money("120")) || r.Periods[0].Inflows[1].Count != 2 {
		t.Errorf("yearly report = %+v, %v", r.Periods, err)
	}
	from := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	r, err = w.ex.FundReport(ctx, exchange.Principal{}, exchange.ReportQuery{FundID: w.fund.ID, From: &from})
	if err != nil || len(r.Movements) != 1 || !r.In.Equal(money("20")) || !r.Balance.Equal(money("70")) {
		t.Errorf("April report = %+v, %v", r, err)
	}
	_, err = w.ex.FundReport(ctx, exchange.Principal{}, exchange.ReportQuery{FundID: w.fund.ID, Period: "week"})
	wantErr(t, "a report by week", err, ledger.ErrInvalidRequest)
	_, err = w.ex.FundReport(ctx, exchange.Principal{}, exchange.ReportQuery{FundID: w.fund.ID, From: &from, To: &from})
	wantErr(t, "an empty range", err, ledger.ErrInvalidRequest)

	// The governors see every request; Hilltop's coordinator only Hilltop's.
	all, _, err := w.ex.Grants(ctx, w.niaP, w.fund.ID, exchange.Page{})
	if err != nil || len(all) != 4 {
		t.Errorf("all grants = %d, %v", len(all), err)
	}
	hugo = w.principal(t, w.hugo)
	mine, _, err := w.ex.Grants(ctx, hugo, w.fund.ID, exchange.Page{})
	if err != nil || len(mine) != 3 {
		t.Errorf("Hilltop's grants = %d, %v; want 3", len(mine), err)
	}
	for _, x := range mine {
		if x.OrgID != w.hilltop.ID {
			t.Errorf("Hugo sees a grant of %s", x.OrgID)
		}
	}
	w.verify(t)
}

// TestConcurrentDisbursementsPayOnce races disbursements of one grant: the
// grant's row lock lets one pay and the others find it disbursed.
func TestConcurrentDisbursementsPayOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newFundWorld(t)
	w.contribute(t, exchange.Contribution{Source: "Riverside Foundation", Amount: money("1000")})
	g := w.approved(t, w.riverside, w.riversideUSD, "400")

	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, _, errs[i] = w.ex.Disburse(ctx, w.niaP, g.ID)
		}()
	}
	close(start)
	wg.Wait()
	paid := 0
	for _, err := range errs {
		switch {
		case err == nil:
			paid++
		case !errors.Is(err, exchange.ErrGrantStatus):
			t.Errorf("a racing disbursement failed with %v, want ErrGrantStatus", err)
		}
	}
	if paid != 1 {
		t.Fatalf("%d disbursements succeeded, want 1", paid)
	}
	w.wantBalance(t, "fund", w.fund.AccountID, "600")
	w.wantBalance(t, "Riverside", w.riversideUSD, "400")
	if m := w.count(t, "fund_movements"); m != 2 {
		t.Errorf("%d movements, want 2 (one in, one out)", m)
	}
	r, err := w.ex.FundReport(ctx, exchange.Principal{}, exchange.ReportQuery{FundID: w.fund.ID})
	if err != nil || !r.Reconciled || !r.Out.Equal(money("400")) {
		t.Errorf("report after the race: reconciled %v, out %s, %v", r.Reconciled, r.Out, err)
	}
	w.verify(t)
}

// TestFundConstraintsRefuseInconsistentRows writes rows behind the store's
// back: the schema's CHECK constraints refuse every status inconsistent with
// its fields.
func TestFundConstraintsRefuseInconsistentRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newFundWorld(t)
	in := w.contribute(t, exchange.Contribution{Source: "Riverside Foundation", Amount: money("1000")})
	req, err := w.ex.RequestGrant(ctx, w.principal(t, w.rosa), exchange.NewGrant{FundID: w.fund.ID, OrgID: w.riverside.ID, Amount: money("10"), Purpose: "Seeds", ToAccount: w.riversideUSD})
	if err != nil {
		t.Fatal(err)
	}
	ok := w.approved(t, w.riverside, w.riversideUSD, "20")
	paid := w.approved(t, w.riverside, w.riversideUSD, "30")
	if _, _, err := w.ex.Disburse(ctx, w.niaP, paid.ID); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, sql string
		args      []any
	}{
		{"approved without a decider", `UPDATE grant_requests SET status = 'approved' WHERE id = $1`, []any{req.ID}},
		{"a decider on a requested grant", `UPDATE grant_requests SET decided_by = $2, decided_at = now() WHERE id = $1`, []any{req.ID, w.nia.ID}},
		{"disbursed without a transfer", `UPDATE grant_requests SET status = 'disbursed' WHERE id = $1`, []any{ok.ID}},
		{"a transfer on an approved grant", `UPDATE grant_requests SET transfer_id = $2 WHERE id = $1`, []any{ok.ID, in.TransferID}},
		{"back to requested with a decision", `UPDATE grant_requests SET status = 'requested' WHERE id = $1`, []any{ok.ID}},
		{"a partial tally", `UPDATE grant_requests SET votes_for = 3 WHERE id = $1`, []any{ok.ID}},
		{"a negative tally", `UPDATE grant_requests SET votes_for = -1, votes_against = 0, votes_abstain = 0 WHERE id = $1`, []any{ok.ID}},
		{"a tally without a decision", `UPDATE grant_requests SET votes_for = 1, votes_against = 0, votes_abstain = 0 WHERE id = $1`, []any{req.ID}},
		{"a note without a decision", `UPDATE grant_requests SET decision_note = 'yes' WHERE id = $1`, []any{req.ID}},
		{"an unknown status", `UPDATE grant_requests SET status = 'paid' WHERE id = $1`, []any{paid.ID}},
		{"a zero amount", `UPDATE grant_requests SET amount = 0 WHERE id = $1`, []any{req.ID}},
		{"a disbursed grant losing its transfer", `UPDATE grant_requests SET transfer_id = NULL WHERE id = $1`, []any{paid.ID}},
		{"an inflow with neither organization nor source", `UPDATE fund_movements SET source = '' WHERE id = $1`, []any{in.ID}},
		{"an inflow with both", `UPDATE fund_movements SET org_id = $2 WHERE id = $1`, []any{in.ID, w.coop.ID}},
		{"an outflow without a grant", `UPDATE fund_movements SET direction = 'out' WHERE id = $1`, []any{in.ID}},
		{"a negative movement", `UPDATE fund_movements SET amount = -1 WHERE id = $1`, []any{in.ID}},
		{"an outflow to another organization than the grant's", `UPDATE fund_movements SET org_id = $2 WHERE grant_id = $1`, []any{paid.ID, w.hilltop.ID}},
	} {
		_, err := w.pool.Exec(ctx, c.sql, c.args...)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || (pgErr.Code != "23514" && pgErr.Code != "23503") {
			t.Errorf("%s: err = %v, want a check or foreign key violation", c.name, err)
		}
	}
	r, err := w.ex.FundReport(ctx, exchange.Principal{}, exchange.ReportQuery{FundID: w.fund.ID})
	if err != nil || !r.Reconciled || !r.Balance.Equal(money("970")) {
		t.Errorf("report after refused writes: balance %s, reconciled %v, %v", r.Balance, r.Reconciled, err)
	}
}
