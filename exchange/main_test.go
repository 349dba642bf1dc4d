package exchange_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/internal/dbtest"
	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/internal/testclock"
	"github.com/mutual-ledger/mutual/ledger"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

type env struct {
	ex    *exchange.Store
	led   *ledger.Store
	pool  *pgxpool.Pool
	clock *testclock.Clock
}

// newEnv returns an exchange and its ledger on a fresh database, sharing a
// clock the test can move.
func newEnv(t testing.TB) env {
	t.Helper()
	pool := dbtest.New(t)
	db, err := pgtx.New(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	c := testclock.New(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	led := ledger.NewStore(db, ledger.Config{Now: c.Now})
	return env{ex: exchange.NewStore(db, led, exchange.Config{Now: c.Now}), led: led, pool: pool, clock: c}
}

func (e env) org(t testing.TB, parent *exchange.Org, kind exchange.Kind, name string) exchange.Org {
	t.Helper()
	in := exchange.NewOrg{Name: name, Kind: kind}
	if parent != nil {
		in.ParentID = &parent.ID
	}
	o, err := e.ex.CreateOrg(context.Background(), exchange.System(), in)
	if err != nil {
		t.Fatalf("creating %s %q: %v", kind, name, err)
	}
	return o
}

func (e env) member(t testing.TB, name string) exchange.Member {
	t.Helper()
	m, err := e.ex.CreateMember(context.Background(), exchange.System(), exchange.NewMember{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (e env) join(t testing.TB, o exchange.Org, m exchange.Member, role exchange.Role) {
	t.Helper()
	if _, err := e.ex.AddMembership(context.Background(), exchange.System(), o.ID, m.ID, role); err != nil {
		t.Fatal(err)
	}
}

// principal authenticates a fresh token of m.
func (e env) principal(t testing.TB, m exchange.Member) exchange.Principal {
	t.Helper()
	ctx := context.Background()
	_, secret, err := e.ex.CreateToken(ctx, exchange.Principal{MemberID: m.ID}, m.ID, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.ex.Authenticate(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (e env) count(t testing.TB, table string) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// wantErr checks that err is want (nil for success) by errors.Is, and that
// its code is want's code.
func wantErr(t testing.TB, what string, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Errorf("%s: err = %v, want success", what, err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Errorf("%s: err = %v, want %v", what, err, want)
		return
	}
	var got, w *ledger.Error
	if errors.As(err, &got) && errors.As(want, &w) && got.Code != w.Code {
		t.Errorf("%s: code = %s, want %s", what, got.Code, w.Code)
	}
}

func ptr[T any](v T) *T { return &v }

// settle repeats op while its outcome is unknown (pgtx.ErrAmbiguousCommit:
// the connection was lost with COMMIT in flight), as a client does. The
// exchange's decisions may be repeated: the member who made one gets it back
// unchanged. Tests that call dbtest.InjectFaults go through it.
func settle[T any](op func() (T, error)) (T, error) {
	v, err := op()
	for errors.Is(err, pgtx.ErrAmbiguousCommit) {
		v, err = op()
	}
	return v, err
}
