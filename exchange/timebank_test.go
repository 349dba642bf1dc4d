package exchange_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

// timebankEnv is a network with a time bank under it, its coordinator, and
// the HOUR unit (scale 2).
func timebankEnv(t *testing.T) (env, exchange.Org, exchange.Member) {
	t.Helper()
	e := newEnv(t)
	network := e.org(t, nil, exchange.KindNetwork, "Network")
	tb := e.org(t, &network, exchange.KindTimebank, "Riverside time bank")
	coord := e.member(t, "Tess")
	e.join(t, tb, coord, exchange.RoleCoordinator)
	if _, err := e.led.CreateUnit(context.Background(), ledger.Unit{Code: "HOUR", Scale: 2, Name: "hour"}); err != nil {
		t.Fatal(err)
	}
	return e, tb, coord
}

func hours(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func TestSetTimebankRulesRefusesBadRules(t *testing.T) {
	t.Parallel()
	e, tb, coord := timebankEnv(t)
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		orgID uuid.UUID
		in    exchange.TimebankSettings
		want  error
		field string
	}{
		{"negative credit limit", tb.ID, exchange.TimebankSettings{CreditLimit: hours("-1")}, ledger.ErrInvalidRequest, "credit_limit"},
		{"zero cap", tb.ID, exchange.TimebankSettings{CreditLimit: hours("10"), Cap: ptr(hours("0"))}, ledger.ErrInvalidRequest, "cap"},
		{"negative cap", tb.ID, exchange.TimebankSettings{CreditLimit: hours("10"), Cap: ptr(hours("-5"))}, ledger.ErrInvalidRequest, "cap"},
		{"limit finer than the unit", tb.ID, exchange.TimebankSettings{CreditLimit: hours("1.005")}, ledger.ErrTooManyDecimals, "credit_limit"},
		{"cap finer than the unit", tb.ID, exchange.TimebankSettings{CreditLimit: hours("1"), Cap: ptr(hours("40.001"))}, ledger.ErrTooManyDecimals, "cap"},
		{"unknown unit", tb.ID, exchange.TimebankSettings{Unit: "MINUTE", CreditLimit: hours("1")}, ledger.ErrUnknownUnit, "unit"},
		{"unknown organization", uuid.New(), exchange.TimebankSettings{CreditLimit: hours("1")}, exchange.ErrUnknownOrg, ""},
	} {
		_, _, err := e.ex.SetTimebankRules(ctx, e.principal(t, coord), c.orgID, c.in)
		wantErr(t, c.name, err, c.want)
		var le *ledger.Error
		if errors.As(err, &le) && le.Field != c.field {
			t.Errorf("%s: field %q, want %q", c.name, le.Field, c.field)
		}
	}
	if n := e.count(t, "timebank_rules"); n != 0 {
		t.Errorf("refused rules left %d rows", n)
	}
	if n := e.count(t, "accounts"); n != 0 {
		t.Errorf("refused rules opened %d accounts", n)
	}
	if _, err := e.ex.TimebankRules(ctx, e.principal(t, coord), tb.ID); !errors.Is(err, exchange.ErrNoTimebank) {
		t.Errorf("rules after refusals: %v, want ErrNoTimebank", err)
	}
}

func TestTimebankRulesNeedTheHourUnit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	network := e.org(t, nil, exchange.KindNetwork, "Network")
	tb := e.org(t, &network, exchange.KindTimebank, "Time bank")
	admin := e.member(t, "Admin")
	e.join(t, network, admin, exchange.RoleAdmin)
	_, _, err := e.ex.SetTimebankRules(context.Background(), e.principal(t, admin), tb.ID, exchange.TimebankSettings{CreditLimit: hours("10")})
	wantErr(t, "rules without HOUR", err, ledger.ErrUnknownUnit)
	if err == nil || !strings.Contains(err.Error(), `"HOUR"`) || !strings.Contains(err.Error(), "create") {
		t.Errorf("the error should say to create HOUR first: %v", err)
	}
}

