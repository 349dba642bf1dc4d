package exchange_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

// world is a small network for the authorization tables:
//
//	network (admin)
//	└── local "Oaxaca" (coordAnc)
//	    ├── timebank "Barrio" (coordOwn; members owner and other)
//	    └── coop "Café" (coordOther)
type world struct {
	net, local, timebank, coop exchange.Org
	// principals, authenticated from real tokens
	owner, other, coordOwn, coordOther, coordAnc, admin exchange.Principal
	// accounts: the owner's, the time bank's, the local's, and an external one
	memberAcct, orgAcct, localAcct, externalAcct ledger.Account
}

func newWorld(t *testing.T, e env) world {
	t.Helper()
	ctx := context.Background()
	var w world
	w.net = e.org(t, nil, exchange.KindNetwork, "Red Mutual")
	w.local = e.org(t, &w.net, exchange.KindLocal, "Oaxaca")
	w.timebank = e.org(t, &w.local, exchange.KindTimebank, "Barrio")
	w.coop = e.org(t, &w.local, exchange.KindCoop, "Café")

	person := func(name string, o exchange.Org, role exchange.Role) exchange.Principal {
		m := e.member(t, name)
		e.join(t, o, m, role)
		return e.principal(t, m)
	}
	w.owner = person("Owner", w.timebank, exchange.RoleMember)
	w.other = person("Other", w.timebank, exchange.RoleMember)
	w.coordOwn = person("Coordinator of the time bank", w.timebank, exchange.RoleCoordinator)
	w.coordOther = person("Coordinator of the coop", w.coop, exchange.RoleCoordinator)
	w.coordAnc = person("Coordinator of the local", w.local, exchange.RoleCoordinator)
	w.admin = person("Admin", w.net, exchange.RoleAdmin)

	if _, err := e.led.CreateUnit(ctx, ledger.Unit{Code: "HOUR", Scale: 2}); err != nil {
		t.Fatal(err)
	}
	open := func(owner string, kind ledger.AccountKind) ledger.Account {
		in := ledger.NewAccount{Unit: "HOUR", Owner: owner, Kind: kind}
		a, err := e.led.CreateAccount(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	w.memberAcct = open(exchange.MemberOwner(w.owner.MemberID), ledger.KindMember)
	w.orgAcct = open(exchange.OrgOwner(w.timebank.ID), ledger.KindPool)
	w.localAcct = open(exchange.OrgOwner(w.local.ID), ledger.KindOrganization)
	w.externalAcct = open("", ledger.KindExternal)
	return w
}

var (
	forbidden  = exchange.ErrForbidden
	notVisible = exchange.ErrNotVisible
)

// TestAccountAuthorization is the matrix of principals × accounts for moving
// value out of an account and for reading it. A coordinator acts for the
// organization and the ones under it, never for a member's own account;
// what a principal may not see is "not visible", never "forbidden".
func TestAccountAuthorization(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	w := newWorld(t, e)

	type cell struct{ move, read error }
	principals := []struct {
		name string
		p    exchange.Principal
		// member account, org (time bank) account, ancestor org (local)
		// account, external account
		member, org, local, external cell
	}{
		{"owner member", w.owner,
			cell{nil, nil}, cell{notVisible, notVisible}, cell{notVisible, notVisible}, cell{notVisible, notVisible}},
		{"other member", w.other,
			cell{notVisible, notVisible}, cell{notVisible, notVisible}, cell{notVisible, notVisible}, cell{notVisible, notVisible}},
		{"coordinator of the owning org", w.coordOwn,
			cell{forbidden, nil}, cell{nil, nil}, cell{notVisible, notVisible}, cell{notVisible, notVisible}},
		{"coordinator of another org", w.coordOther,
			cell{notVisible, notVisible}, cell{notVisible, notVisible}, cell{notVisible, notVisible}, cell{notVisible, notVisible}},
		{"coordinator of an ancestor org", w.coordAnc,
			cell{forbidden, nil}, cell{nil, nil}, cell{nil, nil}, cell{notVisible, notVisible}},
		{"admin", w.admin,
			cell{nil, nil}, cell{nil, nil}, cell{nil, nil}, cell{nil, nil}},
	}
	for _, pr := range principals {
		for _, acct := range []struct {
			name string
			a    ledger.Account
			want cell
		}{
			{"member account", w.memberAcct, pr.member},
			{"org account", w.orgAcct, pr.org},
			{"ancestor org account", w.localAcct, pr.local},
			{"external account", w.externalAcct, pr.external},
		} {
			what := pr.name + " × " + acct.name
			err := e.ex.CanMoveFrom(ctx, pr.p, acct.a)
			wantErr(t, what+": move", err, acct.want.move)
			checkAccountField(t, what+": move", err, acct.a.ID)
			err = e.ex.CanReadAccount(ctx, pr.p, acct.a)
			wantErr(t, what+": read", err, acct.want.read)
			checkAccountField(t, what+": read", err, acct.a.ID)

			// The pure rules decide the same given the governors.
			gov, err := e.ex.Governors(ctx, acct.a.Owner)
			if err != nil {
				t.Fatal(err)
			}
			wantErr(t, what+": MayMoveFrom", pr.p.MayMoveFrom(acct.a.Owner, gov), acct.want.move)
			wantErr(t, what+": MayReadAccount", pr.p.MayReadAccount(acct.a.Owner, gov), acct.want.read)
		}
	}
}

func checkAccountField(t *testing.T, what string, err error, id uuid.UUID) {
	t.Helper()
	var le *ledger.Error
	if errors.As(err, &le) && le.Account != id {
		t.Errorf("%s: the error names account %s, want %s", what, le.Account, id)
	}
}

func TestOrgAndMemberAuthorization(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	w := newWorld(t, e)
	principals := []struct {
		name string
		p    exchange.Principal
		// manage: timebank, local, coop, network
		manage [4]error
		// read the owner member, read the other member
		readOwner, readOther error
		// tokens of the owner member
		tokens error
	}{
		{"owner member", w.owner, [4]error{forbidden, forbidden, forbidden, forbidden}, nil, notVisible, nil},
		{"other member", w.other, [4]error{forbidden, forbidden, forbidden, forbidden}, notVisible, nil, notVisible},
		{"coordinator of the owning org", w.coordOwn, [4]error{nil, forbidden, forbidden, forbidden}, nil, nil, nil},
		{"coordinator of another org", w.coordOther, [4]error{forbidden, forbidden, nil, forbidden}, notVisible, notVisible, notVisible},
		{"coordinator of an ancestor org", w.coordAnc, [4]error{nil, nil, nil, forbidden}, nil, nil, nil},
		{"admin", w.admin, [4]error{nil, nil, nil, nil}, nil, nil, nil},
	}
	orgs := []exchange.Org{w.timebank, w.local, w.coop, w.net}
	for _, pr := range principals {
		for i, o := range orgs {
			wantErr(t, pr.name+" manages "+o.Name, e.ex.CanManageOrg(ctx, pr.p, o.ID), pr.manage[i])
		}
		wantErr(t, pr.name+" reads the owner", e.ex.CanReadMember(ctx, pr.p, w.owner.MemberID), pr.readOwner)
		wantErr(t, pr.name+" reads the other", e.ex.CanReadMember(ctx, pr.p, w.other.MemberID), pr.readOther)
		wantErr(t, pr.name+" manages the owner's tokens", e.ex.CanManageTokens(ctx, pr.p, w.owner.MemberID), pr.tokens)
		// Unknown things: an unknown org is said to be unknown (orgs are
		// public); an unknown member looks like one you may not see.
		wantErr(t, pr.name+" manages an unknown org", e.ex.CanManageOrg(ctx, pr.p, uuid.New()), exchange.ErrUnknownOrg)
		want := error(notVisible)
		if pr.p.Admin {
			want = nil // the admin may see everyone; the lookup then says unknown
		}
		wantErr(t, pr.name+" reads an unknown member", e.ex.CanReadMember(ctx, pr.p, uuid.New()), want)
	}
}

// TestPureRules covers what the database cannot produce: a zero principal,
// and owners the exchange never writes.
func TestPureRules(t *testing.T) {
	me, org := uuid.New(), uuid.New()
	coord := exchange.Principal{MemberID: me, Roles: map[uuid.UUID]exchange.Role{org: exchange.RoleCoordinator}}
	plain := exchange.Principal{MemberID: me, Roles: map[uuid.UUID]exchange.Role{org: exchange.RoleMember}}
	for _, c := range []struct {
		name      string
		p         exchange.Principal
		owner     string
		governors []uuid.UUID
		move      error
		read      error
	}{
		{"zero principal, own-looking account", exchange.Principal{}, exchange.MemberOwner(uuid.Nil), nil, exchange.ErrUnauthenticated, exchange.ErrUnauthenticated},
		{"zero principal, admin flag", exchange.Principal{Admin: true}, "", nil, exchange.ErrUnauthenticated, exchange.ErrUnauthenticated},
		{"own account", plain, exchange.MemberOwner(me), nil, nil, nil},
		{"own account, other spelling", plain, "member:" + "{" + me.String() + "}", nil, notVisible, notVisible},
		{"org account, plain member of it", plain, exchange.OrgOwner(org), []uuid.UUID{org}, notVisible, notVisible},
		{"org account, coordinator", coord, exchange.OrgOwner(org), []uuid.UUID{org}, nil, nil},
		{"member account, coordinator", coord, exchange.MemberOwner(uuid.New()), []uuid.UUID{org}, forbidden, nil},
		{"unowned account, coordinator with governors", coord, "", []uuid.UUID{org}, notVisible, notVisible},
	} {
		wantErr(t, c.name+": move", c.p.MayMoveFrom(c.owner, c.governors), c.move)
		wantErr(t, c.name+": read", c.p.MayReadAccount(c.owner, c.governors), c.read)
	}
	if err := (exchange.Principal{}).MayManageOrg([]uuid.UUID{org}); !errors.Is(err, exchange.ErrUnauthenticated) {
		t.Errorf("zero principal manages: %v", err)
	}
	if err := plain.MayManageOrg([]uuid.UUID{org}); !errors.Is(err, forbidden) {
		t.Errorf("plain member manages: %v", err)
	}
	if err := coord.MayManageOrg([]uuid.UUID{uuid.New(), org}); err != nil {
		t.Errorf("coordinator of an ancestor manages: %v", err)
	}
}

// TestSentinelsAreNotShared: an error the rules return can be changed by its
// caller without changing the sentinel every later call compares with.
func TestSentinelsAreNotShared(t *testing.T) {
	p := exchange.Principal{MemberID: uuid.New()}
	err := p.MayReadAccount("", nil)
	var le *ledger.Error
	if !errors.As(err, &le) {
		t.Fatal(err)
	}
	le.Message = "changed"
	if exchange.ErrNotVisible.Message == "changed" {
		t.Error("the rule returned the sentinel itself")
	}
	if le.Code != ledger.ENOTFOUND || exchange.ErrForbidden.Code != exchange.EFORBIDDEN || exchange.ErrUnauthenticated.Code != exchange.EUNAUTHORIZED {
		t.Error("codes: not visible must be ENOTFOUND, forbidden EFORBIDDEN, unauthenticated EUNAUTHORIZED")
	}
}

// TestMethodAuthorization is the matrix of principals × exchange methods:
// the methods that the JSON API (and later the pages) call, each deciding
// itself who may. ok means the call succeeds; otherwise the error it must
// match. A stranger is a member of no organization; a member of another
// organization belongs to the co-op. What p may not see is answered as what
// does not exist (ledger.ErrUnknownAccount, ledger.ErrUnknownTransfer).
func TestMethodAuthorization(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	w := newWorld(t, e)
	stranger := e.principal(t, e.member(t, "Stranger"))
	outsider := e.member(t, "Member of the coop")
	e.join(t, w.coop, outsider, exchange.RoleMember)
	coopMember := e.principal(t, outsider)

	// Hours for the member's and the time bank's accounts, from outside.
	for _, to := range []uuid.UUID{w.memberAcct.ID, w.orgAcct.ID} {
		if _, err := e.led.CreateTransfer(ctx, ledger.TransferRequest{Postings: []ledger.Posting{
			{From: w.externalAcct.ID, To: to, Amount: money("1000"), Unit: "HOUR"}}}); err != nil {
			t.Fatal(err)
		}
	}
	fund, err := e.ex.CreateFund(ctx, w.admin, exchange.NewFund{OrgID: w.local.ID, Name: "Hours fund", Unit: "HOUR"})
	if err != nil {
		t.Fatal(err)
	}
	pay := func(from, to uuid.UUID, pending bool) ledger.TransferRequest {
		return ledger.TransferRequest{Postings: []ledger.Posting{{From: from, To: to, Amount: money("0.01"), Unit: "HOUR"}}, Pending: pending}
	}
	// hold is a fresh hold of the member's, for each principal to post.
	hold := func() uuid.UUID {
		h, err := e.ex.Transfer(ctx, w.owner, pay(w.memberAcct.ID, w.orgAcct.ID, true))
		if err != nil {
			t.Fatal(err)
		}
		return h.ID
	}
	unknownAccount, unknownTransfer := ledger.ErrUnknownAccount, ledger.ErrUnknownTransfer
	notVisible := exchange.ErrNotVisible
	// The time bank has rules, and its pool an hour to grant from.
	if _, _, err := e.ex.SetTimebankRules(ctx, w.admin, w.timebank.ID, exchange.TimebankSettings{CreditLimit: money("10")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ex.DonateHours(ctx, w.owner, exchange.TimebankMove{OrgID: w.timebank.ID, Account: w.memberAcct.ID, Amount: money("1")}); err != nil {
		t.Fatal(err)
	}
	noTimebank, noAccount := exchange.ErrNoTimebank, exchange.ErrNoAccount
	unknownMember, unknownToken := exchange.ErrUnknownMember, exchange.ErrUnknownToken
	soon := e.clock.Now().Add(24 * time.Hour)
	orgListing, err := e.ex.CreateListing(ctx, exchange.System(), exchange.NewListing{OrgID: w.timebank.ID, Owner: w.owner.MemberID, Kind: exchange.Offer,
		Title: "Soup for the week", Category: "food", Quantity: money("1"), Start: soon, End: soon.Add(time.Hour),
		Visibility: exchange.VisibilityOrg})
	if err != nil {
		t.Fatal(err)
	}

	type call func(p exchange.Principal) error
	calls := []struct {
		name string
		do   call
	}{
		{"Transfer out of a member's account", func(p exchange.Principal) error {
			_, err := e.ex.Transfer(ctx, p, pay(w.memberAcct.ID, w.orgAcct.ID, false))
			return err
		}},
		{"Transfer out of the time bank's account", func(p exchange.Principal) error {
			_, err := e.ex.Transfer(ctx, p, pay(w.orgAcct.ID, w.localAcct.ID, false))
			return err
		}},
		{"Account of a member", func(p exchange.Principal) error {
			_, err := e.ex.Account(ctx, p, w.memberAcct.ID)
			return err
		}},
		{"PostHold of a member's hold", func(p exchange.Principal) error {
			_, err := e.ex.PostHold(ctx, p, hold(), ledger.PostRequest{})
			return err
		}},
		{"CreateUnit", func(p exchange.Principal) error {
			_, err := e.ex.CreateUnit(ctx, p, ledger.Unit{Code: "U" + strings.ToUpper(uuid.NewString()[:8]), Scale: 0})
			return err
		}},
		{"OpenAccount of the time bank", func(p exchange.Principal) error {
			_, err := e.ex.OpenAccount(ctx, p, ledger.NewAccount{Unit: "HOUR", Owner: exchange.OrgOwner(w.timebank.ID), Kind: ledger.KindOrganization}, uuid.Nil)
			return err
		}},
		{"OpenAccount external", func(p exchange.Principal) error {
			_, err := e.ex.OpenAccount(ctx, p, ledger.NewAccount{Unit: "HOUR", Owner: exchange.OrgOwner(w.timebank.ID), Kind: ledger.KindExternal}, uuid.Nil)
			return err
		}},
		{"CreateFund of the local", func(p exchange.Principal) error {
			_, err := e.ex.CreateFund(ctx, p, exchange.NewFund{OrgID: w.local.ID, Name: "Fund", Unit: "HOUR"})
			return err
		}},
		{"RequestGrant for the time bank", func(p exchange.Principal) error {
			_, err := e.ex.RequestGrant(ctx, p, exchange.NewGrant{FundID: fund.ID, OrgID: w.timebank.ID, Amount: money("1"), Purpose: "Tools", ToAccount: w.orgAcct.ID})
			return err
		}},
		{"Contribute from the time bank's account", func(p exchange.Principal) error {
			_, err := e.ex.Contribute(ctx, p, exchange.Contribution{FundID: fund.ID, From: w.orgAcct.ID, OrgID: w.timebank.ID, Amount: money("0.01")})
			return err
		}},
		{"Contribute from outside", func(p exchange.Principal) error {
			_, err := e.ex.Contribute(ctx, p, exchange.Contribution{FundID: fund.ID, Source: "A neighbor", Amount: money("0.01")})
			return err
		}},
		{"TimebankRules of the time bank", func(p exchange.Principal) error {
			_, err := e.ex.TimebankRules(ctx, p, w.timebank.ID)
			return err
		}},
		{"SetTimebankRules of the time bank", func(p exchange.Principal) error {
			_, _, err := e.ex.SetTimebankRules(ctx, p, w.timebank.ID, exchange.TimebankSettings{CreditLimit: money("10")})
			return err
		}},
		{"DonateHours to the time bank (own HOUR account)", func(p exchange.Principal) error {
			_, err := e.ex.DonateHours(ctx, p, exchange.TimebankMove{OrgID: w.timebank.ID, Amount: money("0.01")})
			return err
		}},
		{"GrantHours to the member", func(p exchange.Principal) error {
			_, err := e.ex.GrantHours(ctx, p, exchange.TimebankMove{OrgID: w.timebank.ID, MemberID: w.owner.MemberID, Amount: money("0.01")})
			return err
		}},
		{"CreateToken for the member", func(p exchange.Principal) error {
			_, _, err := e.ex.CreateToken(ctx, p, w.owner.MemberID, "phone", nil)
			return err
		}},
		{"CreateToken for the time bank's coordinator", func(p exchange.Principal) error {
			_, _, err := e.ex.CreateToken(ctx, p, w.coordOwn.MemberID, "phone", nil)
			return err
		}},
		{"RevokeToken of the member's token", func(p exchange.Principal) error {
			tok, _, err := e.ex.CreateToken(ctx, w.owner, w.owner.MemberID, "to revoke", nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.ex.RevokeToken(ctx, p, tok.ID)
			return err
		}},
		{"Member: the member", func(p exchange.Principal) error {
			_, err := e.ex.Member(ctx, p, w.owner.MemberID)
			return err
		}},
		{"OrgMembers of the time bank", func(p exchange.Principal) error {
			_, _, err := e.ex.OrgMembers(ctx, p, w.timebank.ID, exchange.Page{})
			return err
		}},
		{"Admit the member to the time bank again", func(p exchange.Principal) error {
			_, _, _, err := e.ex.Admit(ctx, p, w.timebank.ID, exchange.Admission{MemberID: w.owner.MemberID, Role: exchange.RoleMember})
			return err
		}},
		{"Admit a new member to the time bank", func(p exchange.Principal) error {
			_, _, _, err := e.ex.Admit(ctx, p, w.timebank.ID, exchange.Admission{New: exchange.NewMember{Name: "Newcomer"}, Role: exchange.RoleMember})
			return err
		}},
		{"Org: the time bank", func(p exchange.Principal) error {
			_, err := e.ex.Org(ctx, p, w.timebank.ID)
			return err
		}},
		{"Orgs", func(p exchange.Principal) error {
			_, _, err := e.ex.Orgs(ctx, p, exchange.Page{})
			return err
		}},
		{"AddOrg under the time bank", func(p exchange.Principal) error {
			_, err := e.ex.AddOrg(ctx, p, exchange.NewOrg{ParentID: &w.timebank.ID, Name: "Garden " + uuid.NewString()[:8], Kind: exchange.KindCouncil})
			return err
		}},
		{"CreateCategory", func(p exchange.Principal) error {
			_, err := e.ex.CreateCategory(ctx, p, exchange.Category{Code: "c" + strings.ReplaceAll(uuid.NewString()[:8], "-", ""), Name: "Some category"})
			return err
		}},
		{"WithdrawListing of the member's public listing", func(p exchange.Principal) error {
			start := e.clock.Now().Add(24 * time.Hour)
			l, err := e.ex.CreateListing(ctx, exchange.System(), exchange.NewListing{OrgID: w.timebank.ID, Owner: w.owner.MemberID, Kind: exchange.Need,
				Title: "Ride to the clinic", Category: "transport", Quantity: money("1"), Start: start, End: start.Add(time.Hour),
				Visibility: exchange.VisibilityPublic})
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.ex.WithdrawListing(ctx, p, l.ID)
			return err
		}},
		{"Subtree of the time bank (to propose matches)", func(p exchange.Principal) error {
			_, err := e.ex.Subtree(ctx, p, w.timebank.ID)
			return err
		}},
		{"Invitations of the time bank", func(p exchange.Principal) error {
			_, _, err := e.ex.Invitations(ctx, p, w.timebank.ID, exchange.Page{})
			return err
		}},
		{"Listing: the member's listing for the time bank only", func(p exchange.Principal) error {
			_, err := e.ex.Listing(ctx, p, orgListing.ID)
			return err
		}},
		{"OrgAudit of the time bank", func(p exchange.Principal) error {
			_, _, err := e.ex.OrgAudit(ctx, p, w.timebank.ID, exchange.AuditFilter{}, exchange.Page{})
			return err
		}},
		{"MemberAudit of the member", func(p exchange.Principal) error {
			_, _, err := e.ex.MemberAudit(ctx, p, w.owner.MemberID, exchange.AuditFilter{}, exchange.Page{})
			return err
		}},
		{"ActFor the member", func(p exchange.Principal) error {
			_, err := e.ex.ActFor(ctx, p, w.owner.MemberID)
			return err
		}},
		{"EraseMember of another member of the time bank", func(p exchange.Principal) error {
			m := e.member(t, "To erase")
			e.join(t, w.timebank, m, exchange.RoleMember)
			_, err := e.ex.EraseMember(ctx, p, m.ID)
			return err
		}},
		{"SettleWithPool for a member with nothing to settle", func(p exchange.Principal) error {
			m := e.member(t, "To settle")
			e.join(t, w.timebank, m, exchange.RoleMember)
			_, err := e.ex.SettleWithPool(ctx, p, w.timebank.ID, m.ID)
			return err
		}},
		{"Rollup of the time bank", func(p exchange.Principal) error {
			_, err := e.ex.Rollup(ctx, p, w.timebank.ID, time.Time{})
			return err
		}},
		{"SubtreeStatement of the time bank", func(p exchange.Principal) error {
			_, err := e.ex.SubtreeStatement(ctx, p, w.timebank.ID, time.Time{}, time.Time{})
			return err
		}},
		{"SetOrgRegion of the coop", func(p exchange.Principal) error {
			_, err := e.ex.SetOrgRegion(ctx, p, w.coop.ID, "eu-west1")
			return err
		}},
	}
	unknownOrg := exchange.ErrUnknownOrg
	principals := []struct {
		name string
		p    exchange.Principal
		want []error // one per call, in order
	}{
		{"admin", w.admin, []error{nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, forbidden, nil,
			nil, nil, nil,
			nil, nil, nil, nil,
			nil, nil, nil,
			nil, nil,
			nil,
			nil,
			nil,
			nil, nil, nil, nil, nil, nil, nil, nil}},
		{"coordinator of the org", w.coordOwn,
			[]error{forbidden, nil, nil, forbidden, forbidden, nil, forbidden, forbidden, nil, nil, forbidden, nil, nil, noAccount, nil,
				nil, nil, nil,
				nil, nil, nil, nil,
				nil, nil, nil,
				forbidden, nil,
				nil,
				nil,
				nil,
				nil, nil, nil, forbidden, nil, nil, nil, forbidden}},
		{"coordinator of the parent org", w.coordAnc,
			[]error{forbidden, nil, nil, forbidden, forbidden, nil, forbidden, nil, nil, nil, nil, nil, nil, forbidden, nil,
				nil, nil, nil,
				nil, nil, nil, nil,
				nil, nil, nil,
				forbidden, nil,
				nil,
				nil,
				exchange.ErrUnknownListing,
				nil, nil, nil, forbidden, nil, nil, nil, forbidden}},
		{"coordinator of another org", w.coordOther,
			[]error{unknownAccount, unknownAccount, unknownAccount, unknownTransfer, forbidden, forbidden, forbidden, forbidden, forbidden, unknownAccount, forbidden, noTimebank, noTimebank, noTimebank, noTimebank,
				unknownMember, unknownMember, unknownToken,
				unknownMember, forbidden, forbidden, forbidden,
				nil, nil, forbidden,
				forbidden, forbidden,
				forbidden,
				forbidden,
				exchange.ErrUnknownListing,
				unknownOrg, unknownMember, forbidden, unknownMember, noTimebank, notVisible, notVisible, forbidden}},
		{"member, owner of the account", w.owner,
			[]error{nil, unknownAccount, nil, nil, forbidden, forbidden, forbidden, forbidden, forbidden, unknownAccount, forbidden, nil, forbidden, nil, forbidden,
				nil, unknownMember, nil,
				nil, forbidden, forbidden, forbidden,
				nil, nil, forbidden,
				forbidden, nil,
				forbidden,
				forbidden,
				nil,
				unknownOrg, nil, nil, unknownMember, forbidden, notVisible, notVisible, forbidden}},
		{"member of the same org", w.other,
			[]error{unknownAccount, unknownAccount, unknownAccount, unknownTransfer, forbidden, forbidden, forbidden, forbidden, forbidden, unknownAccount, forbidden, nil, forbidden, noAccount, forbidden,
				unknownMember, unknownMember, unknownToken,
				unknownMember, forbidden, forbidden, forbidden,
				nil, nil, forbidden,
				forbidden, forbidden,
				forbidden,
				forbidden,
				nil,
				unknownOrg, unknownMember, forbidden, unknownMember, forbidden, notVisible, notVisible, forbidden}},
		{"member of another org", coopMember,
			[]error{unknownAccount, unknownAccount, unknownAccount, unknownTransfer, forbidden, forbidden, forbidden, forbidden, forbidden, unknownAccount, forbidden, noTimebank, noTimebank, noTimebank, noTimebank,
				unknownMember, unknownMember, unknownToken,
				unknownMember, forbidden, forbidden, forbidden,
				nil, nil, forbidden,
				forbidden, forbidden,
				forbidden,
				forbidden,
				exchange.ErrUnknownListing,
				unknownOrg, unknownMember, forbidden, unknownMember, noTimebank, notVisible, notVisible, forbidden}},
		{"stranger", stranger,
			[]error{unknownAccount, unknownAccount, unknownAccount, unknownTransfer, forbidden, forbidden, forbidden, forbidden, forbidden, unknownAccount, forbidden, noTimebank, noTimebank, noTimebank, noTimebank,
				unknownMember, unknownMember, unknownToken,
				unknownMember, forbidden, forbidden, forbidden,
				nil, nil, forbidden,
				forbidden, forbidden,
				forbidden,
				forbidden,
				exchange.ErrUnknownListing,
				unknownOrg, unknownMember, forbidden, unknownMember, noTimebank, notVisible, notVisible, forbidden}},
		{"no one", exchange.Principal{},
			[]error{exchange.ErrUnauthenticated, exchange.ErrUnauthenticated, exchange.ErrUnauthenticated, exchange.ErrUnauthenticated, exchange.ErrUnauthenticated,
				exchange.ErrUnauthenticated, exchange.ErrUnauthenticated, exchange.ErrUnauthenticated, exchange.ErrUnauthenticated, exchange.ErrUnauthenticated, exchange.ErrUnauthenticated,
				exchange.ErrUnauthenticated, exchange.ErrUnauthenticated, exchange.ErrUnauthenticated, exchange.ErrUnauthenticated,
				exchange.ErrUnauthenticated, exchange.ErrUnauthenticated, exchange.ErrUnauthenticated,
				exchange.ErrUnauthenticated, exchange.ErrUnauthenticated, exchange.ErrUnauthenticated, exchange.ErrUnauthenticated,
				exchange.ErrUnauthenticated, exchange.ErrUnauthenticated, exchange.ErrUnauthenticated,
				exchange.ErrUnauthenticated, exchange.ErrUnauthenticated,
				exchange.ErrUnauthenticated,
				exchange.ErrUnauthenticated,
				exchange.ErrUnknownListing, /* a zero Principal sees public listings only */
				exchange.ErrUnauthenticated, exchange.ErrUnauthenticated, exchange.ErrUnauthenticated, exchange.ErrUnauthenticated, exchange.ErrUnauthenticated, exchange.ErrUnauthenticated, exchange.ErrUnauthenticated, exchange.ErrUnauthenticated}},
	}
	for _, pr := range principals {
		if len(pr.want) != len(calls) {
			t.Fatalf("%s: %d outcomes for %d calls", pr.name, len(pr.want), len(calls))
		}
		for i, c := range calls {
			err := c.do(pr.p)
			want := pr.want[i]
			if want == nil && err != nil || want != nil && !errors.Is(err, want) {
				t.Errorf("%s: %s = %v, want %v", pr.name, c.name, err, want)
			}
		}
	}
	// The methods that setup, reads open to all, and listings decide for
	// themselves, with System among the principals (methods_test.go).
	checkMoreMethods(t, e, w, moreWorld{fund: fund.ID, orgListing: orgListing.ID, stranger: stranger, coopMember: coopMember})
}

// TestManagedTransfersAreReadFromTheTables: a transfer a fund made is
// refused to hand changes, even the admin's; a hold whose metadata merely
// names a trade, an agreement or a fund is not.
func TestManagedTransfersAreReadFromTheTables(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	w := newWorld(t, e)
	if _, err := e.led.CreateTransfer(ctx, ledger.TransferRequest{Postings: []ledger.Posting{
		{From: w.externalAcct.ID, To: w.memberAcct.ID, Amount: money("10"), Unit: "HOUR"}}}); err != nil {
		t.Fatal(err)
	}
	fund, err := e.ex.CreateFund(ctx, w.admin, exchange.NewFund{OrgID: w.local.ID, Name: "Hours fund", Unit: "HOUR"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.ex.Contribute(ctx, w.admin, exchange.Contribution{FundID: fund.ID, Source: "A neighbor", Amount: money("5")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.ex.Reverse(ctx, w.admin, m.TransferID, ledger.ReverseRequest{})
	wantErr(t, "reversing a fund's movement", err, exchange.ErrManagedTransfer)

	for _, meta := range []string{`{"trade": "x"}`, `{"agreement": "` + uuid.NewString() + `"}`, `{"fund": "` + fund.ID.String() + `"}`} {
		h, err := e.ex.Transfer(ctx, w.owner, ledger.TransferRequest{Postings: []ledger.Posting{
			{From: w.memberAcct.ID, To: w.orgAcct.ID, Amount: money("1"), Unit: "HOUR"}}, Pending: true, Metadata: []byte(meta)})
		if err != nil {
			t.Fatal(err)
		}
		if v, err := e.ex.VoidHold(ctx, w.owner, h.ID); err != nil || v.State != ledger.StateVoided {
			t.Errorf("voiding a hold labelled %s: %v, %v", meta, v.State, err)
		}
	}
}
