package exchange_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

// snapshot returns every row of the tables as text, to compare before and
// after a refused request.
func (e env) snapshot(t *testing.T, tables ...string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, table := range tables {
		rows, err := e.pool.Query(context.Background(), `SELECT row_to_json(t)::text FROM `+table+` t ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		out[table], err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

var fundTables = []string{"funds", "fund_rule_changes", "grant_requests", "fund_movements", "transfers", "notifications"}

func (e env) wantUnchanged(t *testing.T, what string, before map[string][]string) {
	t.Helper()
	after := e.snapshot(t, fundTables...)
	for table, rows := range before {
		if !slices.Equal(rows, after[table]) {
			t.Errorf("%s changed %s:\nbefore %v\nafter  %v", what, table, rows, after[table])
		}
	}
}

// wantField checks that err is a domain error naming field.
func wantField(t *testing.T, what string, err error, field string) {
	t.Helper()
	var le *ledger.Error
	if !errors.As(err, &le) || le.Field != field {
		t.Errorf("%s: err = %v, want one naming field %q", what, err, field)
	}
}

// request asks the fund for a grant for org, by the member of p.
func (w fundWorld) request(t *testing.T, by exchange.Member, org exchange.Org, to uuid.UUID, amount string) exchange.Grant {
	t.Helper()
	g, err := w.ex.RequestGrant(context.Background(), w.principal(t, by), exchange.NewGrant{FundID: w.fund.ID, OrgID: org.ID,
		Amount: money(amount), Purpose: "Community kitchen", ToAccount: to})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// fundWith creates another USD fund of the network with rules.
func (w fundWorld) fundWith(t *testing.T, rules exchange.FundRules) exchange.Fund {
	t.Helper()
	f, err := w.ex.CreateFund(context.Background(), w.niaP, exchange.NewFund{OrgID: w.network.ID, Name: "Ruled fund", Unit: "USD", Rules: &rules})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestMajorityCountsForAndAgainstOnly(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		m                   exchange.Majority
		for_, against, abst int64
		want                bool
	}{
		{exchange.MajoritySimple, 0, 0, 0, false},
		{exchange.MajoritySimple, 0, 0, 9, false}, // abstentions alone decide nothing
		{exchange.MajoritySimple, 1, 9, 0, false},
		{exchange.MajoritySimple, 5, 5, 0, false},
		{exchange.MajoritySimple, 6, 5, 0, true},
		{exchange.MajoritySimple, 1, 0, 20, true}, // abstentions do not count against
		{exchange.MajorityTwoThirds, 0, 0, 0, false},
		{exchange.MajorityTwoThirds, 0, 0, 3, false},
		{exchange.MajorityTwoThirds, 1, 0, 0, true},
		{exchange.MajorityTwoThirds, 2, 1, 0, true}, // exactly two thirds
		{exchange.MajorityTwoThirds, 3, 2, 0, false},
		{exchange.MajorityTwoThirds, 199, 100, 0, false}, // just under
		{exchange.MajorityTwoThirds, 200, 100, 50, true}, // exactly, abstentions aside
	} {
		v := exchange.GrantVotes{For: c.for_, Against: c.against, Abstain: c.abst}
		if got := c.m.Reached(v); got != c.want {
			t.Errorf("%s majority of %+v = %v, want %v", c.m, v, got, c.want)
		}
	}
}

func TestFundRulesAreSetWithTheFundAndChecked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newFundWorld(t)
	if w.fund.Rules.Quorum != 0 || w.fund.Rules.Majority != exchange.MajoritySimple || w.fund.Rules.SecondApprovalAbove != nil {
		t.Errorf("default rules = %+v", w.fund.Rules)
	}
	rules := exchange.FundRules{Quorum: 7, Majority: exchange.MajorityTwoThirds, SecondApprovalAbove: ptr(money("250.50"))}
	f := w.fundWith(t, rules)
	got, err := w.ex.Fund(ctx, exchange.Principal{}, f.ID)
	if err != nil || !got.Rules.Equal(rules) {
		t.Fatalf("stored rules = %+v, %v; want %+v", got.Rules, err, rules)
	}

	before := w.snapshot(t, fundTables...)
	for _, c := range []struct {
		name  string
		rules exchange.FundRules
		field string
	}{
		{"negative quorum", exchange.FundRules{Quorum: -1, Majority: exchange.MajoritySimple}, "quorum"},
		{"quorum too large", exchange.FundRules{Quorum: exchange.MaxQuorum + 1, Majority: exchange.MajoritySimple}, "quorum"},
		{"unknown majority", exchange.FundRules{Majority: "most"}, "majority"},
		{"no majority", exchange.FundRules{}, "majority"},
		{"zero second-approval amount", exchange.FundRules{Majority: exchange.MajoritySimple, SecondApprovalAbove: ptr(money("0"))}, "second_approval_above"},
		{"second-approval amount finer than cents", exchange.FundRules{Majority: exchange.MajoritySimple, SecondApprovalAbove: ptr(money("1.001"))}, "second_approval_above"},
	} {
		_, err := w.ex.CreateFund(ctx, w.niaP, exchange.NewFund{OrgID: w.network.ID, Name: "Bad", Unit: "USD", Rules: &c.rules})
		wantField(t, c.name, err, c.field)
	}
	w.wantUnchanged(t, "refused funds", before)

	// The schema holds the ranges too, whatever writes the row.
	for _, c := range []struct{ name, sql string }{
		{"a negative quorum", `UPDATE funds SET quorum = -1 WHERE id = $1`},
		{"a huge quorum", `UPDATE funds SET quorum = 1000001 WHERE id = $1`},
		{"an unknown majority", `UPDATE funds SET majority = 'most' WHERE id = $1`},
		{"a zero second-approval amount", `UPDATE funds SET second_approval_above = 0 WHERE id = $1`},
	} {
		_, err := w.pool.Exec(ctx, c.sql, f.ID)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "23514" {
			t.Errorf("%s: err = %v, want a check violation", c.name, err)
		}
	}
}

// TestDecisionsFollowTheFundsRules: a decision without the quorum, or that
// contradicts its tally, is refused and changes nothing; one that follows
// the rules is recorded.
func TestDecisionsFollowTheFundsRules(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newFundWorld(t)
	votes := func(f, a, x int64) *exchange.GrantVotes { return &exchange.GrantVotes{For: f, Against: a, Abstain: x} }
	decide := func(g exchange.Grant, approve bool, v *exchange.GrantVotes) (exchange.Grant, error) {
		return w.ex.DecideGrant(ctx, w.niaP, exchange.GrantDecision{GrantID: g.ID, Approve: approve, Votes: v})
	}

	// The default fund: no quorum, a simple majority.
	g := w.request(t, w.rosa, w.riverside, w.riversideUSD, "10")
	before := w.snapshot(t, fundTables...)
	for _, c := range []struct {
		name    string
		approve bool
		v       *exchange.GrantVotes
		want    error
		field   string
	}{
		{"approved 1 for, 9 against", true, votes(1, 9, 0), exchange.ErrAgainstTally, "decision"},
		{"approved on a tie", true, votes(5, 5, 2), exchange.ErrAgainstTally, "decision"},
		{"approved by abstentions", true, votes(0, 0, 12), exchange.ErrAgainstTally, "decision"},
		{"rejected 6 for, 5 against", false, votes(6, 5, 0), exchange.ErrAgainstTally, "decision"},
	} {
		_, err := decide(g, c.approve, c.v)
		wantErr(t, c.name, err, c.want)
		wantField(t, c.name, err, c.field)
	}
	w.wantUnchanged(t, "decisions against their tally", before)
	if d, err := decide(g, true, votes(9, 1, 2)); err != nil || d.Status != exchange.GrantApproved {
		t.Fatalf("approving 9-1-2 = %+v, %v", d, err)
	}
	if d, err := decide(w.request(t, w.rosa, w.riverside, w.riversideUSD, "10"), false, votes(5, 5, 0)); err != nil || d.Status != exchange.GrantRejected {
		t.Fatalf("rejecting on a tie = %+v, %v", d, err)
	}
	if d, err := decide(w.request(t, w.rosa, w.riverside, w.riversideUSD, "10"), true, nil); err != nil || d.Status != exchange.GrantApproved {
		t.Fatalf("approving without a tally where there is no quorum = %+v, %v", d, err)
	}

	// A fund with a quorum of 5 and a two-thirds majority.
	w.fund = w.fundWith(t, exchange.FundRules{Quorum: 5, Majority: exchange.MajorityTwoThirds})
	g = w.request(t, w.rosa, w.riverside, w.riversideUSD, "10")
	before = w.snapshot(t, fundTables...)
	for _, c := range []struct {
		name    string
		approve bool
		v       *exchange.GrantVotes
		want    error
		field   string
	}{
		{"approved without a tally", true, nil, exchange.ErrQuorumNotReached, "votes"},
		{"rejected without a tally", false, nil, exchange.ErrQuorumNotReached, "votes"},
		{"approved with 4 votes", true, votes(3, 0, 1), exchange.ErrQuorumNotReached, "votes"},
		{"approved 3 for, 2 against", true, votes(3, 2, 0), exchange.ErrAgainstTally, "decision"},
		{"approved 5 for, 3 against", true, votes(5, 3, 4), exchange.ErrAgainstTally, "decision"},
		{"rejected 4 for, 2 against (two thirds)", false, votes(4, 2, 0), exchange.ErrAgainstTally, "decision"},
	} {
		_, err := decide(g, c.approve, c.v)
		wantErr(t, c.name, err, c.want)
		wantField(t, c.name, err, c.field)
	}
	w.wantUnchanged(t, "decisions against the rules", before)
	if d, err := decide(g, true, votes(4, 2, 0)); err != nil || d.Status != exchange.GrantApproved || *d.Votes != *votes(4, 2, 0) {
		t.Fatalf("approving with exactly two thirds = %+v, %v", d, err)
	}
	if d, err := decide(w.request(t, w.rosa, w.riverside, w.riversideUSD, "10"), false, votes(3, 2, 1)); err != nil || d.Status != exchange.GrantRejected {
		t.Fatalf("rejecting 3-2-1 = %+v, %v", d, err)
	}
	w.verify(t)
}

// TestOnlyTheAdminChangesRulesAndEveryChangeIsRecorded.
func TestOnlyTheAdminChangesRulesAndEveryChangeIsRecorded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newFundWorld(t)
	ada := w.member(t, "Ada")
	w.join(t, w.network, ada, exchange.RoleAdmin)
	admin := w.principal(t, ada)
	rosa := w.principal(t, w.rosa)
	strict := exchange.FundRules{Quorum: 3, Majority: exchange.MajorityTwoThirds, SecondApprovalAbove: ptr(money("100"))}

	before := w.snapshot(t, fundTables...)
	_, _, err := w.ex.SetFundRules(ctx, w.niaP, w.fund.ID, strict, "the assembly voted it")
	wantErr(t, "a coordinator of the network changing the rules", err, exchange.ErrForbidden)
	_, _, err = w.ex.SetFundRules(ctx, rosa, w.fund.ID, strict, "the assembly voted it")
	wantErr(t, "a local coordinator changing the rules", err, exchange.ErrForbidden)
	_, _, err = w.ex.SetFundRules(ctx, admin, w.fund.ID, strict, " ")
	wantField(t, "a change without a reason", err, "reason")
	_, _, err = w.ex.SetFundRules(ctx, admin, w.fund.ID, exchange.FundRules{Quorum: -2, Majority: exchange.MajoritySimple}, "why not")
	wantField(t, "a negative quorum", err, "quorum")
	_, _, err = w.ex.SetFundRules(ctx, admin, uuid.New(), strict, "the assembly voted it")
	wantErr(t, "an unknown fund", err, exchange.ErrUnknownFund)
	w.wantUnchanged(t, "refused rule changes", before)

	w.clock.Advance(time.Hour)
	f, c, err := w.ex.SetFundRules(ctx, admin, w.fund.ID, strict, "the assembly voted it")
	if err != nil || !f.Rules.Equal(strict) || c.ChangedBy != ada.ID || !c.ChangedAt.Equal(w.clock.Now()) ||
		c.Reason != "the assembly voted it" || !c.Old.Equal(exchange.DefaultFundRules()) || !c.New.Equal(strict) {
		t.Fatalf("SetFundRules = %+v, %+v, %v", f, c, err)
	}
	if _, again, err := w.ex.SetFundRules(ctx, admin, w.fund.ID, strict, "again"); err != nil || again.ID != uuid.Nil {
		t.Errorf("setting the same rules again = %+v, %v; want no change recorded", again, err)
	}
	loose := exchange.FundRules{Quorum: 1, Majority: exchange.MajoritySimple}
	if _, _, err := w.ex.SetFundRules(ctx, admin, w.fund.ID, loose, "too strict"); err != nil {
		t.Fatal(err)
	}

	// The governors read the changes, oldest first; others may not.
	cs, next, err := w.ex.FundRuleChanges(ctx, w.niaP, w.fund.ID, exchange.Page{})
	if err != nil || len(cs) != 2 || next != uuid.Nil || cs[0].ID != c.ID || !cs[0].New.Equal(strict) ||
		!cs[1].Old.Equal(strict) || !cs[1].New.Equal(loose) || cs[1].Reason != "too strict" {
		t.Fatalf("FundRuleChanges = %+v, %v, %v", cs, next, err)
	}
	if page, next, err := w.ex.FundRuleChanges(ctx, admin, w.fund.ID, exchange.Page{Limit: 1}); err != nil || len(page) != 1 || next != cs[0].ID {
		t.Errorf("first page = %+v, %v, %v", page, next, err)
	}
	_, _, err = w.ex.FundRuleChanges(ctx, rosa, w.fund.ID, exchange.Page{})
	wantErr(t, "a local coordinator reading the changes", err, exchange.ErrForbidden)

	// Decisions follow the rules in force.
	g := w.request(t, w.rosa, w.riverside, w.riversideUSD, "10")
	_, err = w.ex.DecideGrant(ctx, w.niaP, exchange.GrantDecision{GrantID: g.ID, Approve: true})
	wantErr(t, "a decision without a tally after the quorum became 1", err, exchange.ErrQuorumNotReached)
}

// TestNobodyDecidesOrPaysTheirOwnRequest: the member who asked and the
// coordinators of the requesting organization may not decide or disburse
// it, even when they govern the fund; the admin may unless the admin asked.
func TestNobodyDecidesOrPaysTheirOwnRequest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newFundWorld(t)
	w.contribute(t, exchange.Contribution{Source: "Riverside Foundation", Amount: money("1000")})
	// Rosa coordinates Riverside and the network; so does Rui.
	w.join(t, w.network, w.rosa, exchange.RoleCoordinator)
	rui := w.member(t, "Rui")
	w.join(t, w.riverside, rui, exchange.RoleCoordinator)
	w.join(t, w.network, rui, exchange.RoleCoordinator)
	ada := w.member(t, "Ada")
	w.join(t, w.network, ada, exchange.RoleAdmin)
	rosa, ruiP, admin := w.principal(t, w.rosa), w.principal(t, rui), w.principal(t, ada)
	ana, hugo := w.principal(t, w.ana), w.principal(t, w.hugo)

	g := w.request(t, w.rosa, w.riverside, w.riversideUSD, "100")
	before := w.snapshot(t, fundTables...)
	decision := exchange.GrantDecision{GrantID: g.ID, Approve: true}
	for _, c := range []struct {
		name string
		p    exchange.Principal
		want error
	}{
		{"the requester, who governs the fund", rosa, exchange.ErrForbidden},
		{"a coordinator of the requesting organization who governs the fund", ruiP, exchange.ErrForbidden},
		{"a member of an organization under it", ana, exchange.ErrUnknownGrant},
		{"a coordinator of another organization", hugo, exchange.ErrUnknownGrant},
		{"no one", exchange.Principal{}, exchange.ErrUnauthenticated},
	} {
		_, err := w.ex.DecideGrant(ctx, c.p, decision)
		wantErr(t, c.name+" deciding", err, c.want)
	}
	w.wantUnchanged(t, "refused decisions", before)
	if _, err := w.ex.DecideGrant(ctx, w.niaP, decision); err != nil {
		t.Fatal(err)
	}
	before = w.snapshot(t, fundTables...)
	for _, p := range []exchange.Principal{rosa, ruiP} {
		_, _, err := w.ex.Disburse(ctx, p, g.ID)
		wantErr(t, "the requesting side disbursing", err, exchange.ErrForbidden)
		if err != nil && !strings.Contains(err.Error(), "another governor") {
			t.Errorf("the refusal does not say why: %v", err)
		}
	}
	w.wantUnchanged(t, "refused disbursements", before)
	if g, _, err := w.ex.Disburse(ctx, admin, g.ID); err != nil || g.Status != exchange.GrantDisbursed || *g.DisbursedBy != ada.ID {
		t.Fatalf("the admin disbursing = %+v, %v", g, err)
	}

	// The admin asks for Hilltop: the admin may not decide it, Nia may.
	own := w.request(t, ada, w.hilltop, w.hilltopUSD, "5")
	_, err := w.ex.DecideGrant(ctx, admin, exchange.GrantDecision{GrantID: own.ID, Approve: true})
	wantErr(t, "the admin deciding their own request", err, exchange.ErrForbidden)
	if _, err := w.ex.DecideGrant(ctx, w.niaP, exchange.GrantDecision{GrantID: own.ID, Approve: true}); err != nil {
		t.Fatal(err)
	}
	_, _, err = w.ex.Disburse(ctx, admin, own.ID)
	wantErr(t, "the admin disbursing their own request", err, exchange.ErrForbidden)
	// The admin coordinating the requesting organization still decides.
	w.join(t, w.riverside, ada, exchange.RoleCoordinator)
	admin = w.principal(t, ada)
	other := w.request(t, w.rosa, w.riverside, w.riversideUSD, "5")
	if _, err := w.ex.DecideGrant(ctx, admin, exchange.GrantDecision{GrantID: other.ID}); err != nil {
		t.Errorf("the admin, a coordinator of the requesting organization, deciding: %v", err)
	}
	w.verify(t)
}

// TestSecondApproval: above the fund's amount a disbursement takes two
// different governors; at or below it one pays at once.
func TestSecondApproval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newFundWorld(t)
	w.fund = w.fundWith(t, exchange.FundRules{Majority: exchange.MajoritySimple, SecondApprovalAbove: ptr(money("100"))})
	w.contribute(t, exchange.Contribution{Source: "Riverside Foundation", Amount: money("1000")})
	ned := w.member(t, "Ned")
	w.join(t, w.network, ned, exchange.RoleCoordinator)
	nedP, rosa := w.principal(t, ned), w.principal(t, w.rosa)

	small := w.approved(t, w.riverside, w.riversideUSD, "100")
	if g, m, err := w.ex.Disburse(ctx, w.niaP, small.ID); err != nil || g.Status != exchange.GrantDisbursed || m.TransferID == uuid.Nil || g.FirstApprovedBy != nil {
		t.Fatalf("disbursing at the threshold = %+v, %+v, %v", g, m, err)
	}
	w.wantBalance(t, "fund after the small grant", w.fund.AccountID, "900")

	big := w.approved(t, w.riverside, w.riversideUSD, "100.01")
	w.clock.Advance(time.Minute)
	g, m, err := w.ex.Disburse(ctx, w.niaP, big.ID)
	if err != nil || g.Status != exchange.GrantAwaitingSecondApproval || g.FirstApprovedBy == nil || *g.FirstApprovedBy != w.nia.ID ||
		g.FirstApprovedAt == nil || !g.FirstApprovedAt.Equal(w.clock.Now()) || m.ID != uuid.Nil || g.TransferID != nil {
		t.Fatalf("first approval = %+v, %+v, %v", g, m, err)
	}
	w.wantBalance(t, "fund after the first approval", w.fund.AccountID, "900")
	before := w.snapshot(t, fundTables...)
	_, _, err = w.ex.Disburse(ctx, w.niaP, big.ID)
	wantErr(t, "the same governor twice", err, exchange.ErrForbidden)
	_, _, err = w.ex.Disburse(ctx, rosa, big.ID)
	wantErr(t, "the requester as second governor", err, exchange.ErrForbidden)
	_, err = w.ex.DecideGrant(ctx, nedP, exchange.GrantDecision{GrantID: big.ID, Approve: false})
	wantErr(t, "deciding a grant awaiting its second approval", err, exchange.ErrGrantStatus)
	w.wantUnchanged(t, "refused second approvals", before)

	g, m, err = w.ex.Disburse(ctx, nedP, big.ID)
	if err != nil || g.Status != exchange.GrantDisbursed || g.DisbursedBy == nil || *g.DisbursedBy != ned.ID ||
		*g.FirstApprovedBy != w.nia.ID || m.TransferID == uuid.Nil || *g.TransferID != m.TransferID {
		t.Fatalf("second approval = %+v, %+v, %v", g, m, err)
	}
	w.wantBalance(t, "fund after the second approval", w.fund.AccountID, "799.99")
	_, _, err = w.ex.Disburse(ctx, w.niaP, big.ID)
	wantErr(t, "disbursing a paid grant", err, exchange.ErrGrantStatus)

	// The schema refuses one governor in both roles, and an awaiting grant
	// without its first approval.
	var pgErr *pgconn.PgError
	_, err = w.pool.Exec(ctx, `UPDATE grant_requests SET disbursed_by = first_approved_by WHERE id = $1`, big.ID)
	if !errors.As(err, &pgErr) || pgErr.Code != "23514" {
		t.Errorf("one governor approving twice: err = %v, want a check violation", err)
	}
	other := w.approved(t, w.riverside, w.riversideUSD, "200")
	_, err = w.pool.Exec(ctx, `UPDATE grant_requests SET status = 'awaiting_second_approval' WHERE id = $1`, other.ID)
	if !errors.As(err, &pgErr) || pgErr.Code != "23514" {
		t.Errorf("awaiting without a first approval: err = %v, want a check violation", err)
	}
	w.verify(t)
}

// TestTwoGovernorsRacingPayOnce races disbursements of one grant above the
// second-approval amount by two governors: exactly one records the first
// approval and exactly one, by the other governor, pays.
func TestTwoGovernorsRacingPayOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newFundWorld(t)
	w.fund = w.fundWith(t, exchange.FundRules{Majority: exchange.MajoritySimple, SecondApprovalAbove: ptr(money("100"))})
	w.contribute(t, exchange.Contribution{Source: "Riverside Foundation", Amount: money("1000")})
	ned := w.member(t, "Ned")
	w.join(t, w.network, ned, exchange.RoleCoordinator)
	governors := []exchange.Principal{w.niaP, w.principal(t, ned)}
	g := w.approved(t, w.riverside, w.riversideUSD, "400")

	const n = 8
	type result struct {
		by  uuid.UUID
		g   exchange.Grant
		err error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := governors[i%2]
			<-start
			got, _, err := w.ex.Disburse(ctx, p, g.ID)
			results[i] = result{p.MemberID, got, err}
		}()
	}
	close(start)
	wg.Wait()
	var first, paid []result
	for _, r := range results {
		switch {
		case r.err == nil && r.g.Status == exchange.GrantAwaitingSecondApproval:
			first = append(first, r)
		case r.err == nil && r.g.Status == exchange.GrantDisbursed:
			paid = append(paid, r)
		case !errors.Is(r.err, exchange.ErrGrantStatus) && !errors.Is(r.err, exchange.ErrForbidden):
			t.Errorf("a racing disbursement failed with %v", r.err)
		}
	}
	if len(first) != 1 || len(paid) != 1 || first[0].by == paid[0].by {
		t.Fatalf("first approvals %+v, payments %+v: want one of each, by two governors", first, paid)
	}
	w.wantBalance(t, "fund", w.fund.AccountID, "600")
	w.wantBalance(t, "Riverside", w.riversideUSD, "400")
	if m := w.count(t, "fund_movements"); m != 2 {
		t.Errorf("%d movements, want 2 (one in, one out)", m)
	}
	w.verify(t)
}

// TestVerifyFindsAnOutflowOfAGrantAwaitingItsSecondApproval breaks the
// books behind the store's back: a grant awaiting its second approval that
// has an outflow in the fund's book is reported.
func TestVerifyFindsAnOutflowOfAGrantAwaitingItsSecondApproval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newFundWorld(t)
	w.contribute(t, exchange.Contribution{Source: "Riverside Foundation", Amount: money("1000")})
	paid := w.approved(t, w.riverside, w.riversideUSD, "10")
	if _, _, err := w.ex.Disburse(ctx, w.niaP, paid.ID); err != nil {
		t.Fatal(err)
	}
	w.verify(t)
	// Rewind it to awaiting a second approval, its outflow left in place.
	if _, err := w.pool.Exec(ctx, `UPDATE grant_requests SET status = 'awaiting_second_approval', transfer_id = NULL,
    first_approved_by = $2, first_approved_at = decided_at, disbursed_by = NULL WHERE id = $1`, paid.ID, w.nia.ID); err != nil {
		t.Fatal(err)
	}
	problems, err := w.ex.Verify(ctx)
	if err != nil || len(problems) != 1 || !strings.Contains(problems[0], paid.ID.String()) || !strings.Contains(problems[0], "awaiting_second_approval") {
		t.Errorf("Verify = %v, %v; want the grant's outflow reported", problems, err)
	}
}
