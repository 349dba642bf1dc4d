package exchange_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

// confederation is a network of two cities in two regions:
//
//	network (admin)
//	├── local "Oaxaca" (mx-south; coordinator oaxaca)
//	│   ├── timebank "Barrio" (coordinator barrio)
//	│   │   └── council "Calle 5"
//	│   └── coop "Café"
//	└── local "Lyon" (eu-west1; coordinator lyon)
//	    └── coop "Pain"
//
// Every organization has an HOUR and a USD account (opened through the
// exchange, which writes their region); the network's USD account is where
// dollars come from.
type confederation struct {
	net, oaxaca, barrio, calle, cafe, lyon, pain exchange.Org
	admin, coordOaxaca, coordBarrio, coordLyon   exchange.Principal
	acct                                         map[uuid.UUID]map[string]ledger.Account // org → unit → account
}

func newConfederation(t *testing.T, e env) *confederation {
	t.Helper()
	ctx := context.Background()
	c := &confederation{acct: make(map[uuid.UUID]map[string]ledger.Account)}
	org := func(parent *exchange.Org, kind exchange.Kind, name, region string) exchange.Org {
		in := exchange.NewOrg{Name: name, Kind: kind, Region: region}
		if parent != nil {
			in.ParentID = &parent.ID
		}
		o, err := e.ex.CreateOrg(ctx, exchange.System(), in)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	c.net = org(nil, exchange.KindNetwork, "Red", "")
	c.oaxaca = org(&c.net, exchange.KindLocal, "Oaxaca", "mx-south")
	c.barrio = org(&c.oaxaca, exchange.KindTimebank, "Barrio", "")
	c.calle = org(&c.barrio, exchange.KindCouncil, "Calle 5", "")
	c.cafe = org(&c.oaxaca, exchange.KindCoop, "Café", "")
	c.lyon = org(&c.net, exchange.KindLocal, "Lyon", "eu-west1")
	c.pain = org(&c.lyon, exchange.KindCoop, "Pain", "")
	person := func(name string, o exchange.Org, role exchange.Role) exchange.Principal {
		m := e.member(t, name)
		e.join(t, o, m, role)
		return e.principal(t, m)
	}
	c.admin = person("Admin", c.net, exchange.RoleAdmin)
	c.coordOaxaca = person("Olga", c.oaxaca, exchange.RoleCoordinator)
	c.coordBarrio = person("Beto", c.barrio, exchange.RoleCoordinator)
	c.coordLyon = person("Louise", c.lyon, exchange.RoleCoordinator)
	for _, u := range []ledger.Unit{{Code: "HOUR", Scale: 2}, {Code: "USD", Scale: 2}} {
		if _, err := e.ex.CreateUnit(ctx, c.admin, u); err != nil {
			t.Fatal(err)
		}
	}
	credit := money("-1000")
	for _, o := range []exchange.Org{c.net, c.oaxaca, c.barrio, c.calle, c.cafe, c.lyon, c.pain} {
		c.acct[o.ID] = make(map[string]ledger.Account)
		for _, unit := range []string{"HOUR", "USD"} {
			in := ledger.NewAccount{Unit: unit, Owner: exchange.OrgOwner(o.ID), Kind: ledger.KindOrganization, LowerBound: &credit,
				Region: "somewhere-else" /* a request's region is not the store's */}
			if o.ID == c.net.ID && unit == "USD" {
				in.Kind, in.LowerBound = ledger.KindExternal, nil
			}
			a, err := e.ex.OpenAccount(ctx, c.admin, in, uuid.Nil)
			if err != nil {
				t.Fatal(err)
			}
			c.acct[o.ID][unit] = a
		}
	}
	return c
}

func (c *confederation) pay(t *testing.T, e env, from, to exchange.Org, unit, amount string) ledger.Transfer {
	t.Helper()
	tr, err := e.ex.Transfer(context.Background(), c.admin, ledger.TransferRequest{Postings: []ledger.Posting{{
		From: c.acct[from.ID][unit].ID, To: c.acct[to.ID][unit].ID, Amount: money(amount), Unit: unit}}})
	if err != nil {
		t.Fatalf("%s %s from %s to %s: %v", amount, unit, from.Name, to.Name, err)
	}
	return tr
}

// TestRegionsFollowTheOwner: an organization without a region takes its
// parent's; every account, entry, transfer, listing and membership carries
// its owner's region, whatever the request said; a transfer between two
// cities is one transaction whose entries each live in their account's
// region.
func TestRegionsFollowTheOwner(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	c := newConfederation(t, e)
	for _, x := range []struct {
		o    exchange.Org
		want string
	}{{c.net, ""}, {c.oaxaca, "mx-south"}, {c.barrio, "mx-south"}, {c.calle, "mx-south"}, {c.pain, "eu-west1"}} {
		if x.o.Region != x.want {
			t.Errorf("%s: region %q, want %q", x.o.Name, x.o.Region, x.want)
		}
		if a := c.acct[x.o.ID]["HOUR"]; a.Region != x.want {
			t.Errorf("%s's account: region %q, want %q", x.o.Name, a.Region, x.want)
		}
	}
	tr := c.pay(t, e, c.calle, c.pain, "HOUR", "3")
	rows, err := e.pool.Query(ctx, `SELECT account_id, region FROM entries WHERE transfer_id = $1`, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[uuid.UUID]string{}
	var id uuid.UUID
	var region string
	if _, err := pgx.ForEachRow(rows, []any{&id, &region}, func() error { got[id] = region; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[c.acct[c.calle.ID]["HOUR"].ID] != "mx-south" || got[c.acct[c.pain.ID]["HOUR"].ID] != "eu-west1" {
		t.Errorf("the entries of a transfer from Oaxaca to Lyon: %v", got)
	}
	if err := e.pool.QueryRow(ctx, `SELECT region FROM transfers WHERE id = $1`, tr.ID).Scan(&region); err != nil || region != "mx-south" {
		t.Errorf("the transfer lives in %q (%v), want the paying account's mx-south", region, err)
	}
	// A listing and a membership of Lyon's co-op.
	m := e.member(t, "Paul")
	e.join(t, c.pain, m, exchange.RoleMember)
	start := e.clock.Now().Add(24 * time.Hour)
	l, err := e.ex.CreateListing(ctx, exchange.System(), exchange.NewListing{OrgID: c.pain.ID, Owner: m.ID, Kind: exchange.Offer, Title: "Bread",
		Category: "food", Quantity: money("1"), Start: start, End: start.Add(time.Hour), Visibility: exchange.VisibilityPublic})
	if err != nil {
		t.Fatal(err)
	}
	for what, q := range map[string]string{
		"listing":    `SELECT region FROM listings WHERE id = '` + l.ID.String() + `'`,
		"membership": `SELECT region FROM memberships WHERE member_id = '` + m.ID.String() + `'`,
	} {
		if err := e.pool.QueryRow(ctx, q).Scan(&region); err != nil || region != "eu-west1" {
			t.Errorf("%s: region %q (%v), want eu-west1", what, region, err)
		}
	}
	// A malformed region is refused and makes nothing.
	before := e.count(t, "orgs")
	_, err = e.ex.CreateOrg(ctx, exchange.System(), exchange.NewOrg{Name: "Bad", Kind: exchange.KindCoop, ParentID: &c.lyon.ID, Region: "EU West"})
	wantErr(t, "region with capitals and a space", err, ledger.ErrInvalidRequest)
	if e.count(t, "orgs") != before {
		t.Error("a refused organization was written")
	}
}

// TestSetOrgRegionMovesTheRows: the admin moves Oaxaca to another region;
// its time bank and council, which had inherited its region, move with it,
// and so do their accounts and the entries on them, in one transaction;
// Lyon's rows stay. Anyone else is refused and nothing moves.
func TestSetOrgRegionMovesTheRows(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	c := newConfederation(t, e)
	c.pay(t, e, c.calle, c.pain, "HOUR", "2")
	c.pay(t, e, c.net, c.cafe, "USD", "50")

	_, err := e.ex.SetOrgRegion(ctx, c.coordOaxaca, c.oaxaca.ID, "mx-central")
	wantErr(t, "a coordinator moving their city", err, exchange.ErrForbidden)
	_, err = e.ex.SetOrgRegion(ctx, c.admin, c.oaxaca.ID, "MX")
	wantErr(t, "a malformed region", err, ledger.ErrInvalidRequest)
	regionCount := func(region string) (orgs, accounts, entries int) {
		t.Helper()
		err := e.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM orgs WHERE region = $1), (SELECT count(*) FROM accounts WHERE region = $1),
			(SELECT count(*) FROM entries WHERE region = $1)`, region).Scan(&orgs, &accounts, &entries)
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	o1, a1, n1 := regionCount("mx-south")
	if o1 != 4 || a1 != 8 || n1 != 2 {
		t.Fatalf("before: %d organizations, %d accounts, %d entries in mx-south", o1, a1, n1)
	}

	moved, err := e.ex.SetOrgRegion(ctx, c.admin, c.oaxaca.ID, "mx-central")
	if err != nil || moved.Region != "mx-central" {
		t.Fatalf("moving Oaxaca: %+v, %v", moved, err)
	}
	if o, a, n := regionCount("mx-south"); o+a+n != 0 {
		t.Errorf("left in mx-south: %d organizations, %d accounts, %d entries", o, a, n)
	}
	if o, a, n := regionCount("mx-central"); o != 4 || a != 8 || n != 2 {
		t.Errorf("in mx-central: %d organizations, %d accounts, %d entries; want 4, 8, 2", o, a, n)
	}
	if o, a, n := regionCount("eu-west1"); o != 2 || a != 4 || n != 1 {
		t.Errorf("in eu-west1: %d organizations, %d accounts, %d entries; want 2, 4, 1 (Lyon stays)", o, a, n)
	}
	var region string
	if err := e.pool.QueryRow(ctx, `SELECT region FROM memberships WHERE org_id = $1`, c.oaxaca.ID).Scan(&region); err != nil || region != "mx-central" {
		t.Errorf("Oaxaca's coordinator's membership: %q, %v", region, err)
	}
	// A council given a region of its own stays where it is when its
	// city moves again.
	if _, err := e.ex.SetOrgRegion(ctx, c.admin, c.calle.ID, "mx-north"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ex.SetOrgRegion(ctx, c.admin, c.oaxaca.ID, "mx-south"); err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		o    exchange.Org
		want string
	}{{c.oaxaca, "mx-south"}, {c.barrio, "mx-south"}, {c.calle, "mx-north"}, {c.cafe, "mx-south"}} {
		o, err := e.ex.Org(ctx, c.admin, x.o.ID)
		if err != nil || o.Region != x.want {
			t.Errorf("%s: region %q (%v), want %q", x.o.Name, o.Region, err, x.want)
		}
	}
}

// TestRollupTotalsAreTheSubtreesBalances: a city's roll-up, now and at a
// past instant, equals the balances of its organizations' accounts read
// one by one, for the whole subtree, the city's own accounts and each
// child's subtree; an organization outside the caller's subtree answers
// as one that does not exist.
func TestRollupTotalsAreTheSubtreesBalances(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	c := newConfederation(t, e)
	c.pay(t, e, c.net, c.cafe, "USD", "500")
	c.pay(t, e, c.cafe, c.calle, "USD", "120.50")
	c.pay(t, e, c.calle, c.pain, "HOUR", "3")
	c.pay(t, e, c.barrio, c.oaxaca, "HOUR", "1.25")
	// A neighbor of Calle 5 with an account opened for it: a member's
	// account counts in its organization's roll-up, as the org's own do.
	neighbor, err := e.ex.AdmitNewMember(ctx, exchange.System(), c.calle.ID, exchange.NewMember{Name: "Rosa"}, exchange.RoleMember)
	if err != nil {
		t.Fatal(err)
	}
	hours, err := e.ex.OpenMemberAccount(ctx, exchange.System(), c.calle.ID, neighbor.ID, "HOUR", money("10"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ex.Transfer(ctx, c.admin, ledger.TransferRequest{Postings: []ledger.Posting{{
		From: hours.ID, To: c.acct[c.pain.ID]["HOUR"].ID, Amount: money("2.5"), Unit: "HOUR"}}}); err != nil {
		t.Fatal(err)
	}
	c.acct[neighbor.ID] = map[string]ledger.Account{"HOUR": hours}
	members := map[uuid.UUID][]uuid.UUID{c.calle.ID: {neighbor.ID}}
	e.clock.Advance(time.Hour)
	past := e.clock.Now()
	e.clock.Advance(time.Hour)
	c.pay(t, e, c.pain, c.barrio, "HOUR", "7")
	c.pay(t, e, c.cafe, c.lyon, "USD", "30")
	c.pay(t, e, c.net, c.calle, "USD", "9.99")
	e.clock.Advance(time.Minute)

	// expected sums the balances of the accounts of orgs and of their
	// members' accounts opened for them, each read alone, and counts them.
	expected := func(at time.Time, orgs ...exchange.Org) (map[string]decimal.Decimal, map[string]int) {
		t.Helper()
		out, n := map[string]decimal.Decimal{}, map[string]int{}
		for _, o := range orgs {
			for _, owner := range append([]uuid.UUID{o.ID}, members[o.ID]...) {
				for unit, a := range c.acct[owner] {
					var bal decimal.Decimal
					if at.IsZero() {
						acc, err := e.led.Account(ctx, a.ID)
						if err != nil {
							t.Fatal(err)
						}
						bal = acc.Posted
					} else {
						var err error
						if bal, err = e.led.BalanceAt(ctx, a.ID, at); err != nil {
							t.Fatal(err)
						}
					}
					out[unit] = out[unit].Add(bal)
					n[unit]++
				}
			}
		}
		return out, n
	}
	check := func(what string, got []exchange.UnitTotal, want map[string]decimal.Decimal, accounts map[string]int) {
		t.Helper()
		if len(got) != len(want) {
			t.Errorf("%s: %d units, want %d: %+v", what, len(got), len(want), got)
		}
		for _, u := range got {
			if !u.Balance.Equal(want[u.Unit]) || u.Accounts != accounts[u.Unit] {
				t.Errorf("%s: %s %s in %d accounts, want %s in %d", what, u.Balance, u.Unit, u.Accounts, want[u.Unit], accounts[u.Unit])
			}
		}
	}
	for _, at := range []time.Time{{}, past} {
		name := "now"
		if !at.IsZero() {
			name = "at " + at.Format(time.RFC3339)
		}
		r, err := e.ex.Rollup(ctx, c.coordOaxaca, c.oaxaca.ID, at)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r.Orgs != 4 || len(r.Children) != 2 || r.Children[0].Org.ID != c.barrio.ID || r.Children[1].Org.ID != c.cafe.ID ||
			r.Children[0].Orgs != 2 || r.Children[1].Orgs != 1 {
			t.Fatalf("%s: the tree: %d organizations, children %+v", name, r.Orgs, r.Children)
		}
		checkOf := func(what string, got []exchange.UnitTotal, orgs ...exchange.Org) {
			t.Helper()
			want, n := expected(at, orgs...)
			check(what, got, want, n)
		}
		checkOf(name+": Oaxaca's subtree", r.Totals, c.oaxaca, c.barrio, c.calle, c.cafe)
		checkOf(name+": Oaxaca's own", r.Own, c.oaxaca)
		checkOf(name+": Barrio and Calle 5", r.Children[0].Totals, c.barrio, c.calle)
		checkOf(name+": Café", r.Children[1].Totals, c.cafe)
		if !at.IsZero() && !r.At.Equal(at) {
			t.Errorf("%s: read at %s", name, r.At)
		}
		// The network sees both cities, and its whole tree sums to zero in
		// every unit (double entry).
		n, err := e.ex.Rollup(ctx, c.admin, c.net.ID, at)
		if err != nil {
			t.Fatal(err)
		}
		if n.Orgs != 7 || len(n.Children) != 2 || n.Children[0].Org.ID != c.lyon.ID || n.Children[1].Org.ID != c.oaxaca.ID {
			t.Errorf("%s: the network's children: %+v", name, n.Children)
		}
		for _, u := range n.Totals {
			if want := map[string]int{"HOUR": 8, "USD": 7}[u.Unit]; !u.Balance.IsZero() || u.Accounts != want {
				t.Errorf("%s: the whole ledger holds %s %s in %d accounts", name, u.Balance, u.Unit, u.Accounts)
			}
		}
		checkOf(name+": Lyon from the network", n.Children[0].Totals, c.lyon, c.pain)
	}
	// The past really is the past: Barrio has received 7 hours since.
	now, _ := e.ex.Rollup(ctx, c.coordBarrio, c.barrio.ID, time.Time{})
	then, _ := e.ex.Rollup(ctx, c.coordBarrio, c.barrio.ID, past)
	if d := now.Own[0].Balance.Sub(then.Own[0].Balance); now.Own[0].Unit != "HOUR" || !d.Equal(money("7")) {
		t.Errorf("Barrio's own hours rose by %s since %s, want 7", d, past)
	}

	for _, x := range []struct {
		what string
		p    exchange.Principal
		org  exchange.Org
		want error
	}{
		{"Lyon's coordinator, Oaxaca", c.coordLyon, c.oaxaca, exchange.ErrNotVisible},
		{"Barrio's coordinator, its parent Oaxaca", c.coordBarrio, c.oaxaca, exchange.ErrNotVisible},
		{"Barrio's coordinator, Lyon's co-op", c.coordBarrio, c.pain, exchange.ErrNotVisible},
		{"Oaxaca's coordinator, its grandchild", c.coordOaxaca, c.calle, nil},
		{"the admin, Lyon", c.admin, c.lyon, nil},
	} {
		_, err := e.ex.Rollup(ctx, x.p, x.org.ID, time.Time{})
		wantErr(t, x.what, err, x.want)
	}
	_, err = e.ex.Rollup(ctx, c.admin, uuid.New(), time.Time{})
	wantErr(t, "an organization that does not exist", err, exchange.ErrUnknownOrg)
	_, err = e.ex.Rollup(ctx, c.admin, c.net.ID, e.clock.Now().Add(time.Second))
	wantErr(t, "an instant in the future", err, ledger.ErrInvalidRequest)
}

// TestSubtreeStatement: a statement of Oaxaca's subtree lists the accounts
// of its four organizations, each naming its organization, with every
// closing balance its opening plus its entries.
func TestSubtreeStatement(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	c := newConfederation(t, e)
	c.pay(t, e, c.net, c.cafe, "USD", "500")
	c.pay(t, e, c.cafe, c.calle, "USD", "120.50")
	c.pay(t, e, c.calle, c.pain, "HOUR", "3")

	st, err := e.ex.SubtreeStatement(ctx, c.coordOaxaca, c.oaxaca.ID, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if !st.Subtree || len(st.Accounts) != 8 {
		t.Fatalf("subtree %v, %d accounts, want 8", st.Subtree, len(st.Accounts))
	}
	orgs := map[uuid.UUID]int{}
	entries := 0
	for _, a := range st.Accounts {
		orgs[a.OrgID]++
		sum := a.Opening
		for _, en := range a.Entries {
			sum = sum.Add(en.Amount)
		}
		if !sum.Equal(a.Closing) || c.acct[a.OrgID][a.Unit].ID != a.ID {
			t.Errorf("account %s of %s: opening %s plus entries %s, closing %s", a.ID, a.OrgID, a.Opening, sum, a.Closing)
		}
		entries += len(a.Entries)
	}
	if len(orgs) != 4 || orgs[c.calle.ID] != 2 || entries != 4 {
		t.Errorf("accounts by organization %v, %d entries; want 2 for each of 4, and 4 entries", orgs, entries)
	}
	own, err := e.ex.Statement(ctx, c.coordOaxaca, c.oaxaca.ID, time.Time{}, time.Time{})
	if err != nil || own.Subtree || len(own.Accounts) != 2 {
		t.Errorf("Oaxaca's own statement: subtree %v, %d accounts, %v", own.Subtree, len(own.Accounts), err)
	}
	_, err = e.ex.SubtreeStatement(ctx, c.coordLyon, c.oaxaca.ID, time.Time{}, time.Time{})
	wantErr(t, "Lyon's coordinator, Oaxaca's subtree", err, exchange.ErrNotVisible)
}
