package ledger_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/internal/dbtest"
	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/ledger"
)

// TestBatchGateBoundsConcurrentBatches races 12 goroutines writing batches
// on disjoint accounts (10 each, past the hot-account gate), so that only
// the batch gate can keep them apart, through a store admitting 2 batches
// at once. It checks, from inside each batch's transaction, that never more
// than 2 were in the database at the same time; that every batch was
// written, each account holding exactly what its transfers moved; that a
// single transfer passes while batches wait; and that a batch whose context
// ends while it waits for a place writes nothing.
func TestBatchGateBoundsConcurrentBatches(t *testing.T) {
	ctx := context.Background()
	s, err := ledger.Open(ctx, dbtest.New(t), ledger.Config{BatchWriters: 2})
	if err != nil {
		t.Fatal(err)
	}
	mustUnit(t, s, "HOUR", 2)
	const groups, size = 12, 10
	ids := make([][]uuid.UUID, groups)
	for g := range ids {
		for range size {
			ids[g] = append(ids[g], mustAccount(t, s, "HOUR", "-1000"))
		}
	}
	// chain(g) moves 1 hour along group g's accounts, from each to the
	// next: the first ends at -1, the last at +1, the others at 0.
	chain := func(g int) []ledger.TransferRequest {
		reqs := make([]ledger.TransferRequest, size-1)
		for i := range reqs {
			reqs[i] = ledger.TransferRequest{Postings: []ledger.Posting{move(ids[g][i], ids[g][i+1], "1", "HOUR")}}
		}
		return reqs
	}
	want := func(g int, written bool) {
		t.Helper()
		for i, id := range ids[g] {
			posted := "0"
			switch {
			case written && i == 0:
				posted = "-1"
			case written && i == size-1:
				posted = "1"
			}
			wantBalances(t, s, id, posted, posted)
		}
	}

	var inside, most atomic.Int32
	then := func(ctx context.Context, tx *pgtx.Tx, written []ledger.Transfer) error {
		n := inside.Add(1)
		defer inside.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		// Stay a while, so that batches let in together overlap here.
		time.Sleep(20 * time.Millisecond)
		return nil
	}
	var wg sync.WaitGroup
	for g := 2; g < groups; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.CreateTransfersThen(ctx, chain(g), true, then); err != nil {
				t.Error(err)
			}
		}()
	}
	// A single transfer does not queue behind the batches.
	mustTransfer(t, s, move(ids[0][0], ids[1][0], "1", "HOUR"))
	mustTransfer(t, s, move(ids[1][0], ids[0][0], "1", "HOUR"))
	wg.Wait()
	if got := most.Load(); got != 2 {
		t.Errorf("at most %d batches were in the database at once, the store admits 2 (and 10 were ready)", got)
	}
	for g := 2; g < groups; g++ {
		want(g, true)
	}

	// Both places taken by batches that stay inside their transaction: a
	// third batch with a deadline waits, gives up, and writes nothing.
	hold := make(chan struct{})
	entered := make(chan struct{}, 2)
	wait := func(ctx context.Context, tx *pgtx.Tx, written []ledger.Transfer) error {
		entered <- struct{}{}
		<-hold
		return nil
	}
	var held sync.WaitGroup
	for g := range 2 {
		held.Add(1)
		go func() {
			defer held.Done()
			if _, err := s.CreateTransfersThen(ctx, chain(g), true, wait); err != nil {
				t.Error(err)
			}
		}()
	}
	<-entered
	<-entered
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = s.CreateTransfers(short, chain(2), true)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a batch waiting for a place past its deadline: %v, want the deadline", err)
	}
	close(hold)
	held.Wait()
	want(0, true)
	want(1, true)
	want(2, true) // once, by the first round: not again
	mustVerify(t, s)
}
