package httpapi_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/httpapi"
	"github.com/mutual-ledger/mutual/internal/idempotency"
	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/ledger"
)

func TestIdempotentReplay(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	pay := map[string]any{"postings": []any{posting(w.anaHours, w.benHours, "2", "HOUR")}, "memo": "lunch"}
	first := w.call("POST", "/v1/transfers", w.ana.token, pay, "Idempotency-Key", "pay-1")
	w.must(first, 201)
	if first.header.Get("Idempotent-Replayed") != "" {
		t.Error("the first response says it is replayed")
	}
	again := w.call("POST", "/v1/transfers", w.ana.token, pay, "Idempotency-Key", "pay-1", "X-Request-Id", "retry-1")
	w.must(again, 201)
	if again.header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(again.body, first.body) ||
		again.header.Get("Location") != first.header.Get("Location") {
		t.Errorf("replay: header %q, Location %q, body\n%s\nwant\n%s", again.header.Get("Idempotent-Replayed"), again.header.Get("Location"), again.body, first.body)
	}
	if again.header.Get("X-Request-Id") != "retry-1" {
		t.Errorf("the replay's own request id is %q", again.header.Get("X-Request-Id"))
	}
	if b, _ := w.balance(w.anaHours); b != "-2.00" {
		t.Errorf("ana %s: the retry moved value again", b)
	}

	// The same key for another request is refused.
	other := map[string]any{"postings": []any{posting(w.anaHours, w.benHours, "3", "HOUR")}, "memo": "lunch"}
	p := w.problem(w.call("POST", "/v1/transfers", w.ana.token, other, "Idempotency-Key", "pay-1"), 422, "idempotency-key-reused")
	if !hasField(p, "Idempotency-Key") {
		t.Errorf("problem %+v", p)
	}
	w.problem(w.call("POST", "/v1/accounts", w.ana.token, other, "Idempotency-Key", "pay-1"), 422, "idempotency-key-reused")
	// Keys are per member: Ben's pay-1 is his own.
	w.must(w.call("POST", "/v1/transfers", w.ben.token, map[string]any{"postings": []any{posting(w.benHours, w.anaHours, "1", "HOUR")}},
		"Idempotency-Key", "pay-1"), 201)

	// A refusal is answered the same way again.
	big := map[string]any{"postings": []any{posting(w.anaHours, w.benHours, "50", "HOUR")}}
	r1 := w.call("POST", "/v1/transfers", w.ana.token, big, "Idempotency-Key", "pay-2")
	w.problem(r1, 422, "insufficient-funds")
	r2 := w.call("POST", "/v1/transfers", w.ana.token, big, "Idempotency-Key", "pay-2")
	if r2.status != 422 || r2.header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(r1.body, r2.body) ||
		r2.header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("replayed refusal %d %q:\n%s\nwant\n%s", r2.status, r2.header.Get("Idempotent-Replayed"), r2.body, r1.body)
	}

	// Every creating POST honours the key: units, accounts, holds, posts,
	// voids, reversals, batches.
	for _, tc := range []struct {
		path  string
		token string
		body  any
	}{
		{"/v1/units", w.admin.token, map[string]any{"code": "MEAL", "scale": 0}},
		{"/v1/accounts", w.coordTB.token, map[string]any{"owner": memberOwner(w.ana), "org_id": w.timebank.ID.String(), "unit": "USD", "kind": "member"}},
		{"/v1/transfers/batch", w.ana.token, map[string]any{"atomic": false, "transfers": []any{pay}}},
		{"/v1/transfers/" + first.object(t)["id"].(string) + "/reverse", w.ben.token, nil},
	} {
		a := w.call("POST", tc.path, tc.token, tc.body, "Idempotency-Key", "make-"+tc.path)
		b := w.call("POST", tc.path, tc.token, tc.body, "Idempotency-Key", "make-"+tc.path)
		if a.status >= 300 || b.status != a.status || !bytes.Equal(a.body, b.body) || b.header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("POST %s: %d then %d (replayed %q)\n%s\n%s", tc.path, a.status, b.status, b.header.Get("Idempotent-Replayed"), a.body, b.body)
		}
	}
	hold := w.must(w.call("POST", "/v1/transfers", w.ana.token, map[string]any{
		"postings": []any{posting(w.anaHours, w.benHours, "1", "HOUR")}, "pending": true}), 201)["id"].(string)
	a := w.call("POST", "/v1/transfers/"+hold+"/post", w.ana.token, nil, "Idempotency-Key", "post-hold")
	b := w.call("POST", "/v1/transfers/"+hold+"/post", w.ana.token, nil, "Idempotency-Key", "post-hold")
	if a.status != 201 || b.status != 201 || !bytes.Equal(a.body, b.body) {
		t.Errorf("posting a hold twice with one key: %d, %d", a.status, b.status)
	}

	// Bad keys.
	w.problem(w.call("POST", "/v1/transfers", w.ana.token, pay, "Idempotency-Key", strings.Repeat("k", httpapi.MaxIdempotencyKey+1)), 400, "malformed-request")
	w.problem(w.call("POST", "/v1/transfers", w.ana.token, pay, "Idempotency-Key", ""), 400, "malformed-request")
	w.problem(w.call("POST", "/v1/transfers", w.ana.token, pay, "Idempotency-Key", "a", "Idempotency-Key", "b"), 400, "malformed-request")
}

