package ledger

import (
	"context"
	"errors"
	"sync"
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
		d.handOff(len(group))
	}
	member := func(name string) *doorMember { return &doorMember{seat: newSeat(), name: name} }
	a, b, c, e := member("a"), member("b"), member("c"), member("e")

	errs := make(chan error, 4)
	go func() { errs <- d.enter(context.Background(), a, 1, 1, lead) }()
	<-writing
	ctx, cancel := context.WithCancel(context.Background())
	go func() { errs <- d.enter(ctx, b, 1, 1, lead) }()
	go func() { errs <- d.enter(context.Background(), c, 1, 1, lead) }()
	waitFor(t, func() bool { d.mu.Lock(); defer d.mu.Unlock(); return len(d.waiting) == 2 })
	go func() { errs <- d.enter(context.Background(), e, 1, 1, lead) }()
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
	if err := d.enter(context.Background(), lone, 1, 1, lead); err != nil || lone.by != "lone" {
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

// TestDoorQuorum: with a quorum, a caller beside a lone member leads at
// once, but beside a group of several it waits, until quorum callers wait
// (the first of them then leads them all) or a group finishes.
func TestDoorQuorum(t *testing.T) {
	var d door[*doorMember]
	type turn struct{ take, finish chan struct{} }
	var mu sync.Mutex
	turns := map[string]*turn{}
	turnOf := func(name string) *turn {
		mu.Lock()
		defer mu.Unlock()
		if turns[name] == nil {
			turns[name] = &turn{take: make(chan struct{}), finish: make(chan struct{})}
		}
		return turns[name]
	}
	led := make(chan string, 8)
	lead := func(first *doorMember) {
		tn := turnOf(first.name)
		led <- first.name
		<-tn.take
		group := append([]*doorMember{first}, d.take(func(*doorMember) bool { return true })...)
		<-tn.finish
		for _, m := range group {
			m.by = first.name
			close(m.done)
		}
		d.handOff(len(group))
	}
	member := func(name string) *doorMember { return &doorMember{seat: newSeat(), name: name} }
	errs := make(chan error, 8)
	enter := func(m *doorMember) { go func() { errs <- d.enter(context.Background(), m, 2, 3, lead) }() }
	waiting := func(n int) func() bool {
		return func() bool { d.mu.Lock(); defer d.mu.Unlock(); return len(d.waiting) == n }
	}
	expectLeader := func(want string) {
		t.Helper()
		select {
		case got := <-led:
			if got != want {
				t.Fatalf("%s leads, want %s", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("nobody leads, want %s", want)
		}
	}
	noLeader := func() {
		t.Helper()
		select {
		case got := <-led:
			t.Fatalf("%s leads, want everyone waiting", got)
		case <-time.After(50 * time.Millisecond):
		}
	}

	a, b, c, e := member("a"), member("b"), member("c"), member("e")
	enter(a)
	expectLeader("a") // nothing written: leads at once
	enter(b)
	expectLeader("b") // beside a lone member: leads at once too
	enter(c)
	enter(e)
	waitFor(t, waiting(2)) // both places taken
	close(turnOf("a").take)
	waitFor(t, waiting(0)) // a took c and e: a group of three
	close(turnOf("b").take)
	close(turnOf("b").finish)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}

	f, g, h := member("f"), member("g"), member("h")
	enter(f)
	waitFor(t, waiting(1))
	enter(g)
	waitFor(t, waiting(2))
	noLeader() // beside a group of three, a free place, but fewer than 3 wait
	enter(h)
	expectLeader("f") // three wait: the first leads
	close(turnOf("f").take)
	waitFor(t, waiting(0)) // f took g and h
	close(turnOf("f").finish)
	close(turnOf("a").finish)
	for range 6 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []*doorMember{a, c, e} {
		if m.by != "a" {
			t.Errorf("%s written by %q, want a", m.name, m.by)
		}
	}
	for _, m := range []*doorMember{f, g, h} {
		if m.by != "f" {
			t.Errorf("%s written by %q, want f", m.name, m.by)
		}
	}
	if d.running != 0 || d.members != 0 {
		t.Errorf("after every group: %d running, %d members counted", d.running, d.members)
	}
}
