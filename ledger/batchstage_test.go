package ledger

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/internal/dbtest"
)

// stageWorld is a store admitting 2 large batches at once, with four
// disjoint chains of gateMaxAccounts+2 accounts; batch(c) moves 1 hour
// along chain c, from each account to the next (a large batch, merged at
// the door); held locks the last account of chain 0 in a transaction of
// its own, so that chain 0's batch waits for it; queue reports the merge
// door's leaders and waiting batches; until polls a condition.
type stageWorld struct {
	t      *testing.T
	s      *Store
	pool   *pgxpool.Pool
	chains [][]uuid.UUID
	held   pgx.Tx
	wg     sync.WaitGroup
}

const stageChain = gateMaxAccounts + 2

func newStageWorld(t *testing.T) *stageWorld {
	ctx := context.Background()
	pool := dbtest.New(t)
	s, err := Open(ctx, pool, Config{BatchWriters: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUnit(ctx, Unit{Code: "HOUR", Scale: 2}); err != nil {
		t.Fatal(err)
	}
	lower := decimal.New(-1000, 0)
	w := &stageWorld{t: t, s: s, pool: pool, chains: make([][]uuid.UUID, 4)}
	for c := range w.chains {
		for range stageChain {
			a, err := s.CreateAccount(ctx, NewAccount{Unit: "HOUR", Kind: KindMember, LowerBound: &lower})
			if err != nil {
				t.Fatal(err)
			}
			w.chains[c] = append(w.chains[c], a.ID)
		}
	}
	w.held, err = pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.held.Rollback(context.Background()) })
	if _, err := w.held.Exec(ctx, `SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE`, w.chains[0][stageChain-1]); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *stageWorld) batch(c int) []TransferRequest {
	reqs := make([]TransferRequest, stageChain-1)
	for i := range reqs {
		reqs[i] = TransferRequest{Postings: []Posting{{From: w.chains[c][i], To: w.chains[c][i+1], Amount: decimal.New(1, 0), Unit: "HOUR"}}}
	}
	return reqs
}

// write sends chain c's batch from a goroutine of its own.
func (w *stageWorld) write(c int) {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		if _, err := w.s.CreateTransfers(context.Background(), w.batch(c), true); err != nil {
			w.t.Errorf("batch %d: %v", c, err)
		}
	}()
}

func (w *stageWorld) until(what string, cond func() bool) {
	w.t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			w.t.Fatalf("timed out waiting until %s", what)
		}
	}
}

func (w *stageWorld) queue() (running, waiting int) {
	w.s.merge.door.mu.Lock()
	defer w.s.merge.door.mu.Unlock()
	return w.s.merge.running, len(w.s.merge.waiting)
}

// blockFirst sends chain 0's batch and waits until it waits for the held
// account.
func (w *stageWorld) blockFirst() {
	w.write(0)
	w.until("chain 0's batch waits for the held account", func() bool {
		var n int
		err := w.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`).Scan(&n)
		return err == nil && n == 1
	})
}

// finish lets chain 0's batch have its account, waits for every batch,
// and checks each chain's balances (moved or not) and the books.
func (w *stageWorld) finish(moved ...bool) {
	w.t.Helper()
	ctx := context.Background()
	if err := w.held.Rollback(ctx); err != nil {
		w.t.Fatal(err)
	}
	w.wg.Wait()
	for c := range w.chains {
		for i, id := range w.chains[c] {
			want := "0"
			switch {
			case moved[c] && i == 0:
				want = "-1"
			case moved[c] && i == stageChain-1:
				want = "1"
			}
			a, err := w.s.Account(ctx, id)
			if err != nil {
				w.t.Fatal(err)
			}
			if a.Posted.String() != want {
				w.t.Errorf("chain %d account %d: posted %s, want %s", c, i, a.Posted, want)
			}
		}
	}
	lines, err := w.s.Verify(ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, line := range lines {
		w.t.Error("invariant broken: " + line)
	}
}

// TestBatchGroupFormsBehindLockingGroup checks when a group of large
// batches is formed (batchQueue.stage): a batch whose group (A) waits for
// an account locked elsewhere keeps the group behind it from forming, so
// that the batch that leads next (B) and the two that queue behind it (C,
// D) are written as one group of three once A has its locks, not B alone
// and then C and D. Every batch is written, and the books verify.
func TestBatchGroupFormsBehindLockingGroup(t *testing.T) {
	w := newStageWorld(t)
	before := w.s.MergeStats()
	w.blockFirst()
	w.write(1)
	w.until("B leads", func() bool { r, _ := w.queue(); return r == 2 })
	w.write(2)
	w.write(3)
	w.until("C and D queue", func() bool { _, q := w.queue(); return q == 2 })
	w.finish(true, true, true, true)
	after := w.s.MergeStats()
	if groups, batches := after.Groups-before.Groups, after.Batches-before.Batches; groups != 1 || batches != 3 {
		t.Errorf("%d merged groups carrying %d batches, want 1 group of B, C and D", groups, batches)
	}
}

// TestBatchLeaderGivesUpWhileGroupAheadLocks: a leader (B) whose context
// ends while the group ahead (A) waits for its locks is answered with its
// deadline and writes nothing, and the batches behind it (C, D) still
// wait for A and are written together.
func TestBatchLeaderGivesUpWhileGroupAheadLocks(t *testing.T) {
	w := newStageWorld(t)
	before := w.s.MergeStats()
	w.blockFirst()
	short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := w.s.CreateTransfers(short, w.batch(1), true); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a batch whose deadline passes while the group ahead locks: %v, want the deadline", err)
	}
	w.write(2)
	w.until("C leads", func() bool { r, _ := w.queue(); return r == 2 })
	w.write(3)
	w.until("D queues", func() bool { _, q := w.queue(); return q == 1 })
	w.finish(true, false, true, true)
	after := w.s.MergeStats()
	if groups, batches := after.Groups-before.Groups, after.Batches-before.Batches; groups != 1 || batches != 2 {
		t.Errorf("%d merged groups carrying %d batches, want 1 group of C and D", groups, batches)
	}
}
