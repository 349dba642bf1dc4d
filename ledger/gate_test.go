package ledger

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestGateExcludesAndHandsOver races goroutines through the gate on
// overlapping account sets and checks that no two ever hold the same account
// at once, that every one gets through, and that a waiter whose context ends
// leaves without holding anything.
func TestGateExcludesAndHandsOver(t *testing.T) {
	g := newGate(0)
	accounts := []uuid.UUID{uuid.New(), uuid.New(), uuid.New(), uuid.New()}
	holders := make(map[uuid.UUID]*atomic.Int32)
	for _, id := range accounts {
		holders[id] = &atomic.Int32{}
	}
	var wg sync.WaitGroup
	var done atomic.Int32
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids := []uuid.UUID{accounts[0], accounts[i%4], accounts[(i+1)%4]}
			release, err := g.acquire(context.Background(), ids)
			if err != nil {
				t.Error(err)
				return
			}
			distinct := make(map[uuid.UUID]bool)
			for _, id := range ids {
				distinct[id] = true
			}
			for id := range distinct {
				if holders[id].Add(1) != 1 {
					t.Errorf("account %s held twice", id)
				}
			}
			time.Sleep(100 * time.Microsecond)
			for id := range distinct {
				holders[id].Add(-1)
			}
			release()
			done.Add(1)
		}()
	}
	wg.Wait()
	if done.Load() != 64 {
		t.Fatalf("%d of 64 got through", done.Load())
	}

	release, err := g.acquire(context.Background(), accounts[:1])
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := g.acquire(ctx, accounts[:2]); err == nil {
		t.Fatal("acquired a held account")
	}
	release()
	if len(g.busy) != 0 {
		t.Errorf("gate still holds %d accounts after every release", len(g.busy))
	}
}
