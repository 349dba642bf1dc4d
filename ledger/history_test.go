package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/ledger"
)

// allEntries lists an account's entries, oldest first.
func allEntries(t *testing.T, s *ledger.Store, id uuid.UUID) []ledger.Entry {
	t.Helper()
	var out []ledger.Entry
	var before int64
	for {
		es, next, err := s.Entries(context.Background(), id, ledger.Page{Limit: 1000, Before: before})
		if err != nil {
			t.Fatal(err)
		}
		for i := len(es) - 1; i >= 0; i-- {
			out = append([]ledger.Entry{es[i]}, out...)
		}
		if next == 0 {
			return out
		}
		before = next
	}
}

// TestBalanceAtEveryInstant checks the binary search of BalanceAt against the
// plain sum of an account's entries up to each instant, on a history with
// what makes ordering subtle: several transfers at the same instant, one
// transfer touching the account twice, a hold created early and posted
// later, and a clock that steps back (entries then keep time order).
func TestBalanceAtEveryInstant(t *testing.T) {
	ctx := context.Background()
	s, clk := newStoreAt(t)
	mustUnit(t, s, "HOUR", 2)
	a := mustAccount(t, s, "HOUR", "-1000")
	b := mustAccount(t, s, "HOUR", "-1000")
	c := mustAccount(t, s, "HOUR", "-1000")
	start := clk.Now()

	clk.Advance(time.Minute)
	hold, err := s.CreateTransfer(ctx, ledger.TransferRequest{Pending: true, Postings: []ledger.Posting{move(a, b, "7", "HOUR")}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 37; i++ {
		if i%5 != 0 {
			clk.Advance(time.Duration(i) * time.Second) // every fifth lands on the same instant as the one before
		}
		switch i % 4 {
		case 0:
			mustTransfer(t, s, move(a, b, "1.25", "HOUR"), move(b, c, "0.5", "HOUR"), move(c, b, "2", "HOUR"))
		case 1:
			mustTransfer(t, s, move(b, a, "3", "HOUR"))
		case 2:
			if _, err := s.CreateTransfers(ctx, []ledger.TransferRequest{
				{Postings: []ledger.Posting{move(a, b, "1", "HOUR")}},
				{Postings: []ledger.Posting{move(b, c, "4", "HOUR")}},
			}, true); err != nil {
				t.Fatal(err)
			}
		default:
			mustTransfer(t, s, move(c, b, "0.75", "HOUR"))
		}
		if i == 20 {
			// The hold made at the start is posted now, in part: its entries
			// take the balance as it is now, not as it was when it was made.
			if _, err := s.PostPending(ctx, hold.ID, ledger.PostRequest{Amounts: []decimal.Decimal{d("5")}}); err != nil {
				t.Fatal(err)
			}
		}
		if i == 30 {
			clk.Advance(-time.Hour) // a server whose clock is behind
		}
	}
	clk.Advance(time.Hour)

	entries := allEntries(t, s, b)
	if len(entries) < 40 {
		t.Fatalf("b has %d entries", len(entries))
	}
	// The instants to ask about: before everything, each entry's instant and
	// a microsecond either side of it, and after everything.
	instants := []time.Time{start, clk.Now()}
	for _, e := range entries {
		instants = append(instants, e.PostedAt.Add(-time.Microsecond), e.PostedAt, e.PostedAt.Add(time.Microsecond))
	}
	for _, at := range instants {
		want := decimal.Zero
		for _, e := range entries {
			if !e.PostedAt.After(at) {
				want = want.Add(e.Amount)
			}
		}
		got, err := s.BalanceAt(ctx, b, at)
		if err != nil || !got.Equal(want) {
			t.Errorf("BalanceAt(%s) = %s, %v; want %s", at.Format(time.RFC3339Nano), got, err, want)
		}
	}
	if got, _ := s.BalanceAt(ctx, b, clk.Now()); !got.Equal(account(t, s, b).Posted) {
		t.Errorf("BalanceAt(now) = %s, account says %s", got, account(t, s, b).Posted)
	}
	// An account with no entries has had nothing at any instant.
	empty := mustAccount(t, s, "HOUR", "0")
	if got, err := s.BalanceAt(ctx, empty, clk.Now()); err != nil || !got.IsZero() {
		t.Errorf("BalanceAt(empty account) = %s, %v", got, err)
	}
	mustVerify(t, s)
}
