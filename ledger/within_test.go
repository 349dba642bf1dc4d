package ledger_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mutual-ledger/mutual/internal/dbtest"
	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/ledger"
	"github.com/shopspring/decimal"
)

// TestWithinCommitsOrRollsBackWithTheCaller checks that a ledger change made
// through Within lives or dies with the caller's own rows.
func TestWithinCommitsOrRollsBackWithTheCaller(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, pool := newStoreAndPool(t)
	mustUnit(t, s, "HOUR", 2)
	a, b := mustAccount(t, s, "HOUR", "-10"), mustAccount(t, s, "HOUR", "0")
	if _, err := pool.Exec(ctx, `CREATE TABLE notes (id UUID PRIMARY KEY, transfer UUID NOT NULL REFERENCES transfers (id))`); err != nil {
		t.Fatal(err)
	}
	note := func(tx *pgtx.Tx, lt *ledger.Tx, fail error) (ledger.Transfer, error) {
		tr, err := lt.CreateTransfer(ctx, ledger.TransferRequest{Postings: []ledger.Posting{move(a, b, "2", "HOUR")}})
		if err != nil {
			return tr, err
		}
		// The note references the transfer, whose row is written with
		// COMMIT: the note is deferred after it.
		batch := &pgx.Batch{}
		batch.Queue(`INSERT INTO notes (id, transfer) VALUES (gen_random_uuid(), $1)`, tr.ID)
		tx.Defer(batch, func(br pgx.BatchResults) error { _, err := br.Exec(); return err })
		return tr, fail
	}

	// The caller fails after the change: nothing is written.
	boom := errors.New("boom")
	err := s.Within(ctx, func(tx *pgtx.Tx, lt *ledger.Tx) error { _, err := note(tx, lt, boom); return err })
	if !errors.Is(err, boom) {
		t.Fatalf("Within = %v, want boom", err)
	}
	wantBalances(t, s, a, "0", "0")

	// The caller succeeds: both are written.
	var tr ledger.Transfer
	err = s.Within(ctx, func(tx *pgtx.Tx, lt *ledger.Tx) error { var err error; tr, err = note(tx, lt, nil); return err })
	if err != nil {
		t.Fatal(err)
	}
	wantBalances(t, s, a, "-2", "-2")
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM notes WHERE transfer = $1`, tr.ID).Scan(&n); err != nil || n != 1 {
		t.Fatalf("notes for the transfer: %d, %v; want 1", n, err)
	}

	// A refusal reaches the caller as the ledger's error.
	err = s.Within(ctx, func(tx *pgtx.Tx, lt *ledger.Tx) error {
		_, err := lt.CreateTransfer(ctx, ledger.TransferRequest{Postings: []ledger.Posting{move(a, b, "9", "HOUR")}})
		return err
	})
	if !errors.Is(err, ledger.ErrInsufficientFunds) {
		t.Fatalf("overdraft in Within = %v, want ErrInsufficientFunds", err)
	}

	// A second change in one transaction is refused.
	err = s.Within(ctx, func(tx *pgtx.Tx, lt *ledger.Tx) error {
		if _, err := lt.CreateTransfer(ctx, ledger.TransferRequest{Postings: []ledger.Posting{move(a, b, "1", "HOUR")}}); err != nil {
			return err
		}
		_, err := lt.CreateTransfer(ctx, ledger.TransferRequest{Postings: []ledger.Posting{move(a, b, "1", "HOUR")}})
		return err
	})
	if !errors.Is(err, ledger.ErrOneChange) {
		t.Fatalf("second change = %v, want ErrOneChange", err)
	}
	wantBalances(t, s, a, "-2", "-2")
	mustVerify(t, s)
}

// TestWithinHolds posts, voids and expires holds through Within.
func TestWithinHolds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, clock := newStoreAt(t)
	mustUnit(t, s, "HOUR", 2)
	a, b := mustAccount(t, s, "HOUR", "-10"), mustAccount(t, s, "HOUR", "0")
	hold := func(expires *time.Time) ledger.Transfer {
		t.Helper()
		var h ledger.Transfer
		err := s.Within(ctx, func(_ *pgtx.Tx, lt *ledger.Tx) error {
			var err error
			h, err = lt.CreateTransfer(ctx, ledger.TransferRequest{Postings: []ledger.Posting{move(a, b, "3", "HOUR")}, Pending: true, ExpiresAt: expires})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	within := func(f func(lt *ledger.Tx) (ledger.Transfer, error)) (ledger.Transfer, error) {
		var tr ledger.Transfer
		err := s.Within(ctx, func(_ *pgtx.Tx, lt *ledger.Tx) error { var err error; tr, err = f(lt); return err })
		return tr, err
	}

	h := hold(nil)
	wantBalances(t, s, a, "0", "-3")
	posted, err := within(func(lt *ledger.Tx) (ledger.Transfer, error) {
		return lt.PostPending(ctx, h.ID, ledger.PostRequest{Amounts: []decimal.Decimal{d("2.5")}})
	})
	if err != nil || posted.PendingID == nil || *posted.PendingID != h.ID || !posted.Postings[0].Amount.Equal(d("2.5")) {
		t.Fatalf("post in part = %+v, %v", posted, err)
	}
	wantBalances(t, s, a, "-2.5", "-2.5")

	h = hold(nil)
	voided, err := within(func(lt *ledger.Tx) (ledger.Transfer, error) { return lt.VoidPending(ctx, h.ID) })
	if err != nil || voided.State != ledger.StateVoided {
		t.Fatalf("void = %+v, %v", voided, err)
	}
	again, err := within(func(lt *ledger.Tx) (ledger.Transfer, error) { return lt.VoidPending(ctx, h.ID) })
	if err != nil || again.State != ledger.StateVoided {
		t.Fatalf("void again = %+v, %v", again, err)
	}
	wantBalances(t, s, a, "-2.5", "-2.5")

	// A hold past its expiry is released, and posting it is refused.
	exp := clock.Now().Add(time.Hour)
	h = hold(&exp)
	clock.Advance(2 * time.Hour)
	_, err = within(func(lt *ledger.Tx) (ledger.Transfer, error) { return lt.PostPending(ctx, h.ID, ledger.PostRequest{}) })
	if !errors.Is(err, ledger.ErrHoldNotPending) {
		t.Fatalf("posting an expired hold = %v, want ErrHoldNotPending", err)
	}
	if got, _ := s.Transfer(ctx, h.ID); got.State != ledger.StateExpired {
		t.Fatalf("expired hold is %s, want expired", got.State)
	}
	wantBalances(t, s, a, "-2.5", "-2.5")
	mustVerify(t, s)
}

// TestWithinNeedsOneConnection runs more transactions through Within than
// the pool has connections, on a store that has never read the unit: each
// must read it through its own transaction. One that asked the pool for a
// second connection would wait for ever, every connection being held by a
// transaction waiting the same way.
func TestWithinNeedsOneConnection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.URL(t)
	setup, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer setup.Close()
	first, err := ledger.Open(ctx, setup, ledger.Config{})
	if err != nil {
		t.Fatal(err)
	}
	mustUnit(t, first, "HOUR", 2)
	var accounts []uuid.UUID
	for range 8 {
		accounts = append(accounts, mustAccount(t, first, "HOUR", "-10"))
	}

	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 2
	small, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	s, err := ledger.Open(ctx, small, ledger.Config{}) // a cold unit cache
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	start := make(chan struct{})
	for i := range 8 {
		wg.Go(func() {
			<-start
			errs[i] = s.Within(ctx, func(tx *pgtx.Tx, lt *ledger.Tx) error {
				// A caller locks its own rows first: the transaction holds
				// its connection from here on.
				if _, err := tx.Exec(ctx, `SELECT 1`); err != nil {
					return err
				}
				_, err := lt.CreateTransfer(ctx, ledger.TransferRequest{Postings: []ledger.Posting{move(accounts[i], accounts[(i+1)%8], "1", "HOUR")}})
				return err
			})
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("transfer %d: %v", i, err)
		}
	}
}
