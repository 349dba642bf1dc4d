package ledger_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mutual-ledger/mutual/internal/dbtest"
	"github.com/mutual-ledger/mutual/internal/errs"
	"github.com/mutual-ledger/mutual/internal/testclock"
	"github.com/mutual-ledger/mutual/ledger"
)

// Large batches (more accounts than the hot-account gate takes) write their
// transfer rows before they lock their accounts. These tests check that
// what is decided under the locks still holds for those rows: refused
// transfers leave no row, a transfer's time follows its accounts' last
// entries, and its region is its from account's as of the lock.

// earlyLedger is a store with a test clock, its pool, and 12 accounts that
// may each go 1000 below zero, the first in region "eu".
func earlyLedger(t *testing.T) (*ledger.Store, *pgxpool.Pool, *testclock.Clock, []uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	c := testclock.New(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	pool := dbtest.New(t)
	s, err := ledger.Open(ctx, pool, ledger.Config{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	mustUnit(t, s, "HOUR", 2)
	ids := make([]uuid.UUID, 12)
	for i := range ids {
		n := ledger.NewAccount{Unit: "HOUR", Kind: ledger.KindMember, LowerBound: dp("-1000")}
		if i == 0 {
			n.Region = "eu"
		}
		a, err := s.CreateAccount(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = a.ID
	}
	return s, pool, c, ids
}

// ring returns a request for each account to give amount to the next one:
// 12 transfers among 12 accounts, a large batch.
func ring(ids []uuid.UUID, amount string) []ledger.TransferRequest {
	reqs := make([]ledger.TransferRequest, len(ids))
	for i := range ids {
		reqs[i] = ledger.TransferRequest{Postings: []ledger.Posting{move(ids[i], ids[(i+1)%len(ids)], amount, "HOUR")}}
	}
	return reqs
}

func countTransfers(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM transfers`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// storedTransfer reads a transfer's row as stored: its time and region.
func storedTransfer(t *testing.T, pool *pgxpool.Pool, id uuid.UUID) (time.Time, string) {
	t.Helper()
	var at time.Time
	var region string
	if err := pool.QueryRow(context.Background(), `SELECT created_at, region FROM transfers WHERE id = $1`, id).Scan(&at, &region); err != nil {
		t.Fatalf("transfer %s: %v", id, err)
	}
	return at, region
}

func TestLargeBatchRefusalsLeaveNoRows(t *testing.T) {
	ctx := context.Background()
	s, pool, _, ids := earlyLedger(t)
	if _, err := s.SetStatus(ctx, ids[5], ledger.StatusFrozen); err != nil {
		t.Fatal(err)
	}
	// Independent: the refused ones (over the limit, a frozen account, an
	// account that does not exist, too many decimals) are skipped, the
	// others written, a hold among them.
	reqs := ring(ids, "10")
	reqs[2].Postings[0].Amount = d("5000")
	reqs[3].Postings[0].From = uuid.New()
	reqs[7].Postings[0].Amount = d("0.001")
	reqs[9].Pending = true
	res, err := s.CreateTransfers(ctx, reqs, false)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]error{2: ledger.ErrInsufficientFunds, 3: ledger.ErrUnknownAccount, 4: ledger.ErrAccountFrozen, 5: ledger.ErrAccountFrozen, 7: ledger.ErrTooManyDecimals}
	written := 0
	for i, r := range res {
		if w := want[i]; w != nil {
			if !errors.Is(r.Err, w) {
				t.Errorf("transfer %d: err = %v, want %v", i, r.Err, w)
			}
			continue
		}
		if r.Err != nil {
			t.Errorf("transfer %d: %v", i, r.Err)
			continue
		}
		written++
		got, err := s.Transfer(ctx, r.Transfer.ID)
		if err != nil || !got.CreatedAt.Equal(r.Transfer.CreatedAt) {
			t.Errorf("transfer %d as read: %+v, %v", i, got, err)
		}
	}
	if n := countTransfers(t, pool); n != written {
		t.Errorf("%d transfers stored, want the %d written", n, written)
	}
	if h, _ := s.Transfer(ctx, res[9].Transfer.ID); h.State != ledger.StatePending {
		t.Errorf("hold in a large batch: state %s", h.State)
	}

	// Atomic: one refusal writes nothing at all.
	reqs = ring(ids, "1")
	reqs[5], reqs[4] = reqs[0], reqs[0] // no frozen account
	reqs[8].Postings[0].Amount = d("5000")
	_, err = s.CreateTransfers(ctx, reqs, true)
	if i, ok := errs.IndexOf(err); !errors.Is(err, ledger.ErrInsufficientFunds) || !ok || i != 8 {
		t.Fatalf("atomic large batch: err = %v, want insufficient funds at 8", err)
	}
	if n := countTransfers(t, pool); n != written {
		t.Errorf("after a refused atomic batch, %d transfers stored, want %d", n, written)
	}
	mustVerify(t, s)
}

func TestLargeBatchTimeFollowsTheAccounts(t *testing.T) {
	ctx := context.Background()
	s, pool, clk, ids := earlyLedger(t)
	first, err := s.CreateTransfers(ctx, ring(ids, "1"), true)
	if err != nil {
		t.Fatal(err)
	}
	last := first[0].Transfer.CreatedAt
	// A server whose clock is an hour behind writes the next batch: its
	// transfers take the time of the accounts' last entries, not its own.
	clk.Advance(-time.Hour)
	res, err := s.CreateTransfers(ctx, ring(ids, "2"), true)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		at, _ := storedTransfer(t, pool, r.Transfer.ID)
		if !at.Equal(last) || !r.Transfer.CreatedAt.Equal(last) {
			t.Errorf("transfer %d: stored at %s, answered %s; want %s (its accounts' last entry)", i, at, r.Transfer.CreatedAt, last)
		}
	}
	// Back on time, a batch is written at the clock's time.
	clk.Advance(2 * time.Hour)
	res, err = s.CreateTransfers(ctx, ring(ids, "3"), true)
	if err != nil {
		t.Fatal(err)
	}
	if at, _ := storedTransfer(t, pool, res[0].Transfer.ID); !at.Equal(clk.Now()) {
		t.Errorf("stored at %s, want the clock's %s", at, clk.Now())
	}
	mustVerify(t, s)
}

func TestLargeBatchRegionAsOfTheLock(t *testing.T) {
	ctx := context.Background()
	s, pool, _, ids := earlyLedger(t)
	res, err := s.CreateTransfers(ctx, ring(ids, "1"), true)
	if err != nil {
		t.Fatal(err)
	}
	if _, region := storedTransfer(t, pool, res[0].Transfer.ID); region != "eu" {
		t.Errorf("transfer from an account in eu: region %q", region)
	}
	if _, region := storedTransfer(t, pool, res[1].Transfer.ID); region != "" {
		t.Errorf("transfer from an account in no region: region %q", region)
	}

	// The second account moves to "us" while a batch taking value from it
	// is under way: the batch writes its transfers, then waits for the
	// account's row, and must find the move once it has the row.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `UPDATE accounts SET region = 'us' WHERE id = $1`, ids[1]); err != nil {
		t.Fatal(err)
	}
	type outcome struct {
		res []ledger.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := s.CreateTransfers(ctx, ring(ids, "1"), true)
		done <- outcome{res, err}
	}()
	// Wait until the batch waits for the row.
	deadline := time.Now().Add(10 * time.Second)
	for !dbtest.CockroachDB() {
		var waiting int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the batch never waited for the account being moved")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if dbtest.CockroachDB() {
		time.Sleep(time.Second) // no pg_stat_activity wait events there
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	if _, region := storedTransfer(t, pool, o.res[1].Transfer.ID); region != "us" {
		t.Errorf("transfer from the account moved to us meanwhile: region %q", region)
	}
	if _, region := storedTransfer(t, pool, o.res[0].Transfer.ID); region != "eu" {
		t.Errorf("transfer from the account in eu: region %q", region)
	}
	mustVerify(t, s)
}