// gatedAuthority holds the first Transfer until released, so a test can
// send a second request while the first is in flight; or fails it once.
type gatedAuthority struct {
	httpapi.Authority
	entered, release chan struct{}
	failOnce         atomic.Bool
	once             sync.Once
}

func (g *gatedAuthority) Transfer(ctx context.Context, p exchange.Principal, req ledger.TransferRequest) (ledger.Transfer, error) {
	if g.failOnce.CompareAndSwap(true, false) {
		return ledger.Transfer{}, errors.New("the database went away")
	}
	if g.entered != nil {
		g.once.Do(func() {
			close(g.entered)
			<-g.release
		})
	}
	return g.Authority.Transfer(ctx, p, req)
}

func TestIdempotencyKeyInProgress(t *testing.T) {
	t.Parallel()
	gate := &gatedAuthority{entered: make(chan struct{}), release: make(chan struct{})}
	w := newWorldWith(t, func(c *httpapi.Config) { gate.Authority = c.Authority; c.Authority = gate })
	pay := map[string]any{"postings": []any{posting(w.anaHours, w.benHours, "2", "HOUR")}}
	type result struct {
		r   resp
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := w.do("POST", "/v1/transfers", w.ana.token, pay, "Idempotency-Key", "slow")
		done <- result{r, err}
	}()
	<-gate.entered
	r := w.call("POST", "/v1/transfers", w.ana.token, pay, "Idempotency-Key", "slow")
	w.problem(r, 409, "idempotency-key-in-progress")
	if r.header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
	}
	w.problem(w.call("POST", "/v1/transfers", w.ana.token, map[string]any{"postings": []any{posting(w.anaHours, w.benHours, "3", "HOUR")}},
		"Idempotency-Key", "slow"), 422, "idempotency-key-reused")
	close(gate.release)
	first := <-done
	if first.err != nil {
		t.Fatal(first.err)
	}
	w.must(first.r, 201)
	again := w.call("POST", "/v1/transfers", w.ana.token, pay, "Idempotency-Key", "slow")
	if again.status != 201 || !bytes.Equal(again.body, first.r.body) {
		t.Errorf("after the first finished: %d %s", again.status, again.body)
	}
}

func TestIdempotencyConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	pay := map[string]any{"postings": []any{posting(w.anaHours, w.benHours, "1", "HOUR")}}
	const n = 8
	results := make([]resp, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = w.do("POST", "/v1/transfers", w.ana.token, pay, "Idempotency-Key", "dup")
		})
	}
	wg.Wait()
	var bodies [][]byte
	for i, r := range results {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		switch r.status {
		case 201:
			bodies = append(bodies, r.body)
		case 409:
		default:
			t.Errorf("status %d: %s", r.status, r.body)
		}
	}
	if len(bodies) == 0 {
		t.Fatal("no request succeeded")
	}
	for _, b := range bodies[1:] {
		if !bytes.Equal(b, bodies[0]) {
			t.Errorf("two different successes:\n%s\n%s", b, bodies[0])
		}
	}
	if b, _ := w.balance(w.anaHours); b != "-1.00" {
		t.Errorf("ana %s: duplicates moved value more than once", b)
	}
}

func TestServerErrorsAreNotStored(t *testing.T) {
	t.Parallel()
	gate := &gatedAuthority{}
	w := newWorldWith(t, func(c *httpapi.Config) { gate.Authority = c.Authority; c.Authority = gate })
	pay := map[string]any{"postings": []any{posting(w.anaHours, w.benHours, "1", "HOUR")}}
	gate.failOnce.Store(true)
	w.problem(w.call("POST", "/v1/transfers", w.ana.token, pay, "Idempotency-Key", "k"), 500, "internal")
	r := w.call("POST", "/v1/transfers", w.ana.token, pay, "Idempotency-Key", "k")
	w.must(r, 201)
	if r.header.Get("Idempotent-Replayed") != "" {
		t.Error("the retry of a server error was a replay")
	}
}

// forgetfulStore fails to store responses while forget is set, as a server
// that dies between the ledger's commit and the idempotency record would: a
// record it failed to store is never stored, however often the API retries.
type forgetfulStore struct {
	httpapi.IdempotencyStore
	forget atomic.Bool
	lost   sync.Map // lease -> true: the records of the "crashed" requests
}

func (f *forgetfulStore) Complete(ctx context.Context, rec idempotency.Record, resp idempotency.Response) error {
	if f.forget.Load() {
		f.lost.Store(rec.Lease, true)
	}
	if _, lost := f.lost.Load(rec.Lease); lost {
		return errors.New("crashed before storing the response")
	}
	return f.IdempotencyStore.Complete(ctx, rec, resp)
}

// flakyStore fails the first failures calls to Complete, as a database that
// restarts under the server does, then stores as usual.
type flakyStore struct {
	httpapi.IdempotencyStore
	failures atomic.Int32
}

func (f *flakyStore) Complete(ctx context.Context, rec idempotency.Record, resp idempotency.Response) error {
	if f.failures.Add(-1) >= 0 {
		return fmt.Errorf("storing the response: %w", pgtx.ErrUnavailable)
	}
	return f.IdempotencyStore.Complete(ctx, rec, resp)
}

// TestRecordStoredAfterTheDatabaseComesBack: when the database fails as the
// response is stored, the live server keeps trying, so the key does not
// stay "in progress" for as long as the server lives; a retry soon gets the
// first response, and value moves once.
// It holds for a server registered as an instance, as `mutual serve` is,
// whose background retries run while its instance lives, and for a store
// that names no instance.
func TestRecordStoredAfterTheDatabaseComesBack(t *testing.T) {
	t.Parallel()
	for _, registered := range []bool{false, true} {
		t.Run(fmt.Sprintf("registered=%v", registered), func(t *testing.T) {
			t.Parallel()
			recordStoredAfterTheDatabaseComesBack(t, registered)
		})
	}
}

