package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/internal/dbtest"
	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/ledger"
)

// ambiguousResolved counts the requests whose outcome was unknown and that a
// retry with the same idempotency key settled.
const ambiguousResolved = "ambiguous outcome resolved by its key"

// TestBank races goroutines posting random transfers, holds and duplicate
// requests between accounts with credit limits, one of them a hot community
// pool that half the transfers touch, and then checks the books against what
// the clients were told. With MUTUAL_FAULTS set (make test-faults), a share
// of the transactions fail on purpose, with restarts and with commits whose
// outcome is unknown; the clients then do what the API tells them to: retry
// with the same idempotency key until the outcome is known.
func TestBank(t *testing.T) {
	const (
		workers  = 16
		accounts = 50
		opsEach  = 340 // 16 × 340 = 5,440 operations
	)
	ctx := context.Background()
	s, pool := newStoreAndPool(t)
	mustUnit(t, s, "HOUR", 2)
	ids := make([]uuid.UUID, accounts)
	lower := make(map[uuid.UUID]decimal.Decimal)
	upper := make(map[uuid.UUID]decimal.Decimal)
	for i := range ids {
		in := ledger.NewAccount{Unit: "HOUR", Kind: ledger.KindMember, LowerBound: dp("-20")}
		if i == 0 {
			in.Kind, in.LowerBound = ledger.KindPool, dp("-200")
		}
		if i%5 == 1 {
			in.UpperBound = dp("30")
		}
		a, err := s.CreateAccount(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = a.ID
		lower[a.ID] = *in.LowerBound
		if in.UpperBound != nil {
			upper[a.ID] = *in.UpperBound
		}
	}
	hot := ids[0]
	faults := dbtest.InjectFaults(t, s.DB())

	var (
		mu       sync.Mutex
		acked    = make(map[uuid.UUID]ledger.Transfer) // every transfer a client was told was written
		refused  []string                              // keys of requests that were refused
		outcomes = make(map[string]int)
	)
	ack := func(tr ledger.Transfer) {
		mu.Lock()
		defer mu.Unlock()
		if prev, ok := acked[tr.ID]; ok && !tr.Replayed && !prev.Replayed && prev.State == tr.State {
			t.Errorf("transfer %s acknowledged twice as new", tr.ID)
		}
		// A hold is acknowledged once as pending, then its post or void
		// changes its state; keep the latest word.
		acked[tr.ID] = tr
	}
	refuse := func(key string, err error) {
		var le *ledger.Error
		if !errors.As(err, &le) || le.Code == ledger.EINTERNAL {
			t.Errorf("request %s: unexpected error %v", key, err)
			return
		}
		mu.Lock()
		refused = append(refused, key)
		outcomes[string(le.Reason)]++
		mu.Unlock()
	}
	count := func(what string) {
		mu.Lock()
		outcomes[what]++
		mu.Unlock()
	}
	// settle sends a request again, unchanged (so with the same idempotency
	// key), while its outcome is unknown.
	settle := func(do func() (ledger.Transfer, error)) (ledger.Transfer, error) {
		tr, err := do()
		for errors.Is(err, pgtx.ErrAmbiguousCommit) {
			count(ambiguousResolved)
			tr, err = do()
		}
		return tr, err
	}
	// settled is settle, also saying whether the outcome was ever unknown.
	settled := func(do func() (ledger.Transfer, error)) (ledger.Transfer, bool, error) {
		var unknown bool
		tr, err := settle(func() (ledger.Transfer, error) {
			tr, err := do()
			unknown = unknown || errors.Is(err, pgtx.ErrAmbiguousCommit)
			return tr, err
		})
		return tr, unknown, err
	}

	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			pick := func() uuid.UUID { return ids[rng.IntN(accounts)] }
			pair := func() (uuid.UUID, uuid.UUID) {
				a, b := pick(), pick()
				for a == b {
					b = pick()
				}
				if rng.IntN(2) == 0 { // half the transfers touch the pool
					if rng.IntN(2) == 0 {
						a = hot
					} else {
						b = hot
					}
					for a == b {
						a, b = pick(), hot
					}
				}
				return a, b
			}
			amount := func() decimal.Decimal { return decimal.New(int64(1+rng.IntN(500)), -2) }
			for i := range opsEach {
				key := fmt.Sprintf("w%d-op%d", w, i)
				a, b := pair()
				req := ledger.TransferRequest{IdempotencyKey: key, Postings: []ledger.Posting{{From: a, To: b, Amount: amount(), Unit: "HOUR"}}}
				switch r := rng.IntN(20); {
				case r < 2: // a hold, then posted in full or in part, or voided
					req.Pending = true
					hold, err := settle(func() (ledger.Transfer, error) { return s.CreateTransfer(ctx, req) })
					if err != nil {
						refuse(key, err)
						continue
					}
					ack(hold)
					switch rng.IntN(3) {
					case 0:
						post, err := settle(func() (ledger.Transfer, error) {
							return s.PostPending(ctx, hold.ID, ledger.PostRequest{IdempotencyKey: key + "-post"})
						})
						if err != nil {
							t.Errorf("posting hold %s: %v", hold.ID, err)
							continue
						}
						ack(post)
						count("hold posted")
					case 1:
						part := hold.Postings[0].Amount.Div(decimal.NewFromInt(2)).Truncate(2)
						post, err := settle(func() (ledger.Transfer, error) {
							return s.PostPending(ctx, hold.ID, ledger.PostRequest{IdempotencyKey: key + "-post", Amounts: []decimal.Decimal{part}})
						})
						if err != nil {
							t.Errorf("posting hold %s in part: %v", hold.ID, err)
							continue
						}
						ack(post)
						count("hold posted in part")
					default:
						if _, err := settle(func() (ledger.Transfer, error) { return s.VoidPending(ctx, hold.ID) }); err != nil {
							t.Errorf("voiding hold %s: %v", hold.ID, err)
						}
						count("hold voided")
					}
				case r < 4: // the same request sent twice at once
					var inner sync.WaitGroup
					got := make([]ledger.Transfer, 2)
					errs := make([]error, 2)
					unknown := make([]bool, 2)
					for k := range 2 {
						inner.Add(1)
						go func() {
							defer inner.Done()
							got[k], unknown[k], errs[k] = settled(func() (ledger.Transfer, error) { return s.CreateTransfer(ctx, req) })
						}()
					}
					inner.Wait()
					// One request made the transfer and the other replayed
					// it; or both replayed it, when one's commit succeeded
					// but was reported as unknown.
					bothReplayedAfterUnknown := got[0].Replayed && got[1].Replayed && (unknown[0] || unknown[1])
					switch {
					case errs[0] == nil && errs[1] == nil:
						if got[0].ID != got[1].ID || (got[0].Replayed == got[1].Replayed && !bothReplayedAfterUnknown) {
							t.Errorf("duplicate %s: %s (replayed %v) and %s (replayed %v)", key, got[0].ID, got[0].Replayed, got[1].ID, got[1].Replayed)
						}
						ack(got[0])
						ack(got[1])
						count("duplicate pair")
					case errs[0] != nil && errs[1] != nil:
						refuse(key, errs[0])
					default:
						// The one that ran first was refused and left no
						// trace, so the other, running after balances
						// changed, may be accepted: never both.
						k := 0
						if errs[0] == nil {
							k = 1
						}
						if !errors.Is(errs[k], ledger.ErrInsufficientFunds) && !errors.Is(errs[k], ledger.ErrLimitExceeded) {
							t.Errorf("duplicate %s: one succeeded, the other failed with %v", key, errs[k])
						}
						ack(got[1-k])
						count("duplicate refused then accepted")
					}
				case r < 6: // two postings, through the pool
					c := pick()
					for c == a || c == b || c == hot {
						c = pick()
					}
					req.Postings = append(req.Postings, ledger.Posting{From: c, To: hot, Amount: amount(), Unit: "HOUR"})
					if a == hot {
						req.Postings[1].To = b
					}
					fallthrough
				default:
					tr, err := settle(func() (ledger.Transfer, error) { return s.CreateTransfer(ctx, req) })
					if err != nil {
						refuse(key, err)
						continue
					}
					ack(tr)
					count("transfer")
				}
			}
		}()
	}
	wg.Wait()
	s.DB().InjectFaults(0) // the checks below read without faults
	t.Logf("outcomes: %v", outcomes)
	if outcomes["transfer"] < 2500 || outcomes[string(ledger.ReasonInsufficientFunds)] == 0 || outcomes["duplicate pair"] == 0 {
		t.Errorf("the mix did not exercise the ledger: %v", outcomes)
	}
	if faults > 0 && (outcomes[ambiguousResolved] == 0 || s.DB().Stats().Retries == 0) {
		t.Errorf("with %.2f of the round trips failing, no retry or no ambiguous outcome happened: %v, %+v", faults, outcomes, s.DB().Stats())
	}

	mustVerify(t, s)

	// Every acknowledged transfer is in the journal exactly once, as
	// acknowledged; the balances are what the acknowledged transfers make.
	want := make(map[uuid.UUID]decimal.Decimal)
	posted := 0
	for id, tr := range acked {
		got, err := s.Transfer(ctx, id)
		if err != nil {
			t.Fatalf("acknowledged transfer %s: %v", id, err)
		}
		if len(got.Postings) != len(tr.Postings) {
			t.Fatalf("transfer %s has %d postings, acknowledged with %d", id, len(got.Postings), len(tr.Postings))
		}
		if got.State == ledger.StatePosted && got.ResolvedAt == nil {
			posted++
			for _, p := range got.Postings {
				want[p.From] = want[p.From].Sub(p.Amount)
				want[p.To] = want[p.To].Add(p.Amount)
			}
		}
	}
	var inJournal int
	if err := pool.QueryRow(ctx, `SELECT count(DISTINCT transfer_id) FROM entries`).Scan(&inJournal); err != nil {
		t.Fatal(err)
	}
	if inJournal != posted {
		t.Errorf("journal has %d transfers, clients were told of %d", inJournal, posted)
	}
	var total int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM transfers`).Scan(&total); err != nil {
		t.Fatal(err)
	}
	if total != len(acked) {
		t.Errorf("database has %d transfers, clients were told of %d", total, len(acked))
	}
	for _, id := range ids {
		a := account(t, s, id)
		if !a.Posted.Equal(want[id]) {
			t.Errorf("account %s: balance %s, acknowledged transfers make %s", id, a.Posted, want[id])
		}
		if !a.PendingDebits.IsZero() || !a.PendingCredits.IsZero() {
			t.Errorf("account %s still has pending amounts after every hold was resolved", id)
		}
	}

	// No refused request left a trace.
	var traces int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM transfers WHERE idempotency_key = ANY($1)`, refused).Scan(&traces); err != nil {
		t.Fatal(err)
	}
	if traces != 0 {
		t.Errorf("%d refused requests left a transfer behind", traces)
	}

	// No account was ever outside its bounds: every balance it passed
	// through is inside them.
	rows, err := pool.Query(ctx, `SELECT account_id, min(balance_after), max(balance_after) FROM entries GROUP BY account_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id uuid.UUID
		var lo, hi decimal.Decimal
		if err := rows.Scan(&id, &lo, &hi); err != nil {
			t.Fatal(err)
		}
		if lo.LessThan(lower[id]) {
			t.Errorf("account %s went down to %s, below its bound %s", id, lo, lower[id])
		}
		if u, ok := upper[id]; ok && hi.GreaterThan(u) {
			t.Errorf("account %s went up to %s, above its bound %s", id, hi, u)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}
