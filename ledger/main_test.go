package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/internal/dbtest"
	"github.com/mutual-ledger/mutual/internal/testclock"
	"github.com/mutual-ledger/mutual/ledger"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// newStore returns a store on a fresh database, with the real clock.
func newStore(t testing.TB) *ledger.Store {
	t.Helper()
	s, _ := newStoreAndPool(t)
	return s
}

// newStoreAndPool also returns the pool, for tests that look at the tables.
func newStoreAndPool(t testing.TB) (*ledger.Store, *pgxpool.Pool) {
	t.Helper()
	pool := dbtest.New(t)
	s, err := ledger.Open(context.Background(), pool, ledger.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return s, pool
}

// newStoreAt returns a store on a fresh database whose clock the test moves.
func newStoreAt(t testing.TB) (*ledger.Store, *testclock.Clock) {
	t.Helper()
	c := testclock.New(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	s, err := ledger.Open(context.Background(), dbtest.New(t), ledger.Config{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func dp(s string) *decimal.Decimal {
	v := d(s)
	return &v
}

func mustUnit(t testing.TB, s *ledger.Store, code string, scale int32) {
	t.Helper()
	if _, err := s.CreateUnit(context.Background(), ledger.Unit{Code: code, Scale: scale}); err != nil {
		t.Fatal(err)
	}
}

// mustAccount opens a member account in unit with the given lower bound.
func mustAccount(t testing.TB, s *ledger.Store, unit, lower string) uuid.UUID {
	t.Helper()
	a, err := s.CreateAccount(context.Background(), ledger.NewAccount{Unit: unit, Kind: ledger.KindMember, LowerBound: dp(lower)})
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

func mustExternal(t testing.TB, s *ledger.Store, unit string) uuid.UUID {
	t.Helper()
	a, err := s.CreateAccount(context.Background(), ledger.NewAccount{Unit: unit, Kind: ledger.KindExternal})
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

func move(from, to uuid.UUID, amount, unit string) ledger.Posting {
	return ledger.Posting{From: from, To: to, Amount: d(amount), Unit: unit}
}

func mustTransfer(t testing.TB, s *ledger.Store, ps ...ledger.Posting) ledger.Transfer {
	t.Helper()
	tr, err := s.CreateTransfer(context.Background(), ledger.TransferRequest{Postings: ps})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func account(t testing.TB, s *ledger.Store, id uuid.UUID) ledger.Account {
	t.Helper()
	a, err := s.Account(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// wantBalances checks posted and available balances.
func wantBalances(t testing.TB, s *ledger.Store, id uuid.UUID, posted, available string) {
	t.Helper()
	a := account(t, s, id)
	if !a.Posted.Equal(d(posted)) || !a.Available.Equal(d(available)) {
		t.Errorf("account %s: posted %s available %s, want %s and %s", id, a.Posted, a.Available, posted, available)
	}
}

// mustVerify fails the test if any invariant of the ledger is broken.
func mustVerify(t testing.TB, s *ledger.Store) {
	t.Helper()
	v, err := s.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range v {
		t.Error("invariant broken: " + line)
	}
}