func TestSetTimebankRulesOpensThePoolOnce(t *testing.T) {
	t.Parallel()
	e, tb, coord := timebankEnv(t)
	ctx := context.Background()
	first, created, err := e.ex.SetTimebankRules(ctx, e.principal(t, coord), tb.ID, exchange.TimebankSettings{CreditLimit: hours("10"), Cap: ptr(hours("40"))})
	if err != nil || !created {
		t.Fatalf("first rules: created %v, %v", created, err)
	}
	if first.Unit != "HOUR" || !first.CreditLimit.Equal(hours("10")) || !first.Cap.Equal(hours("40")) || first.UpdatedBy != coord.ID {
		t.Errorf("first rules = %+v", first)
	}
	pool, err := e.led.Account(ctx, first.PoolAccount)
	if err != nil {
		t.Fatal(err)
	}
	if pool.Kind != ledger.KindPool || pool.Owner != exchange.OrgOwner(tb.ID) || pool.Unit != "HOUR" ||
		pool.Name != "Riverside time bank community pool" || !pool.LowerBound.IsZero() || pool.UpperBound != nil {
		t.Errorf("pool account = %+v", pool)
	}

	// A member admitted now gets the rules' bounds.
	ana := e.member(t, "Ana")
	ms, err := e.ex.AddMembership(ctx, exchange.System(), tb.ID, ana.ID, exchange.RoleMember)
	if err != nil {
		t.Fatal(err)
	}
	checkBounds(t, e, ms.Account, "-10", "40")

	// New limits: same pool, later accounts only.
	second, created, err := e.ex.SetTimebankRules(ctx, e.principal(t, coord), tb.ID, exchange.TimebankSettings{CreditLimit: hours("5")})
	if err != nil || created {
		t.Fatalf("second rules: created %v, %v", created, err)
	}
	if second.PoolAccount != first.PoolAccount || second.Cap != nil || !second.CreditLimit.Equal(hours("5")) {
		t.Errorf("second rules = %+v, want the first pool, limit 5, no cap", second)
	}
	got, err := e.ex.TimebankRules(ctx, e.principal(t, coord), tb.ID)
	if err != nil || got.PoolAccount != first.PoolAccount || got.Cap != nil || !got.CreditLimit.Equal(hours("5")) {
		t.Errorf("stored rules = %+v, %v", got, err)
	}
	checkBounds(t, e, ms.Account, "-10", "40")
	ben := e.member(t, "Ben")
	ms, err = e.ex.AddMembership(ctx, exchange.System(), tb.ID, ben.ID, exchange.RoleMember)
	if err != nil {
		t.Fatal(err)
	}
	checkBounds(t, e, ms.Account, "-5", "")

	// The unit is fixed once the pool holds it.
	if _, err := e.led.CreateUnit(ctx, ledger.Unit{Code: "USD", Scale: 2}); err != nil {
		t.Fatal(err)
	}
	_, _, err = e.ex.SetTimebankRules(ctx, e.principal(t, coord), tb.ID, exchange.TimebankSettings{Unit: "USD", CreditLimit: hours("5")})
	wantErr(t, "changing the unit", err, ledger.ErrInvalidRequest)
	if n := e.count(t, "accounts WHERE kind = 'pool'"); n != 1 {
		t.Errorf("%d pool accounts, want 1", n)
	}
}

// checkBounds checks an account's bounds; "" is no upper bound.
func checkBounds(t *testing.T, e env, id uuid.UUID, lower, upper string) {
	t.Helper()
	if id == uuid.Nil {
		t.Fatal("no account was opened")
	}
	a, err := e.led.Account(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if a.LowerBound == nil || !a.LowerBound.Equal(hours(lower)) {
		t.Errorf("account %s: lower bound %v, want %s", id, a.LowerBound, lower)
	}
	if (upper == "") != (a.UpperBound == nil) || (upper != "" && !a.UpperBound.Equal(hours(upper))) {
		t.Errorf("account %s: upper bound %v, want %q", id, a.UpperBound, upper)
	}
}

func TestConcurrentFirstRulesOpenOnePool(t *testing.T) {
	t.Parallel()
	e, tb, coord := timebankEnv(t)
	ctx := context.Background()
	// Several time banks, each raced by goroutines released at once.
	orgs := []exchange.Org{tb}
	for i := range 4 {
		orgs = append(orgs, e.org(t, &tb, exchange.KindTimebank, fmt.Sprintf("Time bank %d", i)))
	}
	const n = 12
	coordP := e.principal(t, coord)
	for _, org := range orgs {
		var wg sync.WaitGroup
		start := make(chan struct{})
		pools := make([]uuid.UUID, n)
		created := make([]bool, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				<-start
				r, c, err := e.ex.SetTimebankRules(ctx, coordP, org.ID, exchange.TimebankSettings{CreditLimit: decimal.NewFromInt(int64(i))})
				pools[i], created[i], errs[i] = r.PoolAccount, c, err
			})
		}
		close(start)
		wg.Wait()
		opened := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("%s, call %d: %v", org.Name, i, errs[i])
			}
			if created[i] {
				opened++
			}
			if pools[i] != pools[0] {
				t.Errorf("%s: call %d saw pool %s, call 0 saw %s", org.Name, i, pools[i], pools[0])
			}
		}
		if opened != 1 {
			t.Errorf("%s: %d calls say they opened the pool, want 1", org.Name, opened)
		}
		if c := e.count(t, "accounts WHERE kind = 'pool' AND owner = '"+exchange.OrgOwner(org.ID)+"'"); c != 1 {
			t.Errorf("%s: %d pool accounts, want 1", org.Name, c)
		}
	}
}

