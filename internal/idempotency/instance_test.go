package idempotency_test

import (
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

// servers returns n registered stores on one database, as n `mutual serve`
// processes sharing it, all stamping with one test clock.
func servers(t *testing.T, n int) ([]*idempotency.Store, *testclock.Clock) {
	t.Helper()
	db, err := pgtx.New(context.Background(), dbtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	c := testclock.New(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	var ss []*idempotency.Store
	for range n {
		// A TTL far above the test's real duration: the instances lapse
		// only when the test moves the clock, never because the machine
		// is slow.
		s := idempotency.New(db, idempotency.Config{Now: c.Now, TTL: time.Hour})
		if err := s.Register(context.Background()); err != nil {
			t.Fatal(err)
		}
		ss = append(ss, s)
	}
	return ss, c
}

func TestLapsedInstanceIsTakenOverAtOnce(t *testing.T) {
	t.Parallel()
	ss, c := servers(t, 2)
	a, b := ss[0], ss[1]
	ctx := context.Background()
	member := uuid.New()
	held, reserved, err := a.Begin(ctx, member, "k", []byte("h"))
	if err != nil || !reserved || held.Instance != a.Instance() {
		t.Fatalf("a's Begin: %+v reserved %v, %v", held, reserved, err)
	}
	running, cancel := a.LeaseContext(ctx, held)
	defer cancel()

	// While a renews, its reservation is in progress, however old.
	for range 3 {
		c.Advance(40 * time.Minute)
		if err := a.Heartbeat(ctx); err != nil {
			t.Fatal(err)
		}
		if err := b.Heartbeat(ctx); err != nil {
			t.Fatal(err)
		}
		got, reserved, err := b.Begin(ctx, member, "k", []byte("h"))
		if err != nil || reserved || got.State != idempotency.Pending || got.Instance != a.Instance() {
			t.Fatalf("b took a live instance's key: %+v reserved %v, %v", got, reserved, err)
		}
	}

	// a stops renewing (it was killed); b goes on. Past the TTL, a is dead.
	c.Advance(40 * time.Minute)
	b.Heartbeat(ctx)
	c.Advance(40 * time.Minute)
	if err := b.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	// Another request with the key still gets the reused answer.
	if got, reserved, _ := b.Begin(ctx, member, "k", []byte("other")); reserved || string(got.RequestHash) != "h" {
		t.Fatalf("another request took a dead instance's key: %+v", got)
	}
	// The same request takes it over at once, under b.
	cur, reserved, err := b.Begin(ctx, member, "k", []byte("h"))
	if err != nil || !reserved || cur.Instance != b.Instance() || cur.Lease == held.Lease {
		t.Fatalf("takeover: %+v reserved %v, %v", cur, reserved, err)
	}
	// a, had it survived, cannot store or drop what b now holds.
	if err := a.Complete(ctx, held, idempotency.Response{Status: 201, Body: []byte("a")}); !errors.Is(err, idempotency.ErrLeaseLost) {
		t.Fatalf("the lapsed holder completed: %v", err)
	}
	if err := a.Abandon(ctx, held); !errors.Is(err, idempotency.ErrLeaseLost) {
		t.Fatalf("the lapsed holder abandoned: %v", err)
	}
	// Nor can it come back under its old id: its next heartbeat finds it
	// lapsed, cancels its requests and registers it anew.
	lost := a.Instance()
	if err := a.Heartbeat(ctx); !errors.Is(err, idempotency.ErrInstanceLost) {
		t.Fatalf("the lapsed instance's heartbeat: %v; want ErrInstanceLost", err)
	}
	if a.Instance() == lost || a.Instance() == uuid.Nil {
		t.Errorf("a is still instance %s", a.Instance())
	}
	// The request's context is cancelled from the instance's by
	// context.AfterFunc, in a goroutine of its own: at once, but not
	// necessarily before Heartbeat returns.
	select {
	case <-running.Done():
		if !errors.Is(context.Cause(running), idempotency.ErrInstanceLost) {
			t.Errorf("a's request was cancelled by %v", context.Cause(running))
		}
	case <-time.After(5 * time.Second):
		t.Error("a's request still runs 5 s after a lost its lease")
	}

	if err := b.Complete(ctx, cur, idempotency.Response{Status: 201, Body: []byte("b")}); err != nil {
		t.Fatal(err)
	}
	if err := a.Complete(ctx, held, idempotency.Response{Status: 201, Body: []byte("a")}); !errors.Is(err, idempotency.ErrLeaseLost) {
		t.Fatalf("the lapsed holder overwrote the new holder's result: %v", err)
	}
	got, _, _ := a.Begin(ctx, member, "k", []byte("h"))
	if got.State != idempotency.Done || string(got.Body) != "b" {
		t.Errorf("stored %+v; want b's response", got)
	}
}

func TestDeregisteredInstanceIsTakenOverAtOnce(t *testing.T) {
	t.Parallel()
	ss, _ := servers(t, 2)
	a, b := ss[0], ss[1]
	ctx := context.Background()
	member := uuid.New()
	held, _, _ := a.Begin(ctx, member, "k", []byte("h"))
	running, cancel := a.LeaseContext(ctx, held)
	defer cancel()
	if err := a.Deregister(ctx); err != nil {
		t.Fatal(err)
	}
	if running.Err() == nil {
		t.Error("a request of the deregistered instance still runs")
	}
	if _, _, err := a.Begin(ctx, member, "k2", []byte("h")); !errors.Is(err, idempotency.ErrInstanceLost) {
		t.Errorf("Begin after Deregister: %v; want ErrInstanceLost", err)
	}
	// No clock moved: the row is gone, so the key is free now.
	cur, reserved, err := b.Begin(ctx, member, "k", []byte("h"))
	if err != nil || !reserved || cur.Instance != b.Instance() {
		t.Fatalf("takeover from a deregistered instance: %+v reserved %v, %v", cur, reserved, err)
	}
	if err := a.Complete(ctx, held, idempotency.Response{Status: 201, Body: []byte("a")}); !errors.Is(err, idempotency.ErrLeaseLost) {
		t.Fatalf("the deregistered holder completed: %v", err)
	}
}

// TestLiveInstancesNeverShareAKey races the Begins of two live instances:
// for a new key, for a key a live instance holds, and for a key whose
// instance is dead.
func TestLiveInstancesNeverShareAKey(t *testing.T) {
	t.Parallel()
	ss, c := servers(t, 3)
	ctx := context.Background()
	member := uuid.New()
	race := func(key string) (winners []idempotency.Record) {
		const each = 12
		var (
			wg sync.WaitGroup
			mu sync.Mutex
		)
		start := make(chan struct{})
		for _, s := range ss[:2] {
			for range each {
				wg.Go(func() {
					<-start
					rec, reserved, err := s.Begin(ctx, member, key, []byte("h"))
					if err != nil {
						t.Error(err)
						return
					}
					if reserved {
						mu.Lock()
						winners = append(winners, rec)
						mu.Unlock()
					}
				})
			}
		}
		close(start)
		wg.Wait()
		return winners
	}
	for i := range 5 {
		key := "new-" + string(rune('a'+i))
		if w := race(key); len(w) != 1 {
			t.Fatalf("%d requests reserved new key %s", len(w), key)
		}
		// Its holder is alive: nobody takes it over.
		if w := race(key); len(w) != 0 {
			t.Fatalf("%d requests took over %s from a live instance", len(w), key)
		}
	}

	// The third instance holds keys, then dies; the two live ones race
	// for each, and exactly one takes it over.
	dead := ss[2]
	for i := range 5 {
		if _, reserved, _ := dead.Begin(ctx, member, "dead-"+string(rune('a'+i)), []byte("h")); !reserved {
			t.Fatal("the third instance did not reserve")
		}
	}
	for range 2 {
		c.Advance(40 * time.Minute)
		ss[0].Heartbeat(ctx)
		if err := ss[1].Heartbeat(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		key := "dead-" + string(rune('a'+i))
		w := race(key)
		if len(w) != 1 {
			t.Fatalf("%d requests took over %s from a dead instance", len(w), key)
		}
		if w[0].Instance != ss[0].Instance() && w[0].Instance != ss[1].Instance() {
			t.Errorf("%s taken over for instance %s", key, w[0].Instance)
		}
		if w := race(key); len(w) != 0 {
			t.Fatalf("%d requests took %s from the live instance that took it over", len(w), key)
		}
	}
}

// TestInstanceLapsesOnTheDatabaseClock runs on real time and the database's
// clock, as `mutual serve` does: a renewed instance keeps its keys however
// long its request runs; once renewals stop, its requests are cancelled
// before another instance can take a key over, and then one can.
func TestInstanceLapsesOnTheDatabaseClock(t *testing.T) {
	t.Parallel()
	db, err := pgtx.New(context.Background(), dbtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	const ttl = time.Second
	a := idempotency.New(db, idempotency.Config{TTL: ttl})
	b := idempotency.New(db, idempotency.Config{TTL: ttl})
	ctx := context.Background()
	for _, s := range []*idempotency.Store{a, b} {
		if err := s.Register(ctx); err != nil {
			t.Fatal(err)
		}
	}
	bctx, stopB := context.WithCancel(ctx)
	defer stopB()
	go b.RunHeartbeat(bctx, ttl/5, nil)
	actx, stopA := context.WithCancel(ctx)
	aStopped := make(chan struct{})
	go func() { a.RunHeartbeat(actx, ttl/5, nil); close(aStopped) }()

	member := uuid.New()
	held, reserved, err := a.Begin(ctx, member, "k", []byte("h"))
	if err != nil || !reserved {
		t.Fatalf("Begin: reserved %v, %v", reserved, err)
	}
	running, cancel := a.LeaseContext(ctx, held)
	defer cancel()
	for end := time.Now().Add(3 * ttl); time.Now().Before(end); time.Sleep(ttl / 10) {
		if _, reserved, err := b.Begin(ctx, member, "k", []byte("h")); err != nil || reserved {
			t.Fatalf("b took the key of a renewing instance: %v", err)
		}
	}
	if running.Err() != nil {
		t.Fatalf("a renewing instance's request was cancelled: %v", context.Cause(running))
	}

	stopA() // a hangs: no more heartbeats
	<-aStopped
	stoppedAt := time.Now()
	for {
		_, reserved, err := b.Begin(ctx, member, "k", []byte("h"))
		if err != nil {
			t.Fatal(err)
		}
		if reserved {
			break
		}
		if time.Since(stoppedAt) > 5*ttl {
			t.Fatalf("b could not take over %v after a's last heartbeat", time.Since(stoppedAt))
		}
		time.Sleep(ttl / 20)
	}
	select {
	case <-running.Done():
	default:
		t.Fatal("b took the key over while a's request still ran")
	}
	t.Logf("taken over %v after a's heartbeat stopped (TTL %v)", time.Since(stoppedAt).Round(time.Millisecond), ttl)
	if _, _, err := a.Begin(ctx, member, "k2", []byte("h")); !errors.Is(err, idempotency.ErrInstanceLost) {
		t.Errorf("a lost instance reserved: %v", err)
	}
}

func TestForgetInstancesFreesEveryOtherInstancesKeys(t *testing.T) {
	t.Parallel()
	ss, _ := servers(t, 3)
	ctx := context.Background()
	member := uuid.New()
	for i, s := range ss[:2] {
		if _, reserved, _ := s.Begin(ctx, member, "k"+string(rune('0'+i)), []byte("h")); !reserved {
			t.Fatal("no reservation")
		}
	}
	// The third restarts alone on the database (local mode) and forgets
	// the two before it.
	alone := ss[2]
	n, err := alone.ForgetInstances(ctx)
	if err != nil || n != 2 {
		t.Fatalf("forgot %d instances, %v; want the 2 others", n, err)
	}
	for i := range 2 {
		if _, reserved, err := alone.Begin(ctx, member, "k"+string(rune('0'+i)), []byte("h")); err != nil || !reserved {
			t.Errorf("key %d of a forgotten instance: reserved %v, %v", i, reserved, err)
		}
	}
	// Its own instance stays registered; the forgotten ones are lost.
	if err := alone.Heartbeat(ctx); err != nil {
		t.Errorf("the remaining instance's heartbeat: %v", err)
	}
	if err := ss[0].Heartbeat(ctx); !errors.Is(err, idempotency.ErrInstanceLost) {
		t.Errorf("a forgotten instance's heartbeat: %v; want ErrInstanceLost", err)
	}
}

func TestPurgeForgetsTheReservationsOfDeadInstances(t *testing.T) {
	t.Parallel()
	ss, c := servers(t, 2)
	dead, live := ss[0], ss[1]
	ctx := context.Background()
	member := uuid.New()
	dead.Begin(ctx, member, "dead", []byte("h"))
	live.Begin(ctx, member, "live", []byte("h"))
	for range 3 { // two hours, the live instance renewing
		c.Advance(40 * time.Minute)
		if err := live.Heartbeat(ctx); err != nil {
			t.Fatal(err)
		}
	}
	n, err := live.Purge(ctx, c.Now().Add(-time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("purged %d, %v; want the dead instance's reservation", n, err)
	}
	if _, reserved, _ := live.Begin(ctx, member, "dead", []byte("other")); !reserved {
		t.Error("the dead instance's key is not free after Purge")
	}
	if got, reserved, _ := live.Begin(ctx, member, "live", []byte("h")); reserved || got.State != idempotency.Pending {
		t.Errorf("Purge dropped a live instance's reservation: %+v reserved %v", got, reserved)
	}
}
