package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/internal/errs"
	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/ledger"
)

var errThen = errors.New("then failed")

// TestBatchMergeRefusesOnlyItsBatch races goroutines sending large batches
// (more accounts than the hot-account gate takes), atomic and independent,
// between accounts without credit, so that queued batches are merged into
// one transaction while some transfers are refused for insufficient funds.
// An atomic batch with a refusal must write nothing and name the refused
// transfer's position; an independent batch's refused transfers alone are
// left out; a batch whose Then fails writes nothing; the other batches of
// the same transaction commit. Afterwards
// the books must agree with what every caller was told.
func TestBatchMergeRefusesOnlyItsBatch(t *testing.T) { batchMergeRace(t, 0) }

// TestBatchMergeWithFailingCommits runs the same race with injected
// failures: restarts at any round trip and COMMITs that fail or whose
// connection is cut. A merged group restarts whole; a batch whose outcome
// is unknown must then be in the books entirely or not at all.
func TestBatchMergeWithFailingCommits(t *testing.T) { batchMergeRace(t, 0.15) }

func batchMergeRace(t *testing.T, faults float64) {
	const (
		workers  = 16
		accounts = 40
		batches  = 12
		size     = 10
	)
	ctx := context.Background()
	s, pool, ids := groupWorld(t, accounts)
	before := s.MergeStats()
	s.DB().InjectFaults(faults)
	type batch struct {
		reqs   []ledger.TransferRequest
		atomic bool
	}
	var unknown []batch // batches whose outcome is unknown
	race := &groupRace{acked: make(map[string]ledger.Transfer), refused: make(map[string]ledger.Reason)}
	var atomicRefused, partial, atomicOK, thenFailed int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 23))
			for k := range batches {
				atomic := rng.IntN(2) == 0
				reqs := make([]ledger.TransferRequest, size)
				for i := range reqs {
					a := ids[rng.IntN(accounts)]
					b := ids[rng.IntN(accounts)]
					for b == a {
						b = ids[rng.IntN(accounts)]
					}
					// Mostly small amounts, some too large for any
					// account's 5 hours to stay afloat for long.
					amount := decimal.New(int64(1+rng.IntN(60)), -2)
					if rng.IntN(25) == 0 {
						amount = decimal.New(int64(300+rng.IntN(400)), -2)
					}
					reqs[i] = ledger.TransferRequest{Memo: fmt.Sprintf("w%d-%d-%d", w, k, i),
						Postings: []ledger.Posting{{From: a, To: b, Amount: amount, Unit: "HOUR"}}}
				}
				// A Then sees only its own batch's written transfers; one
				// batch in ten has a Then that fails, which must fail that
				// batch alone.
				prefix := fmt.Sprintf("w%d-%d-", w, k)
				failThen := rng.IntN(10) == 0
				var seen []string
				then := func(_ context.Context, _ *pgtx.Tx, written []ledger.Transfer) error {
					seen = seen[:0]
					for _, tr := range written {
						seen = append(seen, tr.Memo)
						if !strings.HasPrefix(tr.Memo, prefix) {
							return fmt.Errorf("then of %s given %s", prefix, tr.Memo)
						}
					}
					if failThen {
						return errThen
					}
					return nil
				}
				res, err := s.CreateTransfersThen(ctx, reqs, atomic, then)
				race.mu.Lock()
				mu.Lock()
				switch {
				case errors.Is(err, errThen):
					if !failThen {
						t.Errorf("%s: failed by another batch's Then", prefix)
					}
					thenFailed++
					for _, r := range reqs {
						race.refused[r.Memo] = "then failed"
					}
				case errors.Is(err, pgtx.ErrAmbiguousCommit):
					if faults == 0 {
						t.Errorf("w%d-%d: unknown outcome without faults: %v", w, k, err)
					}
					unknown = append(unknown, batch{reqs, atomic})
				case err != nil:
					var le *ledger.Error
					if !errors.As(err, &le) || le.Code == ledger.EINTERNAL {
						t.Errorf("w%d-%d: unexpected error %v", w, k, err)
						break
					}
					if !atomic {
						t.Errorf("w%d-%d: an independent batch failed whole: %v", w, k, err)
					}
					if i, ok := errs.IndexOf(err); !ok || i < 0 || i >= size {
						t.Errorf("w%d-%d: refusal %v names no transfer of the batch", w, k, err)
					}
					atomicRefused++
					for _, r := range reqs {
						race.refused[r.Memo] = le.Reason
					}
				default:
					refused := 0
					for i, r := range res {
						if r.Err != nil {
							var le *ledger.Error
							if !errors.As(r.Err, &le) {
								t.Errorf("%s: unexpected error %v", reqs[i].Memo, r.Err)
								continue
							}
							race.refused[reqs[i].Memo] = le.Reason
							refused++
							continue
						}
						if r.Transfer.Memo != reqs[i].Memo {
							t.Errorf("%s: answered with transfer %q", reqs[i].Memo, r.Transfer.Memo)
						}
						race.acked[reqs[i].Memo] = r.Transfer
					}
					if len(seen) != len(reqs)-refused {
						t.Errorf("%s: then saw %d transfers, %d were written", prefix, len(seen), len(reqs)-refused)
					}
					if atomic && refused > 0 {
						t.Errorf("w%d-%d: an atomic batch committed with %d refused transfers", w, k, refused)
					}
					if atomic {
						atomicOK++
					} else if refused > 0 {
						partial++
					}
				}
				mu.Unlock()
				race.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	s.DB().InjectFaults(0)
	// A batch whose COMMIT's outcome is unknown is in the books entirely or
	// not at all (an atomic batch with a refusal not at all).
	for _, b := range unknown {
		reqs := b.reqs
		stored := make(map[string]uuid.UUID)
		for _, r := range reqs {
			var id uuid.UUID
			err := pool.QueryRow(ctx, `SELECT id FROM transfers WHERE memo = $1`, r.Memo).Scan(&id)
			if err == nil {
				stored[r.Memo] = id
			}
		}
		if b.atomic && len(stored) > 0 && len(stored) < len(reqs) {
			t.Errorf("%s: an atomic batch with an unknown outcome is in the books in part: %d of %d", reqs[0].Memo, len(stored), len(reqs))
		}
		if len(stored) == 0 {
			for _, r := range reqs {
				race.refused[r.Memo] = "unknown outcome, not written"
			}
			continue
		}
		for _, r := range reqs {
			if id, ok := stored[r.Memo]; ok {
				race.acked[r.Memo] = ledger.Transfer{ID: id}
			} else {
				// An independent batch may have had this one refused.
				race.refused[r.Memo] = "unknown outcome, not written"
			}
		}
	}
	if faults > 0 {
		t.Logf("%d batches with an unknown outcome", len(unknown))
	}
	st := s.MergeStats()
	t.Logf("merge stats %+v (before %+v); atomic batches refused %d, committed %d; independent batches with refusals %d; %d transfers acknowledged, %d refused",
		st, before, atomicRefused, atomicOK, partial, len(race.acked), len(race.refused))
	if st.Groups-before.Groups == 0 {
		t.Fatal("no two batches were merged: the test proves nothing")
	}
	if thenFailed == 0 {
		t.Fatal("no batch's Then failed")
	}
	if atomicRefused == 0 || atomicOK == 0 || partial == 0 {
		t.Fatal("the race lacks refused atomic batches, committed ones or independent batches with refusals")
	}
	if !race.refusedFor(ledger.ReasonInsufficientFunds) {
		t.Fatal("no transfer was refused for insufficient funds")
	}
	// Each written transfer has its two entries.
	var missing int
	if err := pool.QueryRow(ctx, `
SELECT count(*) FROM transfers t
WHERE t.memo LIKE 'w%' AND (SELECT count(*) FROM entries e WHERE e.transfer_id = t.id) <> 2`).Scan(&missing); err != nil {
		t.Fatal(err)
	}
	if missing > 0 {
		t.Errorf("%d written transfers lack their entries", missing)
	}
	// The sum of the accounts' balances is what was put in.
	var total decimal.Decimal
	if err := pool.QueryRow(ctx, `SELECT sum(balance)::text FROM accounts WHERE lower_bound IS NOT NULL`).Scan(&total); err != nil {
		t.Fatal(err)
	}
	if want := decimal.NewFromInt(5 * accounts); !total.Equal(want) {
		t.Errorf("the accounts hold %s hours, want %s", total, want)
	}
	checkRaceBooks(t, s, pool, race)
}