func TestAdmissionOpensOneAccount(t *testing.T) {
	t.Parallel()
	e, tb, coord := timebankEnv(t)
	ctx := context.Background()
	if _, _, err := e.ex.SetTimebankRules(ctx, e.principal(t, coord), tb.ID, exchange.TimebankSettings{CreditLimit: hours("10"), Cap: ptr(hours("40"))}); err != nil {
		t.Fatal(err)
	}
	// A new member admitted in one step.
	m, err := e.ex.AdmitNewMember(ctx, exchange.System(), tb.ID, exchange.NewMember{Name: "Dana"}, exchange.RoleMember)
	if err != nil {
		t.Fatal(err)
	}
	checkBounds(t, e, m.Memberships[0].Account, "-10", "40")
	a, _ := e.led.Account(ctx, m.Memberships[0].Account)
	if a.Owner != exchange.MemberOwner(m.ID) || a.Kind != ledger.KindMember || a.Unit != "HOUR" || a.Name != tb.Name {
		t.Errorf("admission account = %+v", a)
	}
	// A role change is not an admission.
	ms, err := e.ex.AddMembership(ctx, exchange.System(), tb.ID, m.ID, exchange.RoleCoordinator)
	if err != nil || ms.Account != uuid.Nil || !ms.CreatedAt.Equal(m.Memberships[0].CreatedAt) {
		t.Errorf("role change: %+v, %v; want no account and the first date", ms, err)
	}

	// Racing admissions of one member open one account.
	eve := e.member(t, "Eve")
	var wg sync.WaitGroup
	start := make(chan struct{})
	accounts := make(chan uuid.UUID, 12)
	for range 12 {
		wg.Go(func() {
			<-start
			ms, err := e.ex.AddMembership(ctx, exchange.System(), tb.ID, eve.ID, exchange.RoleMember)
			if err != nil {
				t.Error(err)
			}
			accounts <- ms.Account
		})
	}
	close(start)
	wg.Wait()
	close(accounts)
	opened := 0
	for id := range accounts {
		if id != uuid.Nil {
			opened++
		}
	}
	if opened != 1 {
		t.Errorf("%d racing admissions opened an account, want 1", opened)
	}
	if c := e.count(t, "accounts WHERE owner = '"+exchange.MemberOwner(eve.ID)+"'"); c != 1 {
		t.Errorf("Eve has %d accounts, want 1", c)
	}

	// An organization without rules opens none.
	other := e.org(t, &tb, exchange.KindCouncil, "Street council")
	ms, err = e.ex.AddMembership(ctx, exchange.System(), other.ID, eve.ID, exchange.RoleMember)
	if err != nil || ms.Account != uuid.Nil {
		t.Errorf("admission without rules: %+v, %v", ms, err)
	}
}

