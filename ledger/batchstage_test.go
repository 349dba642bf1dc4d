package ledger

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/internal/dbtest"
)

// TestBatchGroupFormsBehindLockingGroup checks when a group of large
// batches is formed (batchQueue.stage): a batch whose group (A) waits for
// an account locked elsewhere keeps the group behind it from forming, so
// that the batch that leads next (B) and the two that queue behind it (C,
// D) are written as one group of three once A has its locks, not B alone
// and then C and D. Every batch is written, and the books verify.
func TestBatchGroupFormsBehindLockingGroup(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.New(t)
	s, err := Open(ctx, pool, Config{BatchWriters: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUnit(ctx, Unit{Code: "HOUR", Scale: 2}); err != nil {
		t.Fatal(err)
	}
	// Four batches on disjoint accounts, each moving 1 hour along a chain
	// of gateMaxAccounts+2 accounts: large batches, merged at the door.
	const size = gateMaxAccounts + 2
	lower := decimal.New(-1000, 0)
	chains := make([][]uuid.UUID, 4)
	for c := range chains {
		for range size {
			a, err := s.CreateAccount(ctx, NewAccount{Unit: "HOUR", Kind: KindMember, LowerBound: &lower})
			if err != nil {
				t.Fatal(err)
			}
			chains[c] = append(chains[c], a.ID)
		}
	}
	batch := func(c int) []TransferRequest {
		reqs := make([]TransferRequest, size-1)
		for i := range reqs {
			reqs[i] = TransferRequest{Postings: []Posting{{From: chains[c][i], To: chains[c][i+1], Amount: decimal.New(1, 0), Unit: "HOUR"}}}
		}
		return reqs
	}
	// until polls cond (every few milliseconds, for up to a minute).
	until := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting until %s", what)
			}
		}
	}
	var wg sync.WaitGroup
	write := func(c int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.CreateTransfers(ctx, batch(c), true); err != nil {
				t.Errorf("batch %d: %v", c, err)
			}
		}()
	}

	// Another transaction holds the last account of A's chain.
	held, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Rollback(ctx)
	if _, err := held.Exec(ctx, `SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE`, chains[0][size-1]); err != nil {
		t.Fatal(err)
	}
	before := s.MergeStats()
	write(0)
	until("A waits for the held account", func() bool {
		var n int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`).Scan(&n)
		return err == nil && n == 1
	})
	queue := func() (running, waiting int) {
		s.merge.door.mu.Lock()
		defer s.merge.door.mu.Unlock()
		return s.merge.running, len(s.merge.waiting)
	}
	write(1)
	until("B leads", func() bool { r, _ := queue(); return r == 2 })
	write(2)
	write(3)
	until("C and D queue", func() bool { _, w := queue(); return w == 2 })
	if err := held.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	after := s.MergeStats()
	if groups, batches := after.Groups-before.Groups, after.Batches-before.Batches; groups != 1 || batches != 3 {
		t.Errorf("%d merged groups carrying %d batches, want 1 group of B, C and D", groups, batches)
	}
	for c := range chains {
		for i, id := range chains[c] {
			want := "0"
			switch i {
			case 0:
				want = "-1"
			case size - 1:
				want = "1"
			}
			a, err := s.Account(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if a.Posted.String() != want {
				t.Errorf("chain %d account %d: posted %s, want %s", c, i, a.Posted, want)
			}
		}
	}
	lines, err := s.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range lines {
		t.Error("invariant broken: " + line)
	}
}
