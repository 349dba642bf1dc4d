package idempotency_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/internal/dbtest"
	"github.com/mutual-ledger/mutual/internal/idempotency"
	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/internal/testclock"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func newStore(t *testing.T) (*idempotency.Store, *testclock.Clock) {
	t.Helper()
	db, err := pgtx.New(context.Background(), dbtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	c := testclock.New(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	return idempotency.New(db, idempotency.Config{Now: c.Now, StaleAfter: time.Minute}), c
}

func TestReserveCompleteReplay(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	member := uuid.New()
	hash := []byte("hash-1")
	rec, reserved, err := s.Begin(ctx, member, "k", hash)
	if err != nil || !reserved {
		t.Fatalf("first Begin: reserved %v, %v", reserved, err)
	}
	// While it runs, the key is pending.
	got, reserved, err := s.Begin(ctx, member, "k", hash)
	if err != nil || reserved || got.State != idempotency.Pending {
		t.Fatalf("second Begin: %+v reserved %v, %v", got, reserved, err)
	}
	body := []byte(`{"id":"x"}`)
	if err := s.Complete(ctx, rec, idempotency.Response{Status: 201, ContentType: "application/json", Location: "/v1/x", Body: body}); err != nil {
		t.Fatal(err)
	}
	got, reserved, err = s.Begin(ctx, member, "k", hash)
	if err != nil || reserved || got.State != idempotency.Done || got.Status != 201 || !bytes.Equal(got.Body, body) ||
		got.ContentType != "application/json" || got.Location != "/v1/x" || !bytes.Equal(got.RequestHash, hash) {
		t.Fatalf("after Complete: %+v reserved %v, %v", got, reserved, err)
	}
	// Another request under the key sees the first one's hash.
	got, reserved, _ = s.Begin(ctx, member, "k", []byte("hash-2"))
	if reserved || !bytes.Equal(got.RequestHash, hash) {
		t.Fatalf("another request reserved the key: %+v", got)
	}
	// Keys are per member.
	if _, reserved, _ := s.Begin(ctx, uuid.New(), "k", hash); !reserved {
		t.Error("another member's key was taken")
	}
	// Server errors are not stored.
	if err := s.Complete(ctx, rec, idempotency.Response{Status: 500}); err == nil {
		t.Error("a 500 was stored")
	}
}

func TestAbandonFreesTheKey(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	member := uuid.New()
	rec, _, _ := s.Begin(ctx, member, "k", []byte("h"))
	if err := s.Abandon(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if _, reserved, err := s.Begin(ctx, member, "k", []byte("other")); err != nil || !reserved {
		t.Fatalf("after Abandon: reserved %v, %v", reserved, err)
	}
	if err := s.Abandon(ctx, rec); !errors.Is(err, idempotency.ErrLeaseLost) {
		t.Errorf("abandoning twice: %v", err)
	}
}

func TestStaleReservationsAreTakenOver(t *testing.T) {
	t.Parallel()
	s, c := newStore(t)
	ctx := context.Background()
	member := uuid.New()
	old, _, _ := s.Begin(ctx, member, "k", []byte("h"))
	c.Advance(2 * time.Minute)
	// Another request cannot take it over; the same one can.
	if _, reserved, _ := s.Begin(ctx, member, "k", []byte("other")); reserved {
		t.Fatal("a stale key was taken over by another request")
	}
	cur, reserved, err := s.Begin(ctx, member, "k", []byte("h"))
	if err != nil || !reserved || !cur.CreatedAt.After(old.CreatedAt) || cur.Lease == old.Lease {
		t.Fatalf("takeover: %+v reserved %v, %v", cur, reserved, err)
	}
	// The first holder finishing late cannot overwrite the new holder.
	if err := s.Complete(ctx, old, idempotency.Response{Status: 201, Body: []byte("old")}); !errors.Is(err, idempotency.ErrLeaseLost) {
		t.Fatalf("the old lease completed: %v", err)
	}
	if err := s.Complete(ctx, cur, idempotency.Response{Status: 201, Body: []byte("new")}); err != nil {
		t.Fatal(err)
	}
	got, _, _ := s.Begin(ctx, member, "k", []byte("h"))
	if string(got.Body) != "new" {
		t.Errorf("stored %q", got.Body)
	}
}

func TestConcurrentBeginsReserveOnce(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	member := uuid.New()
	const n = 16
	var wg sync.WaitGroup
	won := make(chan bool, n)
	for range n {
		wg.Go(func() {
			_, reserved, err := s.Begin(ctx, member, "race", []byte("h"))
			if err != nil {
				t.Error(err)
			}
			won <- reserved
		})
	}
	wg.Wait()
	close(won)
	winners := 0
	for r := range won {
		if r {
			winners++
		}
	}
	if winners != 1 {
		t.Errorf("%d requests reserved the key", winners)
	}
}

func TestPurge(t *testing.T) {
	t.Parallel()
	s, c := newStore(t)
	ctx := context.Background()
	member := uuid.New()
	rec, _, _ := s.Begin(ctx, member, "done", []byte("h"))
	s.Complete(ctx, rec, idempotency.Response{Status: 200, Body: []byte("{}")})
	s.Begin(ctx, member, "pending", []byte("h"))
	c.Advance(time.Hour)
	n, err := s.Purge(ctx, c.Now())
	if err != nil || n != 1 {
		t.Fatalf("purged %d, %v; want the one completed record", n, err)
	}
	if _, reserved, _ := s.Begin(ctx, member, "done", []byte("other")); !reserved {
		t.Error("a purged key is not free")
	}
}

// TestLostCommitsAreSettled: with half of the round trips and COMMITs
// failing on purpose, some of them after the change committed, every Begin of
// a new key still reserves it, every Complete and Abandon of a held lease
// still succeeds, and what was stored is what a retry finds. Before Begin,
// Complete and Abandon asked whether a change whose answer was lost had taken
// effect, such a Begin left the key pending (a retry got "in progress" until
// the reservation went stale) and such a Complete reported ErrLeaseLost.
// PostgreSQL only (fault injection).
func TestLostCommitsAreSettled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := pgtx.New(ctx, dbtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	s := idempotency.New(db, idempotency.Config{})
	db.InjectFaults(0.5)
	member := uuid.New()
	for i := range 60 {
		key, hash := "k"+string(rune('A'+i%26))+uuid.NewString(), []byte("h")
		rec, reserved, err := s.Begin(ctx, member, key, hash)
		if err != nil || !reserved {
			t.Fatalf("Begin of a new key: reserved %v, %v", reserved, err)
		}
		if i%3 == 0 {
			if err := s.Abandon(ctx, rec); err != nil {
				t.Fatalf("Abandon: %v", err)
			}
			if _, reserved, err := s.Begin(ctx, member, key, hash); err != nil || !reserved {
				t.Fatalf("Begin after Abandon: reserved %v, %v", reserved, err)
			}
			continue
		}
		if err := s.Complete(ctx, rec, idempotency.Response{Status: 201, Body: []byte(key)}); err != nil {
			t.Fatalf("Complete: %v", err)
		}
		got, reserved, err := s.Begin(ctx, member, key, hash)
		if err != nil || reserved || got.State != idempotency.Done || string(got.Body) != key {
			t.Fatalf("Begin after Complete: %+v reserved %v, %v", got, reserved, err)
		}
	}
	db.InjectFaults(0)
	if st := db.Stats(); st.Ambiguous == 0 || st.CutsCommitted == 0 {
		t.Errorf("%+v: no lost commit was settled", st)
	}
}
