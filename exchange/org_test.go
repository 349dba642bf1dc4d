package exchange_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

// errIDTaken is how a create with a taken id fails: a conflict, about the
// request (as the ledger reports a taken account id).
var errIDTaken = &ledger.Error{Code: ledger.ECONFLICT, Reason: ledger.ReasonInvalidRequest}

func TestOrgTree(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	anyone := e.principal(t, e.member(t, "Anyone"))
	net := e.org(t, nil, exchange.KindNetwork, "Red Mutual")
	city := e.org(t, &net, exchange.KindLocal, "Asamblea de Oaxaca")
	tb, err := e.ex.CreateOrg(ctx, exchange.System(), exchange.NewOrg{
		ParentID: &city.ID, Name: "  Barrio Time Bank ", Kind: exchange.KindTimebank,
		City: "Oaxaca", Region: "mx-south", Membership: exchange.PartnerOrganization,
	})
	if err != nil {
		t.Fatal(err)
	}
	if tb.Name != "Barrio Time Bank" || tb.City != "Oaxaca" || tb.Region != "mx-south" ||
		tb.Membership != exchange.PartnerOrganization || *tb.ParentID != city.ID || tb.CreatedAt.IsZero() {
		t.Errorf("created %+v", tb)
	}
	if city.Membership != exchange.MemberOrganization || city.Region != "" {
		t.Errorf("defaults: %+v", city)
	}

	got, err := e.ex.Org(ctx, anyone, tb.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != tb.Name || got.Kind != tb.Kind || *got.ParentID != city.ID || !got.CreatedAt.Equal(tb.CreatedAt) {
		t.Errorf("Org = %+v, want %+v", got, tb)
	}
	if _, err := e.ex.Org(ctx, anyone, uuid.New()); !errors.Is(err, exchange.ErrUnknownOrg) {
		t.Errorf("unknown org: %v", err)
	}

	anc, err := e.ex.Ancestors(ctx, tb.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(anc) != 2 || anc[0].ID != city.ID || anc[1].ID != net.ID {
		t.Errorf("ancestors of the time bank = %v, want the city then the network", anc)
	}
	if anc, err := e.ex.Ancestors(ctx, net.ID); err != nil || len(anc) != 0 {
		t.Errorf("ancestors of the network = %v, %v", anc, err)
	}
	if _, err := e.ex.Ancestors(ctx, uuid.New()); !errors.Is(err, exchange.ErrUnknownOrg) {
		t.Errorf("ancestors of an unknown org: %v", err)
	}
	if n, err := e.ex.Network(ctx); err != nil || n.ID != net.ID {
		t.Errorf("Network = %v, %v", n.ID, err)
	}
}

// TestOrgRefusals tries each way of breaking the tree's rules: each is refused
// with its error, and nothing is written.
func TestOrgRefusals(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	net := e.org(t, nil, exchange.KindNetwork, "Red Mutual")
	city := e.org(t, &net, exchange.KindLocal, "Oaxaca")
	missing := uuid.New()
	taken := city.ID
	cases := []struct {
		name  string
		in    exchange.NewOrg
		want  error
		field string
	}{
		{"second network", exchange.NewOrg{Name: "Another", Kind: exchange.KindNetwork}, exchange.ErrNetworkExists, ""},
		{"network with a parent", exchange.NewOrg{Name: "N", Kind: exchange.KindNetwork, ParentID: &net.ID}, ledger.ErrInvalidRequest, "parent_id"},
		{"no parent", exchange.NewOrg{Name: "Orphan", Kind: exchange.KindCoop}, ledger.ErrInvalidRequest, "parent_id"},
		{"unknown parent", exchange.NewOrg{Name: "Lost", Kind: exchange.KindCoop, ParentID: &missing}, exchange.ErrUnknownOrg, "parent_id"},
		{"bad kind", exchange.NewOrg{Name: "X", Kind: "club", ParentID: &net.ID}, ledger.ErrInvalidRequest, "kind"},
		{"no kind", exchange.NewOrg{Name: "X", ParentID: &net.ID}, ledger.ErrInvalidRequest, "kind"},
		{"empty name", exchange.NewOrg{Name: "", Kind: exchange.KindCoop, ParentID: &net.ID}, ledger.ErrInvalidRequest, "name"},
		{"blank name", exchange.NewOrg{Name: "  \t", Kind: exchange.KindCoop, ParentID: &net.ID}, ledger.ErrInvalidRequest, "name"},
		{"long name", exchange.NewOrg{Name: strings.Repeat("é", 201), Kind: exchange.KindCoop, ParentID: &net.ID}, ledger.ErrInvalidRequest, "name"},
		{"bad utf-8 name", exchange.NewOrg{Name: "co\xffop", Kind: exchange.KindCoop, ParentID: &net.ID}, ledger.ErrInvalidRequest, "name"},
		{"long city", exchange.NewOrg{Name: "C", City: strings.Repeat("x", 201), Kind: exchange.KindCoop, ParentID: &net.ID}, ledger.ErrInvalidRequest, "city"},
		{"long region", exchange.NewOrg{Name: "C", Region: strings.Repeat("x", 65), Kind: exchange.KindCoop, ParentID: &net.ID}, ledger.ErrInvalidRequest, "region"},
		{"bad membership", exchange.NewOrg{Name: "C", Membership: "friend", Kind: exchange.KindCoop, ParentID: &net.ID}, ledger.ErrInvalidRequest, "membership"},
		{"own parent", exchange.NewOrg{ID: missing, Name: "C", Kind: exchange.KindCoop, ParentID: &missing}, ledger.ErrInvalidRequest, "parent_id"},
		{"id taken", exchange.NewOrg{ID: taken, Name: "C", Kind: exchange.KindCoop, ParentID: &net.ID}, errIDTaken, "id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.count(t, "orgs")
			_, err := e.ex.CreateOrg(ctx, exchange.System(), c.in)
			wantErr(t, c.name, err, c.want)
			var le *ledger.Error
			if errors.As(err, &le) && le.Field != c.field {
				t.Errorf("field = %q, want %q", le.Field, c.field)
			}
			if after := e.count(t, "orgs"); after != before {
				t.Errorf("%d orgs before, %d after a refused create", before, after)
			}
		})
	}
	// A name of exactly 200 characters, not ASCII, is fine.
	if _, err := e.ex.CreateOrg(ctx, exchange.System(), exchange.NewOrg{Name: strings.Repeat("é", 200), Kind: exchange.KindCoop, ParentID: &city.ID}); err != nil {
		t.Errorf("a 200-character name: %v", err)
	}
}

// TestSchemaBacksTheRules writes around the store: the schema alone refuses a
// second network, a root that is not a network, a network with a parent, and
// bad kinds, names, roles and hashes, each by its own constraint.
func TestSchemaBacksTheRules(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	net := e.org(t, nil, exchange.KindNetwork, "Red Mutual")
	m := e.member(t, "Ana")
	const check, unique = "23514", "23505"
	for _, c := range []struct {
		name string
		sql  string
		args []any
		code string
	}{
		{"second network", `INSERT INTO orgs (id, name, kind, created_at) VALUES ($1, 'N2', 'network', now())`, []any{uuid.New()}, unique},
		{"root coop", `INSERT INTO orgs (id, name, kind, created_at) VALUES ($1, 'C', 'coop', now())`, []any{uuid.New()}, check},
		{"network child", `INSERT INTO orgs (id, parent_id, name, kind, created_at) VALUES ($1, $2, 'N', 'network', now())`, []any{uuid.New(), net.ID}, check},
		{"bad kind", `INSERT INTO orgs (id, parent_id, name, kind, created_at) VALUES ($1, $2, 'X', 'club', now())`, []any{uuid.New(), net.ID}, check},
		{"empty name", `INSERT INTO orgs (id, parent_id, name, kind, created_at) VALUES ($1, $2, '', 'coop', now())`, []any{uuid.New(), net.ID}, check},
		{"empty member name", `INSERT INTO members (id, name, created_at) VALUES ($1, '', now())`, []any{uuid.New()}, check},
		{"bad role", `INSERT INTO memberships (org_id, member_id, role, created_at) VALUES ($1, $2, 'owner', now())`, []any{net.ID, m.ID}, check},
		{"short hash", `INSERT INTO tokens (id, member_id, name, hash, created_at) VALUES ($1, $2, 'x', '\x00', now())`, []any{uuid.New(), m.ID}, check},
	} {
		_, err := e.pool.Exec(ctx, c.sql, c.args...)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != c.code {
			t.Errorf("%s: err = %v, want SQLSTATE %s", c.name, err, c.code)
		}
	}
	if n := e.count(t, "orgs"); n != 1 {
		t.Errorf("%d orgs, want 1", n)
	}
}

func TestOrgsPagination(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	anyone := e.principal(t, e.member(t, "Anyone"))
	net := e.org(t, nil, exchange.KindNetwork, "Red Mutual")
	want := []uuid.UUID{net.ID}
	for i := range 6 {
		want = append(want, e.org(t, &net, exchange.KindCoop, "coop "+string(rune('a'+i))).ID)
	}
	var got []uuid.UUID
	pages := 0
	for after := uuid.Nil; ; pages++ {
		orgs, next, err := e.ex.Orgs(ctx, anyone, exchange.Page{Limit: 3, After: after})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range orgs {
			got = append(got, o.ID)
		}
		if next == uuid.Nil {
			break
		}
		after = next
	}
	if len(got) != len(want) {
		t.Fatalf("listed %d orgs, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] { // UUIDv7: id order is creation order
			t.Errorf("org %d = %s, want %s", i, got[i], want[i])
		}
	}
	if pages != 2 {
		t.Errorf("%d pages after the first, want 2 (3+3+1)", pages)
	}
	// A page that ends exactly at the last org says there is no next one.
	if _, next, err := e.ex.Orgs(ctx, anyone, exchange.Page{Limit: 7}); err != nil || next != uuid.Nil {
		t.Errorf("full page: next = %s, %v", next, err)
	}
	if orgs, _, err := e.ex.Orgs(ctx, anyone, exchange.Page{}); err != nil || len(orgs) != 7 {
		t.Errorf("default page: %d orgs, %v", len(orgs), err)
	}
	for _, limit := range []int{-1, exchange.MaxLimit + 1} {
		if _, _, err := e.ex.Orgs(ctx, anyone, exchange.Page{Limit: limit}); !errors.Is(err, ledger.ErrInvalidRequest) {
			t.Errorf("limit %d: %v", limit, err)
		}
	}
}
