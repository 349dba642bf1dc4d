package ledger

import (
	"context"
	"errors"
	"testing"
	"time"
)

// doorMember is a member of a test door: its answer is the leader that
// wrote it.
type doorMember struct {
	seat
	name, by string
}

// TestDoor: one group at a time. While a leader writes, callers wait; one
// whose context ends while it waits leaves the queue with its context's
// error and is in no group; when the leader finishes, the first still
// waiting leads the next group and takes the others with it; a lone caller
// then leads at once.
func TestDoor(t *testing.T) {
	var d door[*doorMember]
	writing := make(chan struct{})
	finish := make(chan struct{})
	lead := func(first *doorMember) {
		group := append([]*doorMember{first}, d.take(func(*doorMember) bool { return true })...)
		if first.name == "a" {
			close(writing)
			<-finish
		}
		for _, m := range group {
			m.by = first.name
			close(m.done)
		}
		d.handOff()
	}
	member := func(name string) *doorMember { return &doorMember{seat: newSeat(), name: name} }
	a, b, c, e := member("a"), member("b"), member("c"), member("e")

	errs := make(chan error, 4)
	go func() { errs <- d.enter(context.Background(), a, 1, lead) }()
	<-writing
	ctx, cancel := context.WithCancel(context.Background())
	go func() { errs <- d.enter(ctx, b, 1, lead) }()
	go func() { errs <- d.enter(context.Background(), c, 1, lead) }()
	waitFor(t, func() bool { d.mu.Lock(); defer d.mu.Unlock(); return len(d.waiting) == 2 })
	go func() { errs <- d.enter(context.Background(), e, 1, lead) }()
	waitFor(t, func() bool { d.mu.Lock(); defer d.mu.Unlock(); return len(d.waiting) == 3 })
	cancel()
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Fatalf("the caller whose context ended got %v", err)
	}
	d.mu.Lock()
	left := len(d.waiting)
	d.mu.Unlock()
	if left != 2 || b.taken || b.by != "" {
		t.Errorf("after b gave up: %d waiting (want 2), b taken %v, written by %q", left, b.taken, b.by)
	}
	close(finish)
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if a.by != "a" || c.by != "c" || e.by != "c" {
		t.Errorf("written by: a %q, c %q, e %q; want a, c, c (c led the next group and took e)", a.by, c.by, e.by)
	}
	if d.running != 0 {
		t.Errorf("%d groups still counted as running", d.running)
	}
	lone := member("lone")
	if err := d.enter(context.Background(), lone, 1, lead); err != nil || lone.by != "lone" {
		t.Errorf("a lone caller: %v, written by %q", err, lone.by)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}
