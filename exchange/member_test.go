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

	ana, err := e.ex.CreateMember(ctx, exchange.NewMember{Name: "Ana López", Email: "ana@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if ana.Name != "Ana López" || ana.Email != "ana@example.org" || ana.Memberships == nil || len(ana.Memberships) != 0 {
		t.Errorf("created %+v", ana)
	}
	noEmail := e.member(t, "Ben")
	if got, err := e.ex.Member(ctx, noEmail.ID); err != nil || got.Email != "" {
		t.Errorf("member without email: %+v, %v", got, err)
	}

	ms, err := e.ex.AddMembership(ctx, tb.ID, ana.ID, exchange.RoleMember)
	if err != nil {
		t.Fatal(err)
	}
	joined := ms.CreatedAt
	// The same role again changes nothing.
	e.clock.Advance(time.Minute)
	again, err := e.ex.AddMembership(ctx, tb.ID, ana.ID, exchange.RoleMember)
	if err != nil || again.Role != exchange.RoleMember || !again.CreatedAt.Equal(joined) {
		t.Errorf("same role again: %+v, %v", again, err)
	}
	e.join(t, city, ana, exchange.RoleMember)

	// A change of role updates it and keeps the date she joined.
	changed, err := e.ex.AddMembership(ctx, tb.ID, ana.ID, exchange.RoleCoordinator)
	if err != nil || changed.Role != exchange.RoleCoordinator || !changed.CreatedAt.Equal(joined) {
		t.Errorf("role change: %+v, %v", changed, err)
	}

	got, err := e.ex.Member(ctx, ana.ID)
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
		_, err := e.ex.CreateMember(ctx, c.in)
		var le *ledger.Error
		if !errors.As(err, &le) || !errors.Is(err, ledger.ErrInvalidRequest) || le.Field != c.field {
			t.Errorf("%s: %v, want invalid %s", c.name, err, c.field)
		}
	}
	if _, err := e.ex.CreateMember(ctx, exchange.NewMember{ID: ana.ID, Name: "Ana again"}); !errors.Is(err, errIDTaken) {
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
		_, err := e.ex.AddMembership(ctx, c.org, c.member, c.role)
		wantErr(t, c.name, err, c.want)
	}
	if n := e.count(t, "memberships"); n != 0 {
		t.Errorf("%d memberships after refusals, want 0", n)
	}
	if _, err := e.ex.AddMembership(ctx, net.ID, ana.ID, exchange.RoleAdmin); err != nil {
		t.Errorf("admin on the network: %v", err)
	}
	if _, err := e.ex.Member(ctx, uuid.New()); !errors.Is(err, exchange.ErrUnknownMember) {
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

	a, err := e.ex.OpenMemberAccount(ctx, tb.ID, ana.ID, "HOUR", decimal.RequireFromString("20"))
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
		_, err := e.ex.OpenMemberAccount(ctx, c.org, c.member, c.unit, decimal.RequireFromString(c.limit))
		wantErr(t, c.name, err, c.want)
	}
	if n := e.count(t, "accounts"); n != 1 {
		t.Errorf("%d accounts, want 1", n)
	}
}