func recordStoredAfterTheDatabaseComesBack(t *testing.T, registered bool) {
	store := &flakyStore{}
	w := newWorldWith(t, func(c *httpapi.Config) {
		s := idempotency.New(c.Ledger.DB(), idempotency.Config{Now: c.Now, TTL: time.Hour})
		if registered {
			if err := s.Register(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		store.IdempotencyStore = s
		c.Idempotency = store
	})
	store.failures.Store(3)
	pay := map[string]any{"postings": []any{posting(w.anaHours, w.benHours, "4", "HOUR")}}
	first := w.must(w.call("POST", "/v1/transfers", w.ana.token, pay, "Idempotency-Key", "flaky"), 201)
	r := w.mustOnceFree(pay, "flaky")
	if r.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("the retry was not replayed")
	}
	if got := r.object(t)["id"]; got != first["id"] {
		t.Errorf("the retry answered transfer %v, the first %v", got, first["id"])
	}
	if b, _ := w.balance(w.anaHours); b != "-4.00" {
		t.Errorf("ana %s; want -4.00: value moved more than once", b)
	}
}

// mustOnceFree sends ana's transfer pay with key again while it is answered
// "in progress", and fails the test unless it is answered 201 within 5 s:
// a key whose request is over must not stay in progress.
func (w *world) mustOnceFree(pay map[string]any, key string) resp {
	w.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := w.call("POST", "/v1/transfers", w.ana.token, pay, "Idempotency-Key", key)
		if r.status == 201 {
			return r
		}
		w.problem(r, 409, "idempotency-key-in-progress")
		if time.Now().After(deadline) {
			w.t.Fatalf("5 s after its request ended, key %s is still in progress, with no request behind it", key)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lostReservationStore answers one Begin as the store does when the COMMIT
// of its reservation lost its answer, asking whether it took effect failed,
// and releasing it failed as well (the database went away just then): the
// key is reserved in the database, and Begin reports only an
// *idempotency.UnreleasedError carrying the reservation. The first
// releases fail too.
type lostReservationStore struct {
	httpapi.IdempotencyStore
	lose            atomic.Bool
	abandonFailures atomic.Int32
}

func (l *lostReservationStore) Begin(ctx context.Context, member uuid.UUID, key string, hash []byte) (idempotency.Record, bool, error) {
	rec, reserved, err := l.IdempotencyStore.Begin(ctx, member, key, hash)
	if reserved && l.lose.CompareAndSwap(true, false) {
		return idempotency.Record{}, false, &idempotency.UnreleasedError{Record: rec,
			Err: fmt.Errorf("%w; releasing the reservation: %w", pgtx.ErrAmbiguousCommit, pgtx.ErrUnavailable)}
	}
	return rec, reserved, err
}

func (l *lostReservationStore) Abandon(ctx context.Context, rec idempotency.Record) error {
	if l.abandonFailures.Add(-1) >= 0 {
		return fmt.Errorf("abandoning: %w", pgtx.ErrUnavailable)
	}
	return l.IdempotencyStore.Abandon(ctx, rec)
}

// TestLostReservationIsReleased: when the store cannot tell whether a
// request's reservation was written nor release it, the request is answered
// outcome-unknown and the server keeps releasing the key in the background,
// so that the client's retry soon runs instead of being told "in progress"
// for as long as the server lives; value moves once.
func TestLostReservationIsReleased(t *testing.T) {
	t.Parallel()
	store := &lostReservationStore{}
	w := newWorldWith(t, func(c *httpapi.Config) {
		store.IdempotencyStore = idempotency.New(c.Ledger.DB(), idempotency.Config{Now: c.Now})
		c.Idempotency = store
	})
	store.lose.Store(true)
	store.abandonFailures.Store(2)
	pay := map[string]any{"postings": []any{posting(w.anaHours, w.benHours, "3", "HOUR")}}
	w.problem(w.call("POST", "/v1/transfers", w.ana.token, pay, "Idempotency-Key", "lost"), 503, "outcome-unknown")
	w.mustOnceFree(pay, "lost")
	if b, _ := w.balance(w.anaHours); b != "-3.00" {
		t.Errorf("ana %s; want -3.00: the request ran once", b)
	}
}

func TestRetryAfterALostRecordMovesValueOnce(t *testing.T) {
	t.Parallel()
	store := &forgetfulStore{}
	var clk func() time.Time
	w := newWorldWith(t, func(c *httpapi.Config) {
		clk = c.Now
		store.IdempotencyStore = idempotency.New(c.Ledger.DB(), idempotency.Config{Now: func() time.Time { return clk() }})
		c.Idempotency = store
	})
	store.forget.Store(true)
	pay := map[string]any{"postings": []any{posting(w.anaHours, w.benHours, "4", "HOUR")}}
	first := w.must(w.call("POST", "/v1/transfers", w.ana.token, pay, "Idempotency-Key", "crash"), 201)
	acc := w.must(w.call("POST", "/v1/accounts", w.admin.token, map[string]any{"owner": orgOwner(w.coop), "unit": "HOUR", "kind": "pool"},
		"Idempotency-Key", "crash"), 201)
	store.forget.Store(false)
	// The reservation looks in flight until it is stale.
	w.problem(w.call("POST", "/v1/transfers", w.ana.token, pay, "Idempotency-Key", "crash"), 409, "idempotency-key-in-progress")
	w.clock.Advance(idempotency.DefaultStaleAfter + time.Second)
	again := w.must(w.call("POST", "/v1/transfers", w.ana.token, pay, "Idempotency-Key", "crash"), 201)
	if again["id"] != first["id"] {
		t.Errorf("the retry wrote transfer %v, the first %v", again["id"], first["id"])
	}
	if b, _ := w.balance(w.anaHours); b != "-4.00" {
		t.Errorf("ana %s: the retry moved value twice", b)
	}
	acc2 := w.must(w.call("POST", "/v1/accounts", w.admin.token, map[string]any{"owner": orgOwner(w.coop), "unit": "HOUR", "kind": "pool"},
		"Idempotency-Key", "crash"), 201)
	if acc2["id"] != acc["id"] {
		t.Errorf("the retry opened account %v, the first %v", acc2["id"], acc["id"])
	}
	// Now the record is stored.
	if r := w.call("POST", "/v1/transfers", w.ana.token, pay, "Idempotency-Key", "crash"); r.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("third try not replayed: %d", r.status)
	}
}

// failoverStore sends Begin to the current server instance's store, as a
// load balancer sends a retry to whichever server is up; Complete, Abandon
// and LeaseContext go to the store that began the reservation.
type failoverStore struct {
	mu  sync.Mutex
	cur *idempotency.Store
	by  map[uuid.UUID]*idempotency.Store // instance -> store
}

func (f *failoverStore) use(s *idempotency.Store) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cur = s
	f.by[s.Instance()] = s
}

func (f *failoverStore) store(rec idempotency.Record) *idempotency.Store {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.by[rec.Instance]; ok {
		return s
	}
	return f.cur
}

func (f *failoverStore) Begin(ctx context.Context, member uuid.UUID, key string, hash []byte) (idempotency.Record, bool, error) {
	f.mu.Lock()
	s := f.cur
	f.mu.Unlock()
	return s.Begin(ctx, member, key, hash)
}

func (f *failoverStore) Complete(ctx context.Context, rec idempotency.Record, resp idempotency.Response) error {
	return f.store(rec).Complete(ctx, rec, resp)
}

func (f *failoverStore) Abandon(ctx context.Context, rec idempotency.Record) error {
	return f.store(rec).Abandon(ctx, rec)
}

func (f *failoverStore) LeaseContext(ctx context.Context, rec idempotency.Record) (context.Context, context.CancelFunc) {
	return f.store(rec).LeaseContext(ctx, rec)
}

// holdFirst holds the first Transfer until released and lets the
// others through (gatedAuthority's sync.Once would hold them too).
type holdFirst struct {
	httpapi.Authority
	calls            atomic.Int32
	entered, release chan struct{}
}

func (h *holdFirst) Transfer(ctx context.Context, p exchange.Principal, req ledger.TransferRequest) (ledger.Transfer, error) {
	if h.calls.Add(1) == 1 {
		close(h.entered)
		<-h.release
	}
	return h.Authority.Transfer(ctx, p, req)
}

// TestKeyOfADeadServerIsFreeAtOnce: a request in flight on a server that
// dies (its instance deregistered) no longer blocks its key; the retry runs
// on another server at once, and the first request, if its process lives
// on, stops instead of finishing beside it.
func TestKeyOfADeadServerIsFreeAtOnce(t *testing.T) {
	t.Parallel()
	gate := &holdFirst{entered: make(chan struct{}), release: make(chan struct{})}
	stores := &failoverStore{by: map[uuid.UUID]*idempotency.Store{}}
	var a, b *idempotency.Store
	w := newWorldWith(t, func(c *httpapi.Config) {
		gate.Authority = c.Authority
		c.Authority = gate
		for _, s := range []**idempotency.Store{&a, &b} {
			*s = idempotency.New(c.Ledger.DB(), idempotency.Config{Now: c.Now, TTL: time.Hour})
			if err := (*s).Register(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		stores.use(a)
		c.Idempotency = stores
	})
	pay := map[string]any{"postings": []any{posting(w.anaHours, w.benHours, "2", "HOUR")}}
	done := make(chan resp, 1)
	go func() {
		r, err := w.do("POST", "/v1/transfers", w.ana.token, pay, "Idempotency-Key", "failover")
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	<-gate.entered
	// Its server is alive: the retry waits.
	w.problem(w.call("POST", "/v1/transfers", w.ana.token, pay, "Idempotency-Key", "failover"), 409, "idempotency-key-in-progress")

	// Server a is gone; the retry lands on b and runs at once.
	if err := a.Deregister(context.Background()); err != nil {
		t.Fatal(err)
	}
	stores.use(b)
	again := w.must(w.call("POST", "/v1/transfers", w.ana.token, pay, "Idempotency-Key", "failover"), 201)

	// a's request, released, finds its lease lost and does not succeed.
	close(gate.release)
	first := <-done
	if first.status < 500 {
		t.Errorf("the request of the dead server answered %d after its key was taken over; want a server error: %s", first.status, first.body)
	}
	if bal, _ := w.balance(w.anaHours); bal != "-2.00" {
		t.Errorf("ana %s: want the 2 hours moved once", bal)
	}
	r := w.call("POST", "/v1/transfers", w.ana.token, pay, "Idempotency-Key", "failover")
	if got := w.must(r, 201); got["id"] != again["id"] || r.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("the next retry got %v (replayed %q); want b's transfer %v replayed", got["id"], r.header.Get("Idempotent-Replayed"), again["id"])
	}

	// a, still running but lost, refuses new keys until it registers again.
	stores.use(a)
	w.problem(w.call("POST", "/v1/transfers", w.ana.token, pay, "Idempotency-Key", "after"), 503, "unavailable")
}

// TestIdempotencyKeysSettleLostCommits sends transfers over HTTP while a
// fifth of the database's round trips and COMMITs fail on purpose, some of
// them after the transfer committed (the server then answers 503
// outcome-unknown). The clients do what that answer says: send the same
// request again with the same Idempotency-Key until they get a final answer.
// Every transfer must then be made exactly once, each key answered with one
// transfer, and the balances what the acknowledged transfers make.
// PostgreSQL only (fault injection).
func TestIdempotencyKeysSettleLostCommits(t *testing.T) {
	t.Parallel()
	fates := &fateStore{}
	w := newWorldWith(t, func(c *httpapi.Config) {
		fates.IdempotencyStore = idempotency.New(c.Ledger.DB(), idempotency.Config{Now: c.Now})
		c.Idempotency = fates
	})
	anaBefore, _ := w.balance(w.anaHours)
	const clients, each = 4, 12
	w.db.InjectFaults(0.2)
	ids := make(map[string]string) // key → transfer id
	var mu sync.Mutex
	var unknown, busy atomic.Int64
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := range each {
				key := "lost-" + string(rune('a'+c)) + "-" + string(rune('a'+i))
				pay := map[string]any{"postings": []any{posting(w.anaHours, w.benHours, "0.01", "HOUR")}, "memo": key}
				var busySince time.Time // when the answers began to be "in progress"
				for {
					r, err := w.do("POST", "/v1/transfers", w.ana.token, pay, "Idempotency-Key", key)
					if err != nil {
						t.Error(err)
						return
					}
					if r.status != 409 {
						busySince = time.Time{}
						fates.note(key, "answered %s", r)
					}
					if r.status == 503 {
						if bytes.Contains(r.body, []byte("outcome-unknown")) {
							unknown.Add(1)
						}
						continue
					}
					if r.status == 409 && bytes.Contains(r.body, []byte("in-progress")) {
						if busy.Add(1); busySince.IsZero() {
							busySince = time.Now()
						} else if time.Since(busySince) > time.Minute {
							t.Errorf("%s: in progress for a minute with no request behind it; its reservations:\n%s", key, fates.history(key))
							return
						}
						time.Sleep(10 * time.Millisecond)
						continue
					}
					if r.status != 201 {
						t.Errorf("%s: %s", key, r)
						return
					}
					mu.Lock()
					ids[key] = r.object(t)["id"].(string)
					mu.Unlock()
					break
				}
			}
		})
	}
	wg.Wait()
	w.db.InjectFaults(0)
	distinct := map[string]bool{}
	for _, id := range ids {
		distinct[id] = true
	}
	if len(ids) != clients*each || len(distinct) != clients*each {
		t.Errorf("%d keys answered with %d distinct transfers; want %d of each", len(ids), len(distinct), clients*each)
	}
	before, _ := decimal.NewFromString(anaBefore)
	want := before.Sub(decimal.New(clients*each, -2)).StringFixed(2)
	if got, _ := w.balance(w.anaHours); got != want {
		t.Errorf("ana's hours %s after %d transfers of 0.01 from %s; want %s", got, clients*each, anaBefore, want)
	}
	st := w.db.Stats()
	t.Logf("%+v; %d answers outcome-unknown settled by the key, %d in progress", st, unknown.Load(), busy.Load())
	if unknown.Load() == 0 && st.CutsCommitted > 0 {
		t.Errorf("commits were cut but no client was told the outcome was unknown")
	}
}

