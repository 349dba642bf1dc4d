package exchange_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

func TestMembersAndMemberships(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	net := e.org(t, nil, exchange.KindNetwork, "Red Mutual")
	city := e.org(t, &net, exchange.KindLocal, "Oaxaca")
	tb := e.org(t, &city, exchange.KindTimebank, "Barrio Time Bank")

	ana, err := e.ex.CreateMember(ctx, exchange.System(), exchange.NewMember{Name: "Ana López", Email: "ana@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if ana.Name != "Ana López" || ana.Email != "ana@example.org" || ana.Memberships == nil || len(ana.Memberships) != 0 {
		t.Errorf("created %+v", ana)
	}
	noEmail := e.member(t, "Ben")
	if got, err := e.ex.Member(ctx, exchange.Principal{MemberID: noEmail.ID}, noEmail.ID); err != nil || got.Email != "" {
		t.Errorf("member without email: %+v, %v", got, err)
	}

	ms, err := e.ex.AddMembership(ctx, exchange.System(), tb.ID, ana.ID, exchange.RoleMember)
	if err != nil {
		t.Fatal(err)
	}
	joined := ms.CreatedAt
	// The same role again changes nothing.
	e.clock.Advance(time.Minute)
	again, err := e.ex.AddMembership(ctx, exchange.System(), tb.ID, ana.ID, exchange.RoleMember)
	if err != nil || again.Role != exchange.RoleMember || !again.CreatedAt.Equal(joined) {
		t.Errorf("same role again: %+v, %v", again, err)
	}
	e.join(t, city, ana, exchange.RoleMember)

	// A change of role updates it and keeps the date she joined.
	changed, err := e.ex.AddMembership(ctx, exchange.System(), tb.ID, ana.ID, exchange.RoleCoordinator)
	if err != nil || changed.Role != exchange.RoleCoordinator || !changed.CreatedAt.Equal(joined) {
		t.Errorf("role change: %+v, %v", changed, err)
	}

	got, err := e.ex.Member(ctx, exchange.Principal{MemberID: ana.ID}, ana.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Memberships) != 2 || got.Memberships[0].OrgID != tb.ID || got.Memberships[0].Role != exchange.RoleCoordinator ||
		got.Memberships[1].OrgID != city.ID || got.Memberships[1].Role != exchange.RoleMember {
		t.Errorf("memberships = %+v", got.Memberships)
	}
	if n := e.count(t, "memberships"); n != 2 {
		t.Errorf("%d membership rows, want 2", n)
	}
	list, err := e.ex.Memberships(ctx, ana.ID)
	if err != nil || len(list) != 2 {
		t.Errorf("Memberships = %+v, %v", list, err)
	}
	if list, err := e.ex.Memberships(ctx, noEmail.ID); err != nil || list == nil || len(list) != 0 {
		t.Errorf("Memberships of a member of nothing = %#v, %v", list, err)
	}

	// The role shows in the principal.
	p := e.principal(t, ana)
	if p.MemberID != ana.ID || p.Roles[tb.ID] != exchange.RoleCoordinator || p.Roles[city.ID] != exchange.RoleMember || p.Admin {
		t.Errorf("principal = %+v", p)
	}
}

func TestMemberRefusals(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	net := e.org(t, nil, exchange.KindNetwork, "Red Mutual")
	coop := e.org(t, &net, exchange.KindCoop, "Coop")
	ana := e.member(t, "Ana")

	for _, c := range []struct {
		name  string
		in    exchange.NewMember
		field string
	}{
		{"empty name", exchange.NewMember{Name: " "}, "name"},
		{"long name", exchange.NewMember{Name: strings.Repeat("a", 201)}, "name"},
		{"bad email", exchange.NewMember{Name: "A", Email: "not an email"}, "email"},
		{"display name in email", exchange.NewMember{Name: "A", Email: "Ana <ana@example.org>"}, "email"},
		{"long email", exchange.NewMember{Name: "A", Email: strings.Repeat("a", 250) + "@x.org"}, "email"},
	} {
		_, err := e.ex.CreateMember(ctx, exchange.System(), c.in)
		var le *ledger.Error
		if !errors.As(err, &le) || !errors.Is(err, ledger.ErrInvalidRequest) || le.Field != c.field {
			t.Errorf("%s: %v, want invalid %s", c.name, err, c.field)
		}
	}
	if _, err := e.ex.CreateMember(ctx, exchange.System(), exchange.NewMember{ID: ana.ID, Name: "Ana again"}); !errors.Is(err, errIDTaken) {
		t.Errorf("taken id: %v", err)
	}
	if n := e.count(t, "members"); n != 1 {
		t.Errorf("%d members after refusals, want 1", n)
	}

	for _, c := range []struct {
		name        string
		org, member uuid.UUID
		role        exchange.Role
		want        error
	}{
		{"unknown org", uuid.New(), ana.ID, exchange.RoleMember, exchange.ErrUnknownOrg},
		{"unknown member", coop.ID, uuid.New(), exchange.RoleMember, exchange.ErrUnknownMember},
		{"bad role", coop.ID, ana.ID, "owner", ledger.ErrInvalidRequest},
		{"admin off the network", coop.ID, ana.ID, exchange.RoleAdmin, ledger.ErrInvalidRequest},
	} {
		_, err := e.ex.AddMembership(ctx, exchange.System(), c.org, c.member, c.role)
		wantErr(t, c.name, err, c.want)
	}
	if n := e.count(t, "memberships"); n != 0 {
		t.Errorf("%d memberships after refusals, want 0", n)
	}
	if _, err := e.ex.AddMembership(ctx, exchange.System(), net.ID, ana.ID, exchange.RoleAdmin); err != nil {
		t.Errorf("admin on the network: %v", err)
	}
	if _, err := e.ex.Member(ctx, exchange.Principal{MemberID: uuid.New(), Admin: true}, uuid.New()); !errors.Is(err, exchange.ErrUnknownMember) {
		t.Errorf("unknown member: %v", err)
	}
	if _, err := e.ex.Memberships(ctx, uuid.New()); !errors.Is(err, exchange.ErrUnknownMember) {
		t.Errorf("memberships of an unknown member: %v", err)
	}
}

func TestOwnerStrings(t *testing.T) {
	id := uuid.MustParse("0190f1c2-7a3b-7cde-8f01-23456789abcd")
	if got := exchange.MemberOwner(id); got != "member:0190f1c2-7a3b-7cde-8f01-23456789abcd" {
		t.Errorf("MemberOwner = %q", got)
	}
	if got := exchange.OrgOwner(id); got != "org:0190f1c2-7a3b-7cde-8f01-23456789abcd" {
		t.Errorf("OrgOwner = %q", got)
	}
	for _, c := range []struct {
		owner string
		kind  string
		ok    bool
	}{
		{exchange.MemberOwner(id), exchange.OwnerMember, true},
		{exchange.OrgOwner(id), exchange.OwnerOrg, true},
		{"", "", false},
		{"member:", "", false},
		{"member:" + strings.ToUpper(id.String()), "", false},
		{"member:{" + id.String() + "}", "", false},
		{"member:urn:uuid:" + id.String(), "", false},
		{"member:" + uuid.Nil.String(), "", false},
		{"account:" + id.String(), "", false},
		{"org:" + id.String() + " ", "", false},
	} {
		kind, got, ok := exchange.ParseOwner(c.owner)
		if ok != c.ok || kind != c.kind || (ok && got != id) {
			t.Errorf("ParseOwner(%q) = %q, %s, %v", c.owner, kind, got, ok)
		}
	}
}

func TestOpenMemberAccount(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	if _, err := e.led.CreateUnit(ctx, ledger.Unit{Code: "HOUR", Scale: 2}); err != nil {
		t.Fatal(err)
	}
	net := e.org(t, nil, exchange.KindNetwork, "Red Mutual")
	tb := e.org(t, &net, exchange.KindTimebank, "Barrio Time Bank")
	ana, ben := e.member(t, "Ana"), e.member(t, "Ben")
	e.join(t, tb, ana, exchange.RoleMember)

	a, err := e.ex.OpenMemberAccount(ctx, exchange.System(), tb.ID, ana.ID, "HOUR", decimal.RequireFromString("20"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Owner != exchange.MemberOwner(ana.ID) || a.Kind != ledger.KindMember || a.Name != tb.Name ||
		a.LowerBound == nil || !a.LowerBound.Equal(decimal.RequireFromString("-20")) {
		t.Errorf("opened %+v", a)
	}
	for _, c := range []struct {
		name        string
		org, member uuid.UUID
		unit, limit string
		want        error
	}{
		{"not a member", tb.ID, ben.ID, "HOUR", "0", exchange.ErrNotAMember},
		{"unknown org", uuid.New(), ana.ID, "HOUR", "0", exchange.ErrUnknownOrg},
		{"unknown member", tb.ID, uuid.New(), "HOUR", "0", exchange.ErrUnknownMember},
		{"negative limit", tb.ID, ana.ID, "HOUR", "-1", ledger.ErrInvalidRequest},
		{"unknown unit", tb.ID, ana.ID, "KWH", "0", ledger.ErrUnknownUnit},
		{"too many decimals", tb.ID, ana.ID, "HOUR", "0.001", ledger.ErrTooManyDecimals},
	} {
		_, err := e.ex.OpenMemberAccount(ctx, exchange.System(), c.org, c.member, c.unit, decimal.RequireFromString(c.limit))
		wantErr(t, c.name, err, c.want)
	}
	if n := e.count(t, "accounts"); n != 1 {
		t.Errorf("%d accounts, want 1", n)
	}
}

// TestAdmitNewMember: a member made straight into an organization, or, when
// anything is refused, no member at all.
func TestAdmitNewMember(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	net := e.org(t, nil, exchange.KindNetwork, "Red Mutual")
	tb := e.org(t, &net, exchange.KindTimebank, "Barrio Time Bank")

	ana, err := e.ex.AdmitNewMember(ctx, exchange.System(), tb.ID, exchange.NewMember{Name: " Ana ", Email: "ana@example.org"}, exchange.RoleCoordinator)
	if err != nil {
		t.Fatal(err)
	}
	if ana.Name != "Ana" || ana.Email != "ana@example.org" || len(ana.Memberships) != 1 ||
		ana.Memberships[0].OrgID != tb.ID || ana.Memberships[0].Role != exchange.RoleCoordinator ||
		!ana.Memberships[0].CreatedAt.Equal(ana.CreatedAt) {
		t.Errorf("admitted %+v", ana)
	}
	got, err := e.ex.Member(ctx, exchange.Principal{MemberID: ana.ID}, ana.ID)
	if err != nil || len(got.Memberships) != 1 || got.Memberships[0] != ana.Memberships[0] {
		t.Errorf("Member = %+v, %v; want %+v", got, err, ana.Memberships)
	}

	for _, c := range []struct {
		name string
		org  uuid.UUID
		in   exchange.NewMember
		role exchange.Role
		want error
	}{
		{"unknown org", uuid.New(), exchange.NewMember{Name: "Ben"}, exchange.RoleMember, exchange.ErrUnknownOrg},
		{"admin off the network", tb.ID, exchange.NewMember{Name: "Ben"}, exchange.RoleAdmin, ledger.ErrInvalidRequest},
		{"bad role", tb.ID, exchange.NewMember{Name: "Ben"}, "owner", ledger.ErrInvalidRequest},
		{"bad email", tb.ID, exchange.NewMember{Name: "Ben", Email: "ben at home"}, exchange.RoleMember, ledger.ErrInvalidRequest},
		{"no name", tb.ID, exchange.NewMember{}, exchange.RoleMember, ledger.ErrInvalidRequest},
		{"id taken", tb.ID, exchange.NewMember{ID: ana.ID, Name: "Ana again"}, exchange.RoleMember, errIDTaken},
	} {
		_, err := e.ex.AdmitNewMember(ctx, exchange.System(), c.org, c.in, c.role)
		wantErr(t, c.name, err, c.want)
	}
	if n := e.count(t, "members"); n != 1 {
		t.Errorf("%d members after refusals, want 1: a refused admission left a member behind", n)
	}
	if n := e.count(t, "memberships"); n != 1 {
		t.Errorf("%d memberships after refusals, want 1", n)
	}
	if _, err := e.ex.AdmitNewMember(ctx, exchange.System(), net.ID, exchange.NewMember{Name: "Root"}, exchange.RoleAdmin); err != nil {
		t.Errorf("an admin on the network: %v", err)
	}
}

func TestOrgMembers(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	net := e.org(t, nil, exchange.KindNetwork, "Red Mutual")
	tb := e.org(t, &net, exchange.KindTimebank, "Barrio Time Bank")
	coop := e.org(t, &net, exchange.KindCoop, "Coop")
	var want []uuid.UUID
	for i := range 5 {
		m := e.member(t, "member "+string(rune('a'+i)))
		role := exchange.RoleMember
		if i == 0 {
			role = exchange.RoleCoordinator
		}
		e.join(t, tb, m, role)
		want = append(want, m.ID)
	}
	e.join(t, coop, e.member(t, "elsewhere"), exchange.RoleMember)

	// The network admin, as the rules see them.
	admin := exchange.Principal{MemberID: uuid.New(), Admin: true}
	var got []exchange.OrgMember
	pages := 0
	for after := uuid.Nil; ; pages++ {
		page, next, err := e.ex.OrgMembers(ctx, admin, tb.ID, exchange.Page{Limit: 2, After: after})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if next == uuid.Nil {
			break
		}
		after = next
	}
	if len(got) != len(want) || pages != 2 {
		t.Fatalf("listed %d members in %d pages after the first, want %d in 2", len(got), pages, len(want))
	}
	for i, m := range got {
		if m.MemberID != want[i] || m.Name != "member "+string(rune('a'+i)) || m.JoinedAt.IsZero() {
			t.Errorf("member %d = %+v, want %s", i, m, want[i])
		}
	}
	if got[0].Role != exchange.RoleCoordinator || got[1].Role != exchange.RoleMember {
		t.Errorf("roles %s, %s", got[0].Role, got[1].Role)
	}
	// An organization with no members of its own (the network here) lists
	// none, not those under it.
	if ms, next, err := e.ex.OrgMembers(ctx, admin, net.ID, exchange.Page{}); err != nil || ms == nil || len(ms) != 0 || next != uuid.Nil {
		t.Errorf("the network's members: %v, %s, %v", ms, next, err)
	}
	if _, _, err := e.ex.OrgMembers(ctx, admin, uuid.New(), exchange.Page{}); !errors.Is(err, exchange.ErrUnknownOrg) {
		t.Errorf("an unknown org: %v", err)
	}
	if _, _, err := e.ex.OrgMembers(ctx, admin, tb.ID, exchange.Page{Limit: exchange.MaxLimit + 1}); !errors.Is(err, ledger.ErrInvalidRequest) {
		t.Errorf("a limit too large: %v", err)
	}
}