func TestDonateAndGrant(t *testing.T) {
	t.Parallel()
	e, tb, coord := timebankEnv(t)
	ctx := context.Background()
	rules, _, err := e.ex.SetTimebankRules(ctx, e.principal(t, coord), tb.ID, exchange.TimebankSettings{CreditLimit: hours("10")})
	if err != nil {
		t.Fatal(err)
	}
	ana, err := e.ex.AdmitNewMember(ctx, exchange.System(), tb.ID, exchange.NewMember{Name: "Ana"}, exchange.RoleMember)
	if err != nil {
		t.Fatal(err)
	}
	anaAcc := ana.Memberships[0].Account
	anaP, coordP := e.principal(t, ana), e.principal(t, coord)
	move := exchange.TimebankMove{OrgID: tb.ID, MemberID: ana.ID, Amount: hours("3"), Memo: "for the pool", IdempotencyKey: "k1"}
	tr, err := e.ex.DonateHours(ctx, anaP, move)
	if err != nil {
		t.Fatal(err)
	}
	if p := tr.Postings[0]; p.From != anaAcc || p.To != rules.PoolAccount || !p.Amount.Equal(hours("3")) {
		t.Errorf("donation = %+v", tr)
	}
	var meta map[string]string
	if err := json.Unmarshal(tr.Metadata, &meta); err != nil || meta["kind"] != "donation" || meta["timebank"] != tb.ID.String() {
		t.Errorf("donation metadata %s", tr.Metadata)
	}
	// The same key replays rather than giving twice.
	again, err := e.ex.DonateHours(ctx, anaP, move)
	if err != nil || again.ID != tr.ID {
		t.Errorf("replayed donation: %v, %v", again.ID, err)
	}
	// The pool cannot give more than it holds.
	_, err = e.ex.GrantHours(ctx, coordP, exchange.TimebankMove{OrgID: tb.ID, MemberID: ana.ID, Amount: hours("3.01")})
	wantErr(t, "over-grant", err, ledger.ErrInsufficientFunds)
	var le *ledger.Error
	if errors.As(err, &le) && (le.Available == nil || !le.Available.Equal(hours("3"))) {
		t.Errorf("over-grant available = %v, want 3", le.Available)
	}
	// A second account of Ana's in HOUR makes her say which.
	if _, err := e.ex.OpenMemberAccount(ctx, exchange.System(), tb.ID, ana.ID, "HOUR", hours("0")); err != nil {
		t.Fatal(err)
	}
	_, err = e.ex.DonateHours(ctx, anaP, exchange.TimebankMove{OrgID: tb.ID, MemberID: ana.ID, Amount: hours("1")})
	wantErr(t, "several accounts", err, exchange.ErrNoAccount)
	_, err = e.ex.DonateHours(ctx, anaP, exchange.TimebankMove{OrgID: tb.ID, MemberID: ana.ID, Account: rules.PoolAccount, Amount: hours("1")})
	wantErr(t, "someone else's account", err, ledger.ErrUnknownAccount)
	g, err := e.ex.GrantHours(ctx, coordP, exchange.TimebankMove{OrgID: tb.ID, MemberID: ana.ID, Account: anaAcc, Amount: hours("2")})
	if err != nil || g.Postings[0].From != rules.PoolAccount || g.Postings[0].To != anaAcc {
		t.Fatalf("grant: %+v, %v", g, err)
	}
	// Outsiders neither give nor receive; bad amounts change nothing.
	stranger := e.member(t, "Stranger")
	_, err = e.ex.GrantHours(ctx, coordP, exchange.TimebankMove{OrgID: tb.ID, MemberID: stranger.ID, Amount: hours("1")})
	wantErr(t, "grant to a stranger", err, exchange.ErrNotAMember)
	_, err = e.ex.DonateHours(ctx, anaP, exchange.TimebankMove{OrgID: tb.ID, MemberID: ana.ID, Account: anaAcc, Amount: hours("0")})
	wantErr(t, "zero donation", err, ledger.ErrNonPositiveAmount)
	_, err = e.ex.DonateHours(ctx, anaP, exchange.TimebankMove{OrgID: tb.ID, MemberID: ana.ID, Account: anaAcc, Amount: hours("0.001")})
	wantErr(t, "too fine a donation", err, ledger.ErrTooManyDecimals)
	pool, _ := e.led.Account(ctx, rules.PoolAccount)
	if !pool.Posted.Equal(hours("1")) {
		t.Errorf("pool holds %s, want 1 (3 given, 2 granted)", pool.Posted)
	}
}