// fateStore records what became of each key's reservations, so that a key
// left "in progress" with nothing behind it is reported with its history
// instead of hanging the test.
type fateStore struct {
	httpapi.IdempotencyStore
	mu     sync.Mutex
	events map[string][]string // key -> what happened, in order
}

func (f *fateStore) note(key, format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.events == nil {
		f.events = map[string][]string{}
	}
	f.events[key] = append(f.events[key], time.Now().Format("15:04:05.000")+" "+fmt.Sprintf(format, args...))
}

func (f *fateStore) history(key string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.events[key], "\n")
}

func (f *fateStore) Begin(ctx context.Context, member uuid.UUID, key string, hash []byte) (idempotency.Record, bool, error) {
	rec, reserved, err := f.IdempotencyStore.Begin(ctx, member, key, hash)
	if reserved || err != nil {
		f.note(key, "Begin: reserved %v lease %s, err %v", reserved, rec.Lease, err)
	}
	return rec, reserved, err
}

func (f *fateStore) Complete(ctx context.Context, rec idempotency.Record, resp idempotency.Response) error {
	err := f.IdempotencyStore.Complete(ctx, rec, resp)
	f.note(rec.Key, "Complete %d: lease %s, err %v", resp.Status, rec.Lease, err)
	return err
}

func (f *fateStore) Abandon(ctx context.Context, rec idempotency.Record) error {
	err := f.IdempotencyStore.Abandon(ctx, rec)
	f.note(rec.Key, "Abandon: lease %s, err %v", rec.Lease, err)
	return err
}
