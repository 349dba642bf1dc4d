package exchange_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

// moreWorld is what TestMethodAuthorization made that checkMoreMethods
// needs besides the world.
type moreWorld struct {
	fund, orgListing     uuid.UUID
	stranger, coopMember exchange.Principal
}

// methodRow is one method of the matrix: what it does for a principal, and
// the outcome for each principal in order.
type methodRow struct {
	name string
	do   func(p exchange.Principal) error
	want []error
}

// errNotSeen stands for "the search did not return the listing".
var errNotSeen = errors.New("listing not among the results")

// checkMoreMethods is the rest of TestMethodAuthorization's matrix, one row
// per method with the outcome for each principal: the setup methods only
// System may call, the reads open to every member or to anyone, listings
// posted and searched, and leaving an organization. System is the program
// itself (setup, fixtures): it is no member, so the methods for members
// refuse it as they refuse no one.
func checkMoreMethods(t *testing.T, e env, w world, m moreWorld) {
	t.Helper()
	ctx := context.Background()
	sys := exchange.System()
	names := []string{"admin", "coordinator of the org", "coordinator of the parent org", "coordinator of another org",
		"member, owner of the account", "member of the same org", "member of another org", "stranger", "no one", "System"}
	principals := []exchange.Principal{w.admin, w.coordOwn, w.coordAnc, w.coordOther, w.owner, w.other, m.coopMember, m.stranger, {}, sys}
	var (
		unauth     = exchange.ErrUnauthenticated
		notAMember = exchange.ErrNotAMember
		invalidReq = ledger.ErrInvalidRequest
		onlySystem = []error{forbidden, forbidden, forbidden, forbidden, forbidden, forbidden, forbidden, forbidden, unauth, nil}
		anyMember  = []error{nil, nil, nil, nil, nil, nil, nil, nil, unauth, unauth}
		anyone     = []error{nil, nil, nil, nil, nil, nil, nil, nil, nil, nil}
		soon       = e.clock.Now().Add(24 * time.Hour)
		newListing = func(owner uuid.UUID) exchange.NewListing {
			return exchange.NewListing{OrgID: w.timebank.ID, Owner: owner, Kind: exchange.Offer, Title: "Bread on Sundays",
				Category: "food", Quantity: money("1"), Start: soon, End: soon.Add(time.Hour)}
		}
	)
	rows := []methodRow{
		{"CreateOrg under the time bank", func(p exchange.Principal) error {
			_, err := e.ex.CreateOrg(ctx, p, exchange.NewOrg{ParentID: &w.timebank.ID, Name: "Garden", Kind: exchange.KindCouncil})
			return err
		}, onlySystem},
		{"CreateMember", func(p exchange.Principal) error {
			_, err := e.ex.CreateMember(ctx, p, exchange.NewMember{Name: "Somebody"})
			return err
		}, onlySystem},
		{"AddMembership of the other member as coordinator", func(p exchange.Principal) error {
			_, err := e.ex.AddMembership(ctx, p, w.timebank.ID, w.other.MemberID, exchange.RoleMember)
			return err
		}, onlySystem},
		{"AdmitNewMember to the time bank", func(p exchange.Principal) error {
			_, err := e.ex.AdmitNewMember(ctx, p, w.timebank.ID, exchange.NewMember{Name: "Somebody"}, exchange.RoleMember)
			return err
		}, onlySystem},
		{"OpenMemberAccount for the member in the time bank", func(p exchange.Principal) error {
			_, err := e.ex.OpenMemberAccount(ctx, p, w.timebank.ID, w.owner.MemberID, "HOUR", money("0"))
			return err
		}, []error{nil, nil, nil, forbidden, forbidden, forbidden, forbidden, forbidden, unauth, nil}},
		{"CreateListing for the member", func(p exchange.Principal) error {
			_, err := e.ex.CreateListing(ctx, p, newListing(w.owner.MemberID))
			return err
		}, []error{forbidden, forbidden, forbidden, forbidden, nil, forbidden, forbidden, forbidden, unauth, nil}},
		{"CreateListing as oneself in the time bank", func(p exchange.Principal) error {
			_, err := e.ex.CreateListing(ctx, p, newListing(uuid.Nil))
			return err
		}, []error{notAMember, nil, notAMember, notAMember, nil, nil, notAMember, notAMember, unauth, invalidReq}},
		{"SearchListings of the time bank claiming to see everything", func(p exchange.Principal) error {
			ls, _, err := e.ex.SearchListings(ctx, p, exchange.ListingQuery{Viewer: exchange.Viewer{All: true}, OrgID: w.timebank.ID},
				exchange.Page{Limit: exchange.MaxLimit})
			if err != nil {
				return err
			}
			for _, l := range ls {
				if l.ID == m.orgListing {
					return nil
				}
			}
			return errNotSeen
		}, []error{nil, nil, errNotSeen, errNotSeen, nil, nil, errNotSeen, errNotSeen, errNotSeen, nil}},
		{"Categories", func(p exchange.Principal) error {
			_, err := e.ex.Categories(ctx, p)
			return err
		}, anyone},
		{"Fairness of the member", func(p exchange.Principal) error {
			_, err := e.ex.Fairness(ctx, p, []uuid.UUID{w.owner.MemberID})
			return err
		}, anyMember},
		{"Fund", func(p exchange.Principal) error {
			_, err := e.ex.Fund(ctx, p, m.fund)
			return err
		}, anyone},
		{"Funds", func(p exchange.Principal) error {
			_, _, err := e.ex.Funds(ctx, p, exchange.Page{})
			return err
		}, anyone},
		{"FundReport", func(p exchange.Principal) error {
			_, err := e.ex.FundReport(ctx, p, exchange.ReportQuery{FundID: m.fund})
			return err
		}, anyone},
	}
	rows = append(rows, leaveRows(t, e, w, m, principals)...)
	for _, r := range rows {
		if len(r.want) != len(principals) {
			t.Fatalf("%s: %d outcomes for %d principals", r.name, len(r.want), len(principals))
		}
		for i, p := range principals {
			err := r.do(p)
			want := r.want[i]
			if want == nil && err != nil || want != nil && !errors.Is(err, want) {
				t.Errorf("%s: %s = %v, want %v", names[i], r.name, err, want)
			}
		}
	}
}

// leaveRows are the matrix's rows for leaving an organization: removing a
// fresh member of the time bank, and each principal leaving their own
// organization (last, since it ends memberships the other rows need).
func leaveRows(t *testing.T, e env, w world, m moreWorld, principals []exchange.Principal) []methodRow {
	ctx := context.Background()
	unknownMember, unauth := exchange.ErrUnknownMember, exchange.ErrUnauthenticated
	return []methodRow{
		{"Leave: remove a member of the time bank", func(p exchange.Principal) error {
			mb := e.member(t, "Leaver")
			e.join(t, w.timebank, mb, exchange.RoleMember)
			_, err := e.ex.Leave(ctx, p, w.timebank.ID, mb.ID)
			return err
		}, []error{nil, nil, nil, unknownMember, unknownMember, unknownMember, unknownMember, unknownMember, unauth, unauth}},
		{"Leave: one's own organization", func(p exchange.Principal) error {
			org := w.timebank.ID // the stranger's, who belongs to none
			for o := range p.Roles {
				org = o
			}
			_, err := e.ex.Leave(ctx, p, org, p.MemberID)
			return err
		}, []error{exchange.ErrLastAdmin, nil, nil, nil, nil, nil, nil, exchange.ErrNotAMember, unauth, unauth}},
	}
}