func TestMayTimebank(t *testing.T) {
	t.Parallel()
	tb, parent, elsewhere := uuid.New(), uuid.New(), uuid.New()
	chain := []uuid.UUID{tb, parent}
	p := func(admin bool, roles map[uuid.UUID]exchange.Role) exchange.Principal {
		return exchange.Principal{MemberID: uuid.New(), Admin: admin, Roles: roles}
	}
	principals := []struct {
		name string
		p    exchange.Principal
		want [4]error // read, set rules, donate, grant
	}{
		{"nobody", exchange.Principal{}, [4]error{exchange.ErrUnauthenticated, exchange.ErrUnauthenticated, exchange.ErrUnauthenticated, exchange.ErrUnauthenticated}},
		{"member", p(false, map[uuid.UUID]exchange.Role{tb: exchange.RoleMember}), [4]error{nil, exchange.ErrForbidden, nil, exchange.ErrForbidden}},
		{"coordinator", p(false, map[uuid.UUID]exchange.Role{tb: exchange.RoleCoordinator}), [4]error{nil, nil, nil, nil}},
		{"coordinator above", p(false, map[uuid.UUID]exchange.Role{parent: exchange.RoleCoordinator}), [4]error{nil, nil, exchange.ErrForbidden, nil}},
		{"member above", p(false, map[uuid.UUID]exchange.Role{parent: exchange.RoleMember}), [4]error{exchange.ErrNotVisible, exchange.ErrNotVisible, exchange.ErrNotVisible, exchange.ErrNotVisible}},
		{"coordinator elsewhere", p(false, map[uuid.UUID]exchange.Role{elsewhere: exchange.RoleCoordinator}), [4]error{exchange.ErrNotVisible, exchange.ErrNotVisible, exchange.ErrNotVisible, exchange.ErrNotVisible}},
		{"admin", p(true, nil), [4]error{nil, nil, exchange.ErrForbidden, nil}},
	}
	actions := []exchange.TimebankAction{exchange.TimebankRead, exchange.TimebankSetRules, exchange.TimebankDonate, exchange.TimebankGrant}
	for _, c := range principals {
		for i, a := range actions {
			wantErr(t, c.name+" "+string(a), c.p.MayTimebank(a, tb, chain), c.want[i])
		}
	}
}

func TestTimebankSchemaRefusesBadRules(t *testing.T) {
	t.Parallel()
	e, tb, coord := timebankEnv(t)
	ctx := context.Background()
	rules, _, err := e.ex.SetTimebankRules(ctx, e.principal(t, coord), tb.ID, exchange.TimebankSettings{CreditLimit: hours("10")})
	if err != nil {
		t.Fatal(err)
	}
	other := e.org(t, &tb, exchange.KindCouncil, "Council")
	free, err := e.led.CreateAccount(ctx, ledger.NewAccount{Unit: "HOUR", Owner: exchange.OrgOwner(other.ID), Kind: ledger.KindPool})
	if err != nil {
		t.Fatal(err)
	}
	insert := `INSERT INTO timebank_rules (org_id, unit, credit_limit, cap, pool_account, updated_at) VALUES ($1, $2, $3, $4, $5, now())`
	for _, c := range []struct {
		name string
		args []any
		code string
	}{
		{"negative credit limit", []any{other.ID, "HOUR", "-1", nil, free.ID}, "23514"},
		{"zero cap", []any{other.ID, "HOUR", "1", "0", free.ID}, "23514"},
		{"negative cap", []any{other.ID, "HOUR", "1", "-3", free.ID}, "23514"},
		{"unknown unit", []any{other.ID, "MINUTE", "1", nil, free.ID}, "23503"},
		{"no such pool", []any{other.ID, "HOUR", "1", nil, uuid.New()}, "23503"},
		{"a second org on one pool", []any{other.ID, "HOUR", "1", nil, rules.PoolAccount}, "23505"},
	} {
		_, err := e.pool.Exec(ctx, insert, c.args...)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != c.code {
			t.Errorf("%s: %v, want SQLSTATE %s", c.name, err, c.code)
		}
	}
	if _, err := e.pool.Exec(ctx, `UPDATE timebank_rules SET credit_limit = -1 WHERE org_id = $1`, tb.ID); err == nil {
		t.Error("a negative credit limit was stored")
	}
}
