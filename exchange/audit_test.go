package exchange_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

// recorded is one audit row as stored.
type recorded struct {
	id, actor, onBehalf, credID, subject, org, member *uuid.UUID
	credential                                        string
}

// events returns the audit rows of kind (and subject, unless nil), oldest
// first.
func events(t testing.TB, pool *pgxpool.Pool, kind string, subject *uuid.UUID) []recorded {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
SELECT id, actor_id, on_behalf_of, credential, credential_id, subject_id, org_id, member_id FROM audit_events
WHERE kind = $1 AND ($2::UUID IS NULL OR subject_id = $2) ORDER BY id`, kind, subject)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []recorded
	for rows.Next() {
		var r recorded
		if err := rows.Scan(&r.id, &r.actor, &r.onBehalf, &r.credential, &r.credID, &r.subject, &r.org, &r.member); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func is(id *uuid.UUID, want uuid.UUID) bool { return id != nil && *id == want }

// wantActor checks that exactly one event of kind names subject (when not
// uuid.Nil; otherwise the newest of kind is checked) and records p as its
// actor, with p's credential.
func wantActor(t testing.TB, pool *pgxpool.Pool, kind string, subject uuid.UUID, p exchange.Principal) {
	t.Helper()
	var s *uuid.UUID
	if subject != uuid.Nil {
		s = &subject
	}
	evs := events(t, pool, kind, s)
	if len(evs) == 0 || (s != nil && len(evs) != 1) {
		t.Errorf("%s of %s: %d events, want 1", kind, subject, len(evs))
		return
	}
	ev := evs[len(evs)-1]
	actor, onBehalf := p.MemberID, uuid.Nil
	if p.Agent != uuid.Nil {
		actor, onBehalf = p.Agent, p.MemberID
	}
	switch {
	case !is(ev.actor, actor):
		t.Errorf("%s: actor %v, want %s", kind, ev.actor, actor)
	case onBehalf == uuid.Nil && ev.onBehalf != nil, onBehalf != uuid.Nil && !is(ev.onBehalf, onBehalf):
		t.Errorf("%s: on behalf of %v, want %s", kind, ev.onBehalf, onBehalf)
	case ev.credential != string(p.Credential):
		t.Errorf("%s: credential %q, want %q", kind, ev.credential, p.Credential)
	case p.CredentialID != uuid.Nil && !is(ev.credID, p.CredentialID):
		t.Errorf("%s: credential id %v, want %s", kind, ev.credID, p.CredentialID)
	}
}

// TestEveryWritePathRecordsItsActor runs each write of the exchange as a
// principal authenticated with a real token and checks that one audit
// event of its kind names the principal and the token.
func TestEveryWritePathRecordsItsActor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	w := newWorld(t, e)
	if _, err := e.led.CreateTransfer(ctx, ledger.TransferRequest{Postings: []ledger.Posting{
		{From: w.externalAcct.ID, To: w.memberAcct.ID, Amount: money("100"), Unit: "HOUR"},
		{From: w.externalAcct.ID, To: w.localAcct.ID, Amount: money("100"), Unit: "HOUR"}}}); err != nil {
		t.Fatal(err)
	}
	pay := func(from, to uuid.UUID, pending bool) ledger.TransferRequest {
		return ledger.TransferRequest{Postings: []ledger.Posting{{From: from, To: to, Amount: money("1"), Unit: "HOUR"}}, Pending: pending}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	var fund exchange.Fund
	var grant exchange.Grant
	var inv exchange.Invitation
	var code string
	var newcomer exchange.Member
	soon := e.clock.Now().Add(24 * time.Hour)
	listing := exchange.NewListing{OrgID: w.timebank.ID, Owner: w.owner.MemberID, Kind: exchange.Offer, Title: "Soup",
		Category: "food", Quantity: money("1"), Start: soon, End: soon.Add(time.Hour)}
	var posted exchange.Listing
	cases := []struct {
		kind string
		p    exchange.Principal
		do   func() uuid.UUID // the subject, or uuid.Nil to check the newest event of the kind
	}{
		{"transfer.created", w.owner, func() uuid.UUID {
			tr, err := e.ex.Transfer(ctx, w.owner, pay(w.memberAcct.ID, w.orgAcct.ID, false))
			must(err)
			return tr.ID
		}},
		{"transfer.created", w.coordAnc, func() uuid.UUID {
			res, err := e.ex.Transfers(ctx, w.coordAnc, []ledger.TransferRequest{pay(w.localAcct.ID, w.orgAcct.ID, false)}, false)
			must(err)
			return res[0].Transfer.ID
		}},
		{"hold.created", w.owner, func() uuid.UUID {
			h, err := e.ex.Transfer(ctx, w.owner, pay(w.memberAcct.ID, w.orgAcct.ID, true))
			must(err)
			return h.ID
		}},
		{"hold.posted", w.owner, func() uuid.UUID {
			h, err := e.ex.Transfer(ctx, w.owner, pay(w.memberAcct.ID, w.orgAcct.ID, true))
			must(err)
			_, err = e.ex.PostHold(ctx, w.owner, h.ID, ledger.PostRequest{})
			must(err)
			return h.ID
		}},
		{"hold.voided", w.owner, func() uuid.UUID {
			h, err := e.ex.Transfer(ctx, w.owner, pay(w.memberAcct.ID, w.orgAcct.ID, true))
			must(err)
			_, err = e.ex.VoidHold(ctx, w.owner, h.ID)
			must(err)
			return h.ID
		}},
		{"transfer.reversed", w.admin, func() uuid.UUID {
			tr, err := e.ex.Transfer(ctx, w.owner, pay(w.memberAcct.ID, w.orgAcct.ID, false))
			must(err)
			r, err := e.ex.Reverse(ctx, w.admin, tr.ID, ledger.ReverseRequest{})
			must(err)
			return r.ID
		}},
		{"unit.created", w.admin, func() uuid.UUID {
			_, err := e.ex.CreateUnit(ctx, w.admin, ledger.Unit{Code: "MEAL", Scale: 0})
			must(err)
			return uuid.Nil
		}},
		{"account.opened", w.coordOwn, func() uuid.UUID {
			a, err := e.ex.OpenAccount(ctx, w.coordOwn, ledger.NewAccount{Unit: "HOUR", Owner: exchange.OrgOwner(w.timebank.ID), Kind: ledger.KindOrganization}, uuid.Nil)
			must(err)
			return a.ID
		}},
		{"category.created", w.admin, func() uuid.UUID {
			_, err := e.ex.CreateCategory(ctx, w.admin, exchange.Category{Code: "bees", Name: "Bees"})
			must(err)
			return uuid.Nil
		}},
		{"org.created", w.coordAnc, func() uuid.UUID {
			o, err := e.ex.AddOrg(ctx, w.coordAnc, exchange.NewOrg{ParentID: &w.local.ID, Name: "Garden", Kind: exchange.KindCouncil})
			must(err)
			return o.ID
		}},
		{"timebank.rules_set", w.coordOwn, func() uuid.UUID {
			_, _, err := e.ex.SetTimebankRules(ctx, w.coordOwn, w.timebank.ID, exchange.TimebankSettings{CreditLimit: money("10")})
			must(err)
			return w.timebank.ID
		}},
		{"timebank.rules_changed", w.coordAnc, func() uuid.UUID {
			_, _, err := e.ex.SetTimebankRules(ctx, w.coordAnc, w.timebank.ID, exchange.TimebankSettings{CreditLimit: money("12")})
			must(err)
			return w.timebank.ID
		}},
		{"member.admitted", w.coordOwn, func() uuid.UUID {
			var err error
			newcomer, _, _, err = e.ex.Admit(ctx, w.coordOwn, w.timebank.ID, exchange.Admission{New: exchange.NewMember{Name: "Newcomer"}, Role: exchange.RoleMember})
			must(err)
			return newcomer.ID
		}},
		{"member.role_changed", w.coordAnc, func() uuid.UUID {
			_, _, _, err := e.ex.Admit(ctx, w.coordAnc, w.timebank.ID, exchange.Admission{MemberID: newcomer.ID, Role: exchange.RoleCoordinator})
			must(err)
			return newcomer.ID
		}},
		{"timebank.donation", w.owner, func() uuid.UUID {
			tr, err := e.ex.DonateHours(ctx, w.owner, exchange.TimebankMove{OrgID: w.timebank.ID, Account: w.memberAcct.ID, Amount: money("2")})
			must(err)
			return tr.ID
		}},
		{"timebank.grant", w.coordOwn, func() uuid.UUID {
			tr, err := e.ex.GrantHours(ctx, w.coordOwn, exchange.TimebankMove{OrgID: w.timebank.ID, MemberID: w.owner.MemberID, Account: w.memberAcct.ID, Amount: money("1")})
			must(err)
			return tr.ID
		}},
		{"token.created", w.coordOwn, func() uuid.UUID {
			tok, _, err := e.ex.CreateToken(ctx, w.coordOwn, w.owner.MemberID, "phone", nil)
			must(err)
			return tok.ID
		}},
		{"token.revoked", w.coordOwn, func() uuid.UUID {
			tok, _, err := e.ex.CreateToken(ctx, w.owner, w.owner.MemberID, "old phone", nil)
			must(err)
			_, err = e.ex.RevokeToken(ctx, w.coordOwn, tok.ID)
			must(err)
			return tok.ID
		}},
		{"signin_code.issued", w.coordOwn, func() uuid.UUID {
			c, secret, err := e.ex.IssueSigninCode(ctx, w.coordOwn, w.other.MemberID)
			must(err)
			code = secret
			return c.ID
		}},
		{"session.ended_all", w.coordOwn, func() uuid.UUID {
			if _, _, err := e.ex.SignInWithCode(ctx, w.other.MemberID, code, "192.0.2.1"); err != nil {
				t.Fatal(err)
			}
			_, err := e.ex.EndSessions(ctx, w.coordOwn, w.other.MemberID)
			must(err)
			return w.other.MemberID
		}},
		{"invitation.created", w.coordOwn, func() uuid.UUID {
			var err error
			inv, _, _, err = e.ex.Invite(ctx, w.coordOwn, exchange.NewInvitation{OrgID: w.timebank.ID, Role: exchange.RoleMember})
			must(err)
			return inv.ID
		}},
		{"invitation.revoked", w.coordAnc, func() uuid.UUID {
			_, err := e.ex.RevokeInvitation(ctx, w.coordAnc, w.timebank.ID, inv.ID)
			must(err)
			return inv.ID
		}},
		{"listing.created", w.owner, func() uuid.UUID {
			var err error
			posted, err = e.ex.PostListing(ctx, w.owner, listing)
			must(err)
			return posted.ID
		}},
		{"listing.withdrawn", w.coordOwn, func() uuid.UUID {
			_, err := e.ex.WithdrawListing(ctx, w.coordOwn, posted.ID)
			must(err)
			return posted.ID
		}},
		{"fund.created", w.admin, func() uuid.UUID {
			var err error
			fund, err = e.ex.CreateFund(ctx, w.admin, exchange.NewFund{OrgID: w.local.ID, Name: "Hours fund", Unit: "HOUR"})
			must(err)
			return fund.ID
		}},
		{"fund.contributed", w.coordAnc, func() uuid.UUID {
			m, err := e.ex.Contribute(ctx, w.coordAnc, exchange.Contribution{FundID: fund.ID, From: w.localAcct.ID, Amount: money("20")})
			must(err)
			return m.TransferID
		}},
		{"grant.requested", w.coordOwn, func() uuid.UUID {
			var err error
			grant, err = e.ex.RequestGrant(ctx, w.coordOwn, exchange.NewGrant{FundID: fund.ID, OrgID: w.timebank.ID, Amount: money("5"), Purpose: "Tools", ToAccount: w.orgAcct.ID})
			must(err)
			return grant.ID
		}},
		{"grant.approved", w.admin, func() uuid.UUID {
			_, err := e.ex.DecideGrant(ctx, w.admin, exchange.GrantDecision{GrantID: grant.ID, Approve: true})
			must(err)
			return grant.ID
		}},
		{"grant.disbursed", w.admin, func() uuid.UUID {
			_, _, err := e.ex.Disburse(ctx, w.admin, grant.ID)
			must(err)
			return grant.ID
		}},
		{"fund.rules_changed", w.admin, func() uuid.UUID {
			_, _, err := e.ex.SetFundRules(ctx, w.admin, fund.ID, exchange.FundRules{Quorum: 3, Majority: exchange.MajoritySimple}, "more voices")
			must(err)
			return fund.ID
		}},
	}
	for _, c := range cases {
		subject := c.do()
		wantActor(t, e.pool, c.kind, subject, c.p)
	}
	// A coordinator removing a member, and a member leaving.
	if _, err := e.ex.Leave(ctx, w.coordOwn, w.timebank.ID, newcomer.ID); err != nil {
		t.Fatal(err)
	}
	wantActor(t, e.pool, "member.removed", newcomer.ID, w.coordOwn)

	// Signing in with a code records the member, with the code as the
	// credential.
	evs := events(t, e.pool, "session.signed_in", nil)
	if len(evs) != 1 || !is(evs[0].actor, w.other.MemberID) || evs[0].credential != "signin_code" || evs[0].credID == nil {
		t.Errorf("sign-in events: %+v", evs)
	}
	// Accepting an invitation records the new member, with the invitation.
	inv2, _, code2, err := e.ex.Invite(ctx, w.coordOwn, exchange.NewInvitation{OrgID: w.timebank.ID, Role: exchange.RoleMember})
	must(err)
	acc, err := e.ex.AcceptInvitation(ctx, exchange.Acceptance{Code: code2, Name: "Joiner", Address: "192.0.2.2"})
	must(err)
	evs = events(t, e.pool, "invitation.accepted", &inv2.ID)
	if len(evs) != 1 || !is(evs[0].actor, acc.Member.ID) || evs[0].credential != "invitation" || !is(evs[0].credID, inv2.ID) {
		t.Errorf("acceptance events: %+v", evs)
	}
	if evs := events(t, e.pool, "member.admitted", &acc.Member.ID); len(evs) != 1 || !is(evs[0].actor, acc.Member.ID) {
		t.Errorf("the joiner's admission: %+v", evs)
	}
	// Refused writes record nothing.
	before := e.count(t, "audit_events")
	if _, err := e.ex.Transfer(ctx, w.other, pay(w.memberAcct.ID, w.orgAcct.ID, false)); err == nil {
		t.Fatal("another member moved the owner's hours")
	}
	if _, err := e.ex.Transfer(ctx, w.owner, ledger.TransferRequest{Postings: []ledger.Posting{
		{From: w.memberAcct.ID, To: w.orgAcct.ID, Amount: money("100000"), Unit: "HOUR"}}}); !errors.Is(err, ledger.ErrInsufficientFunds) {
		t.Fatalf("overdraft: %v", err)
	}
	if n := e.count(t, "audit_events"); n != before {
		t.Errorf("refused writes recorded %d events", n-before)
	}
}

// TestAgreementAndTradeStepsRecordTheirActor walks an agreement and a
// trade, an obligation and a clearing credit line through their steps.
func TestAgreementAndTradeStepsRecordTheirActor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newAgreementWorld(t)
	a := w.agree(t, "2", false, nil)
	wantActor(t, w.pool, "agreement.proposed", a.ID, w.pBen)
	if _, err := w.ex.AcceptAgreement(ctx, w.pAna, a.ID, nil); err != nil {
		t.Fatal(err)
	}
	wantActor(t, w.pool, "agreement.accepted", a.ID, w.pAna)
	// Accepting again changes nothing and records nothing.
	if _, err := w.ex.AcceptAgreement(ctx, w.pAna, a.ID, nil); err != nil {
		t.Fatal(err)
	}
	wantActor(t, w.pool, "agreement.accepted", a.ID, w.pAna)
	if _, err := w.ex.DisputeAgreement(ctx, w.pBen, a.ID, "did not come"); err != nil {
		t.Fatal(err)
	}
	wantActor(t, w.pool, "agreement.disputed", a.ID, w.pBen)
	if _, err := w.ex.ResolveAgreement(ctx, w.pTess, a.ID, dec("1"), "came late"); err != nil {
		t.Fatal(err)
	}
	wantActor(t, w.pool, "agreement.resolved", a.ID, w.pTess)
	b := w.agree(t, "1", true, nil)
	for _, p := range []exchange.Principal{w.pBen, w.pAna} {
		if _, err := w.ex.ConfirmAgreement(ctx, p, b.ID, dec("1")); err != nil {
			t.Fatal(err)
		}
	}
	if evs := events(t, w.pool, "agreement.confirmed", &b.ID); len(evs) != 2 || !is(evs[0].actor, w.ben.ID) || !is(evs[1].actor, w.ana.ID) {
		t.Errorf("confirmations: %+v", evs)
	}
	c := w.agree(t, "1", false, nil)
	if _, err := w.ex.CancelAgreement(ctx, w.pAna, c.ID, ""); err != nil {
		t.Fatal(err)
	}
	wantActor(t, w.pool, "agreement.cancelled", c.ID, w.pAna)
	// Expiry is the server's own work.
	d := w.agree(t, "1", true, ptr(w.clock.Now().Add(time.Hour)))
	w.clock.Advance(2 * time.Hour)
	if n, err := w.ex.ExpireAgreements(ctx, 10); err != nil || n != 1 {
		t.Fatalf("expiring: %d, %v", n, err)
	}
	if evs := events(t, w.pool, "agreement.expired", &d.ID); len(evs) != 1 || evs[0].actor != nil || evs[0].credential != "system" {
		t.Errorf("expiry: %+v", evs)
	}
	w.verify(t)

	tw := newTradeWorld(t)
	tr := tw.propose(t, tw.produceForMoney("10", "20"))
	wantActor(t, tw.pool, "trade.proposed", tr.ID, tw.coordA)
	if _, err := tw.ex.AcceptTrade(ctx, tw.coordB, tr.ID); err != nil {
		t.Fatal(err)
	}
	wantActor(t, tw.pool, "trade.accepted", tr.ID, tw.coordB)
	tr2 := tw.propose(t, tw.produceForMoney("1", "2"))
	if _, err := tw.ex.DeclineTrade(ctx, tw.coordB, tr2.ID); err != nil {
		t.Fatal(err)
	}
	wantActor(t, tw.pool, "trade.declined", tr2.ID, tw.coordB)
	tr3 := tw.propose(t, tw.produceForMoney("1", "2"))
	if _, err := tw.ex.CancelTrade(ctx, tw.coordA, tr3.ID); err != nil {
		t.Fatal(err)
	}
	wantActor(t, tw.pool, "trade.cancelled", tr3.ID, tw.coordA)
	o := tw.owes(t, tw.coordC, tw.cUSD, tw.b, exchange.Principal{}, "30", "INV-9")
	wantActor(t, tw.pool, "obligation.recorded", o.ID, tw.coordC)
	if _, err := tw.ex.ConfirmObligation(ctx, tw.coordB, o.ID); err != nil {
		t.Fatal(err)
	}
	wantActor(t, tw.pool, "obligation.confirmed", o.ID, tw.coordB)
	if _, err := tw.ex.PayObligation(ctx, tw.coordB, o.ID, tw.bUSD, num("10")); err != nil {
		t.Fatal(err)
	}
	wantActor(t, tw.pool, "obligation.paid", o.ID, tw.coordB)
	if _, err := tw.ex.SetClearingCreditLine(ctx, tw.coordB, tw.b.ID, tw.bUSD); err != nil {
		t.Fatal(err)
	}
	wantActor(t, tw.pool, "clearing.credit_line_set", tw.bUSD, tw.coordB)
	tw.verify(t)
}

// TestConcurrentWritesRecordOneEventEach races transfers (some repeating
// an idempotency key), acceptances of one agreement and revocations of one
// token, and checks that each write that happened has exactly one event
// and nothing else has any.
func TestConcurrentWritesRecordOneEventEach(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newAgreementWorld(t)
	const n = 24
	var wg sync.WaitGroup
	// Transfers: 24 goroutines, in pairs that share an idempotency key.
	ids := make([]uuid.UUID, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("race-%d", i-i%2)
			tr, err := w.ex.Transfer(ctx, w.pAna, ledger.TransferRequest{IdempotencyKey: key,
				Postings: []ledger.Posting{{From: w.hours[w.ana.ID], To: w.hours[w.ben.ID], Amount: dec("0.25"), Unit: "HOUR"}}})
			ids[i], errs[i] = tr.ID, err
		}()
	}
	// Acceptances of one proposal by Ana, at once.
	a := w.agree(t, "1", false, nil)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := w.ex.AcceptAgreement(ctx, w.pAna, a.ID, nil); err != nil {
				t.Error(err)
			}
		}()
	}
	// Revocations of one token.
	tok, _, err := w.ex.CreateToken(ctx, w.pBen, w.ben.ID, "spare", nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := w.ex.RevokeToken(ctx, w.pBen, tok.ID); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	distinct := map[uuid.UUID]bool{}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("transfer %d: %v", i, err)
		}
		distinct[ids[i]] = true
	}
	if len(distinct) != n/2 {
		t.Errorf("%d distinct transfers, want %d", len(distinct), n/2)
	}
	evs := events(t, w.pool, "transfer.created", nil)
	if len(evs) != len(distinct) {
		t.Errorf("%d transfer events for %d transfers", len(evs), len(distinct))
	}
	for _, ev := range evs {
		if ev.subject == nil || !distinct[*ev.subject] {
			t.Errorf("an event names transfer %v, which no request made", ev.subject)
		}
		delete(distinct, *ev.subject)
	}
	if got := len(events(t, w.pool, "agreement.accepted", &a.ID)); got != 1 {
		t.Errorf("%d acceptance events, want 1", got)
	}
	if got := len(events(t, w.pool, "token.revoked", &tok.ID)); got != 1 {
		t.Errorf("%d revocation events, want 1", got)
	}
	w.verify(t)
}

// TestActingForAMember: the time bank's coordinator posts a listing,
// accepts and confirms an agreement and gives hours for Ana, who has no
// device; each action is checked as Ana's and recorded with both people;
// Ana sees them in her history. Nobody acts for someone outside their
// subtree, a plain member acts for nobody, and acting for someone lends no
// right of the coordinator's own.
func TestActingForAMember(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newAgreementWorld(t)
	// Tess coordinates Oaxaca (Ana's and Ben's time bank); Cleo is in
	// Montréal.
	forAna, err := w.ex.ActFor(ctx, w.pTess, w.ana.ID)
	if err != nil {
		t.Fatal(err)
	}
	if forAna.MemberID != w.ana.ID || forAna.Agent != w.tess.ID || forAna.CredentialID != w.pTess.CredentialID {
		t.Fatalf("acting principal: %+v", forAna)
	}
	in := w.need()
	in.Owner = w.ana.ID
	need, err := w.ex.PostListing(ctx, forAna, in)
	if err != nil {
		t.Fatal(err)
	}
	wantActor(t, w.pool, "listing.created", need.ID, forAna)
	offer := w.listing(t, w.ben, exchange.Offer, "1.5")
	ag, err := w.ex.ProposeAgreement(ctx, w.pBen, exchange.NewAgreement{OfferID: offer.ID, NeedID: need.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.ex.AcceptAgreement(ctx, forAna, ag.ID, nil); err != nil {
		t.Fatal(err)
	}
	wantActor(t, w.pool, "agreement.accepted", ag.ID, forAna)
	if _, err := w.ex.ConfirmAgreement(ctx, forAna, ag.ID, dec("1.5")); err != nil {
		t.Fatal(err)
	}
	wantActor(t, w.pool, "agreement.confirmed", ag.ID, forAna)
	gift, err := w.ex.Transfer(ctx, forAna, ledger.TransferRequest{Postings: []ledger.Posting{
		{From: w.hours[w.ana.ID], To: w.hours[w.dan.ID], Amount: dec("0.5"), Unit: "HOUR"}}})
	if err != nil {
		t.Fatal(err)
	}
	wantActor(t, w.pool, "transfer.created", gift.ID, forAna)

	// Ana's history shows what was done for her, with both people.
	hist, _, err := w.ex.MemberAudit(ctx, w.pAna, w.ana.ID, exchange.AuditFilter{}, exchange.Page{})
	if err != nil {
		t.Fatal(err)
	}
	done := map[string]bool{}
	for _, ev := range hist {
		if ev.OnBehalfOf == w.ana.ID && ev.Actor == w.tess.ID {
			done[ev.Kind] = true
		}
	}
	for _, k := range []string{"listing.created", "agreement.accepted", "agreement.confirmed", "transfer.created"} {
		if !done[k] {
			t.Errorf("Ana's history lacks %s done for her by Tess: %v", k, done)
		}
	}

	// Acting for Ana lends Tess nothing of her own: a coordinator may
	// read Ana's account but not move out of it as herself.
	if _, err := w.ex.Transfer(ctx, w.pTess, ledger.TransferRequest{Postings: []ledger.Posting{
		{From: w.hours[w.ana.ID], To: w.hours[w.dan.ID], Amount: dec("0.5"), Unit: "HOUR"}}}); !errors.Is(err, exchange.ErrForbidden) {
		t.Errorf("Tess moving Ana's hours as herself: %v, want forbidden", err)
	}
	// ... and acting for Ana, Tess cannot do what Ana cannot: resolve a
	// dispute, or erase Ana.
	if _, err := w.ex.EraseMember(ctx, forAna, w.ana.ID); !errors.Is(err, exchange.ErrForbidden) {
		t.Errorf("erasing on Ana's behalf: %v, want forbidden", err)
	}
	tessOrg := w.oaxaca.ID
	if _, _, err := w.ex.SetTimebankRules(ctx, forAna, tessOrg, exchange.TimebankSettings{CreditLimit: dec("1")}); !errors.Is(err, exchange.ErrForbidden) {
		t.Errorf("setting rules on Ana's behalf: %v, want forbidden", err)
	}

	// Refusals.
	for _, c := range []struct {
		name string
		p    exchange.Principal
		for_ uuid.UUID
	}{
		{"a coordinator for someone outside her subtree", w.pTess, w.cleo.ID},
		{"a plain member for another", w.pBen, w.ana.ID},
		{"a plain member for a stranger", w.pCleo, w.ana.ID},
		{"a coordinator for a member who does not exist", w.pTess, uuid.New()},
		{"someone already acting for another", forAna, w.ben.ID},
	} {
		if _, err := w.ex.ActFor(ctx, c.p, c.for_); !errors.Is(err, exchange.ErrForbidden) {
			t.Errorf("%s: %v, want forbidden", c.name, err)
		}
	}
	// A coordinator of another organization in the subtree may not be acted
	// for: it would lend Tess a role she does not hold.
	boss := w.member(t, "Bo")
	w.join(t, w.oaxaca, boss, exchange.RoleMember)
	w.join(t, w.montreal, boss, exchange.RoleCoordinator)
	if _, err := w.ex.ActFor(ctx, w.pTess, boss.ID); !errors.Is(err, exchange.ErrForbidden) {
		t.Errorf("acting for a coordinator of Montréal: %v, want forbidden", err)
	}
	w.verify(t)
}

// TestOrgAuditFiltersPagesAndWhoMaySee lists the log of a time bank by
// member, kind, family and time, page by page, as its coordinator, the
// one above, a stranger coordinator and the admin.
func TestOrgAuditFiltersPagesAndWhoMaySee(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	w := newWorld(t, e)
	if _, err := e.led.CreateTransfer(ctx, ledger.TransferRequest{Postings: []ledger.Posting{
		{From: w.externalAcct.ID, To: w.memberAcct.ID, Amount: money("100"), Unit: "HOUR"}}}); err != nil {
		t.Fatal(err)
	}
	start := e.clock.Now()
	for i := range 5 {
		if _, err := e.ex.Transfer(ctx, w.owner, ledger.TransferRequest{Postings: []ledger.Posting{
			{From: w.memberAcct.ID, To: w.orgAcct.ID, Amount: money("1"), Unit: "HOUR"}}}); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			e.clock.Advance(time.Hour)
		}
	}
	if _, _, err := e.ex.SetTimebankRules(ctx, w.coordOwn, w.timebank.ID, exchange.TimebankSettings{CreditLimit: money("5")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ex.CreateUnit(ctx, w.admin, ledger.Unit{Code: "MEAL"}); err != nil {
		t.Fatal(err)
	}
	// A transfer in the co-op's part of the tree, not the time bank's.
	coopAcct, err := e.ex.OpenAccount(ctx, w.coordOther, ledger.NewAccount{Unit: "HOUR", Owner: exchange.OrgOwner(w.coop.ID), Kind: ledger.KindOrganization, LowerBound: ptr(decimal.Zero)}, uuid.Nil)
	if err != nil {
		t.Fatal(err)
	}

	all := func(p exchange.Principal, org uuid.UUID, f exchange.AuditFilter, limit int) []exchange.AuditEvent {
		t.Helper()
		var out []exchange.AuditEvent
		pg := exchange.Page{Limit: limit}
		for range 100 {
			evs, next, err := e.ex.OrgAudit(ctx, p, org, f, pg)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) > limit {
				t.Fatalf("a page of %d, limit %d", len(evs), limit)
			}
			out = append(out, evs...)
			if next == uuid.Nil {
				return out
			}
			pg.After = next
		}
		t.Fatal("pages never end")
		return nil
	}
	kinds := func(evs []exchange.AuditEvent) map[string]int {
		m := map[string]int{}
		for _, ev := range evs {
			m[ev.Kind]++
		}
		return m
	}
	// The coordinator sees the owner's transfers and the rules, page by
	// page of 2, each once, oldest first; not the unit nor the co-op.
	evs := all(w.coordOwn, w.timebank.ID, exchange.AuditFilter{}, 2)
	seen := map[uuid.UUID]bool{}
	for i, ev := range evs {
		if seen[ev.ID] {
			t.Errorf("event %s listed twice", ev.ID)
		}
		seen[ev.ID] = true
		if i > 0 && ev.ID.String() < evs[i-1].ID.String() {
			t.Errorf("events out of order")
		}
	}
	k := kinds(evs)
	if k["transfer.created"] != 5 || k["timebank.rules_set"] != 1 || k["unit.created"] != 0 || k["account.opened"] != 0 {
		t.Errorf("the time bank's log: %v", k)
	}
	// Filters.
	if got := all(w.coordOwn, w.timebank.ID, exchange.AuditFilter{Kind: "transfer.created"}, 50); len(got) != 5 {
		t.Errorf("by kind: %d events, want 5", len(got))
	}
	if got := kinds(all(w.coordOwn, w.timebank.ID, exchange.AuditFilter{Kind: "timebank"}, 50)); len(got) != 1 || got["timebank.rules_set"] != 1 {
		t.Errorf("by family: %v", got)
	}
	// The owner's: five transfers, their admission and their test token;
	// the coordinator's: the rules they set, their admission and token.
	if got := kinds(all(w.coordOwn, w.timebank.ID, exchange.AuditFilter{Member: w.owner.MemberID}, 50)); len(got) != 3 ||
		got["transfer.created"] != 5 || got["member.admitted"] != 1 || got["token.created"] != 1 {
		t.Errorf("by member: %v", got)
	}
	if got := kinds(all(w.coordOwn, w.timebank.ID, exchange.AuditFilter{Member: w.coordOwn.MemberID}, 50)); len(got) != 3 ||
		got["timebank.rules_set"] != 1 || got["member.admitted"] != 1 || got["token.created"] != 1 {
		t.Errorf("by the coordinator: %v", got)
	}
	if got := all(w.coordOwn, w.timebank.ID, exchange.AuditFilter{Kind: "transfer.created", From: start, To: start.Add(time.Minute)}, 50); len(got) != 3 {
		t.Errorf("the first hour: %d transfers, want 3", len(got))
	}
	if got := all(w.coordOwn, w.timebank.ID, exchange.AuditFilter{Kind: "transfer.created", From: start.Add(time.Hour)}, 50); len(got) != 2 {
		t.Errorf("from the second hour: %d transfers, want 2", len(got))
	}
	for _, f := range []exchange.AuditFilter{{Kind: "Transfer!"}, {From: start, To: start}} {
		if _, _, err := e.ex.OrgAudit(ctx, w.coordOwn, w.timebank.ID, f, exchange.Page{}); !errors.Is(err, ledger.ErrInvalidRequest) {
			t.Errorf("filter %+v: %v, want invalid", f, err)
		}
	}
	// The coordinator above sees the same and the co-op's account; the
	// admin, on the network, everything, the unit among it.
	if k := kinds(all(w.coordAnc, w.local.ID, exchange.AuditFilter{}, 50)); k["transfer.created"] != 5 || k["account.opened"] != 1 || k["unit.created"] != 0 {
		t.Errorf("the local's log: %v", k)
	}
	if k := kinds(all(w.admin, w.net.ID, exchange.AuditFilter{}, 50)); k["unit.created"] != 1 || k["account.opened"] != 1 {
		t.Errorf("the network's log: %v", k)
	}
	_ = coopAcct
	// Who may not: as for an organization that does not exist.
	for _, p := range []exchange.Principal{w.coordOther, w.owner, w.other} {
		if _, _, err := e.ex.OrgAudit(ctx, p, w.timebank.ID, exchange.AuditFilter{}, exchange.Page{}); !errors.Is(err, exchange.ErrUnknownOrg) {
			t.Errorf("%s reading the time bank's log: %v", p.MemberID, err)
		}
	}
	if _, _, err := e.ex.OrgAudit(ctx, w.coordOwn, w.local.ID, exchange.AuditFilter{}, exchange.Page{}); !errors.Is(err, exchange.ErrUnknownOrg) {
		t.Errorf("the time bank's coordinator reading the local's log: %v", err)
	}
	if _, _, err := e.ex.MemberAudit(ctx, w.other, w.owner.MemberID, exchange.AuditFilter{}, exchange.Page{}); !errors.Is(err, exchange.ErrUnknownMember) {
		t.Errorf("another member reading the owner's history: %v", err)
	}
}

// TestErasureNeedsSettledBalances: a member with hours cannot be erased
// (ErrNotSettled, nothing changes); the coordinator settles with the pool,
// the member erases themself, and their accounts are closed to every
// movement, in the ledger and in the schema, with the books still
// balanced.
func TestErasureNeedsSettledBalances(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, tb, coord := timebankEnv(t)
	pc := e.principal(t, coord)
	if _, _, err := e.ex.SetTimebankRules(ctx, pc, tb.ID, exchange.TimebankSettings{CreditLimit: hours("5")}); err != nil {
		t.Fatal(err)
	}
	ana, acct, _, err := e.ex.Admit(ctx, pc, tb.ID, exchange.Admission{New: exchange.NewMember{Name: "Ana Erased", Email: "ana@example.org"}, Role: exchange.RoleMember})
	if err != nil {
		t.Fatal(err)
	}
	ben, benAcct, _, err := e.ex.Admit(ctx, pc, tb.ID, exchange.Admission{New: exchange.NewMember{Name: "Ben"}, Role: exchange.RoleMember})
	if err != nil {
		t.Fatal(err)
	}
	pa, pb := e.principal(t, ana), e.principal(t, ben)
	// Ana has a passkey, and a passkey ceremony under way.
	if _, err := e.ex.AddPasskey(ctx, pa, exchange.NewPasskey{CredentialID: []byte("ana's phone passkey id"), Record: []byte(`{"publicKey":"..."}`), SignCount: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ex.StartPasskeyCeremony(ctx, pa, "register", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	// Ben gives Ana 3 hours; Ana gives 1 to the pool.
	if _, err := e.ex.Transfer(ctx, pb, ledger.TransferRequest{Postings: []ledger.Posting{{From: benAcct, To: acct, Amount: hours("3"), Unit: "HOUR"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ex.DonateHours(ctx, pa, exchange.TimebankMove{OrgID: tb.ID, Amount: hours("1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ex.EraseMember(ctx, pa, ana.ID); !errors.Is(err, exchange.ErrNotSettled) {
		t.Fatalf("erasing with 2 hours: %v, want not settled", err)
	}
	if n := e.count(t, "erasures"); n != 0 {
		t.Fatalf("a refused erasure left %d rows", n)
	}
	// Ben, a plain member, may not settle; Ben may not erase Ana.
	if _, err := e.ex.SettleWithPool(ctx, pb, tb.ID, ana.ID); !errors.Is(err, exchange.ErrForbidden) {
		t.Errorf("a member settling: %v", err)
	}
	if _, err := e.ex.EraseMember(ctx, pb, ana.ID); !errors.Is(err, exchange.ErrUnknownMember) {
		t.Errorf("another member erasing Ana: %v", err)
	}
	if _, err := e.ex.EraseMember(ctx, pc, ana.ID); !errors.Is(err, exchange.ErrForbidden) {
		t.Errorf("the coordinator erasing Ana: %v", err)
	}
	st, err := e.ex.SettleWithPool(ctx, pc, tb.ID, ana.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Transfer == nil || !st.Moved[acct].Equal(hours("2")) {
		t.Fatalf("settlement: %+v", st)
	}
	wantActor(t, e.pool, "timebank.settled", st.Transfer.ID, pc)
	// Ben owes the pool nothing to settle; with a debt, the pool gives.
	if _, err := e.ex.Transfer(ctx, pb, ledger.TransferRequest{Postings: []ledger.Posting{{From: benAcct, To: acct, Amount: hours("1"), Unit: "HOUR"}}}); err != nil {
		t.Fatal(err)
	}
	// Ana now holds 1 again: settle it too, then erase.
	if _, err := e.ex.SettleWithPool(ctx, pc, tb.ID, ana.ID); err != nil {
		t.Fatal(err)
	}
	debt, err := e.ex.SettleWithPool(ctx, pc, tb.ID, ben.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !debt.Moved[benAcct].Equal(hours("-4")) {
		t.Errorf("Ben's settlement: %v, want -4 from the pool", debt.Moved)
	}
	er, err := e.ex.EraseMember(ctx, pa, ana.ID)
	if err != nil {
		t.Fatal(err)
	}
	if er.Name != "former member 1" || len(er.Accounts) != 1 || er.Accounts[0] != acct {
		t.Errorf("erasure: %+v", er)
	}
	// Erasing again changes nothing; no new credential can be made.
	if again, err := e.ex.EraseMember(ctx, e.principal(t, admin(t, e)), ana.ID); err != nil || again.Number != er.Number {
		t.Errorf("erasing again: %+v, %v", again, err)
	}
	if _, _, err := e.ex.CreateToken(ctx, exchange.Principal{MemberID: ana.ID}, ana.ID, "back", nil); !errors.Is(err, exchange.ErrMemberErased) {
		t.Errorf("a token for the erased member: %v", err)
	}
	// Closed for good: the ledger refuses, and so does the schema.
	_, err = e.ex.Transfer(ctx, pb, ledger.TransferRequest{Postings: []ledger.Posting{{From: benAcct, To: acct, Amount: hours("1"), Unit: "HOUR"}}})
	if !errors.Is(err, ledger.ErrAccountClosed) {
		t.Errorf("paying the erased member: %v, want account closed", err)
	}
	if _, err := e.pool.Exec(ctx, `UPDATE accounts SET balance = balance + 1 WHERE id = $1`, acct); err == nil {
		t.Error("the schema let a closed account's balance change")
	}
	if _, _, err := e.ex.IssueSigninCode(ctx, pc, ana.ID); err == nil {
		t.Error("a code was issued for an erased member")
	}
	if _, err := e.ex.ActFor(ctx, pc, ana.ID); !errors.Is(err, exchange.ErrForbidden) {
		t.Errorf("acting for an erased member: %v", err)
	}
	for _, table := range []string{"tokens", "sessions", "signin_codes", "passkeys", "passkey_ceremonies"} {
		var n int
		if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM `+table+` WHERE member_id = $1`, ana.ID).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s of the erased member: %d, %v", table, n, err)
		}
	}
	evs := events(t, e.pool, "member.erased", &ana.ID)
	if len(evs) != 1 || !is(evs[0].actor, ana.ID) {
		t.Errorf("erasure events: %+v", evs)
	}
	v, err := e.led.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range v {
		t.Error("ledger invariant broken: " + line)
	}
}

// admin makes the network's admin, under a network of their own.
func admin(t *testing.T, e env) exchange.Member {
	t.Helper()
	net, err := e.ex.Network(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := e.member(t, "Admin")
	e.join(t, net, m, exchange.RoleAdmin)
	return m
}

// TestErasuresRaceForNumbers erases members at once: each gets a number of
// its own.
func TestErasuresRaceForNumbers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	net := e.org(t, nil, exchange.KindNetwork, "Network")
	admin := e.member(t, "Admin")
	e.join(t, net, admin, exchange.RoleAdmin)
	pa := e.principal(t, admin)
	const n = 8
	var wg sync.WaitGroup
	names := make([]string, n)
	for i := range n {
		m := e.member(t, fmt.Sprintf("Person %d", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			er, err := e.ex.EraseMember(ctx, pa, m.ID)
			if err != nil {
				t.Error(err)
			}
			names[i] = er.Name
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, name := range names {
		if seen[name] {
			t.Errorf("two erased members are %q", name)
		}
		seen[name] = true
	}
	if got := len(events(t, e.pool, "member.erased", nil)); got != n {
		t.Errorf("%d erasure events, want %d", got, n)
	}
}
