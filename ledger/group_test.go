package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/ledger"
)

// groupRace is what the clients of a group-commit race were told.
type groupRace struct {
	mu       sync.Mutex
	acked    map[string]ledger.Transfer // by memo: every transfer a client was told was written
	refused  map[string]ledger.Reason   // by memo: every transfer a client was told was refused
	replayed int
}

// TestGroupCommitRefusesOnlyItself races many goroutines posting single
// transfers at once between accounts without credit, so that groups form and
// many transfers of a group are refused for insufficient funds (or for an
// unknown account, or a key reused for another request) while the others of
// the same group commit. Afterwards the books must agree with what every
// client was told. Without keys, the groups in which half the transfers
// share one of the 12 accounts write their transfer rows before they lock
// (see sharesAccount), and the refused ones must leave no row.
func TestGroupCommitRefusesOnlyItself(t *testing.T) {
	t.Run("with keys", func(t *testing.T) { groupRefusesOnlyItself(t, true) })
	t.Run("without keys", func(t *testing.T) { groupRefusesOnlyItself(t, false) })
}

func groupRefusesOnlyItself(t *testing.T, keys bool) {
	const (
		workers  = 48
		accounts = 12
		opsEach  = 40
	)
	ctx := context.Background()
	s, pool, ids := groupWorld(t, accounts)
	before := s.GroupStats()
	race := &groupRace{acked: make(map[string]ledger.Transfer), refused: make(map[string]ledger.Reason)}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range opsEach {
				memo := fmt.Sprintf("w%d-%d", w, i)
				a := ids[rng.IntN(accounts)]
				b := ids[rng.IntN(accounts)]
				for b == a {
					b = ids[rng.IntN(accounts)]
				}
				req := ledger.TransferRequest{Memo: memo, Postings: []ledger.Posting{{From: a, To: b, Amount: decimal.New(int64(1+rng.IntN(400)), -2), Unit: "HOUR"}}}
				switch k := rng.IntN(10); {
				case k == 0:
					req.Postings[0].To = uuid.New() // unknown: refused
				case k == 1 && keys:
					req.IdempotencyKey = memo
				case k == 2 && keys:
					// A key every worker uses, with its own content: the
					// first request stores it, all others are refused.
					req.IdempotencyKey = "shared key"
				}
				race.do(t, s, ctx, req)
			}
		}()
	}
	wg.Wait()

	st := s.GroupStats()
	t.Logf("group stats: %+v (before the race: %+v); %d acknowledged, %d refused", st, before, len(race.acked), len(race.refused))
	if st.Groups-before.Groups == 0 || st.Largest < 2 {
		t.Fatalf("no group of two or more transfers formed: %+v", st)
	}
	if st.Split-before.Split == 0 {
		t.Errorf("no group had transfers refused while others committed: %+v", st)
	}
	reasons := []ledger.Reason{ledger.ReasonInsufficientFunds, ledger.ReasonUnknownAccount}
	if keys {
		reasons = append(reasons, ledger.ReasonIdempotencyConflict)
	}
	for _, reason := range reasons {
		if !race.refusedFor(reason) {
			t.Errorf("no transfer was refused for %s; the race does not test it", reason)
		}
	}
	if len(race.acked) < workers {
		t.Errorf("only %d transfers committed", len(race.acked))
	}
	checkRaceBooks(t, s, pool, race)
}

// TestGroupCommitWithFailingCommits runs the same kind of race with injected
// failures: restarts at any round trip, and COMMITs that fail, or whose
// connection is cut before or after they succeed. Every member of a group
// whose COMMIT failed must be told so (and retry with its key, as the API
// tells clients to) or be given the outcome of the group's retry, never a
// success that did not commit.
func TestGroupCommitWithFailingCommits(t *testing.T) {
	const (
		workers  = 32
		accounts = 10
		opsEach  = 25
	)
	ctx := context.Background()
	s, pool, ids := groupWorld(t, accounts)
	db := s.DB()
	statsBefore, groupsBefore := db.Stats(), s.GroupStats()
	db.InjectFaults(0.15)
	race := &groupRace{acked: make(map[string]ledger.Transfer), refused: make(map[string]ledger.Reason)}
	var ambiguous sync.Map
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			for i := range opsEach {
				memo := fmt.Sprintf("w%d-%d", w, i)
				a := ids[rng.IntN(accounts)]
				b := ids[rng.IntN(accounts)]
				for b == a {
					b = ids[rng.IntN(accounts)]
				}
				req := ledger.TransferRequest{IdempotencyKey: memo, Memo: memo, Postings: []ledger.Posting{{From: a, To: b, Amount: decimal.New(int64(1+rng.IntN(400)), -2), Unit: "HOUR"}}}
				race.do(t, s, ctx, req, func(err error) { ambiguous.Store(memo, true) })
			}
		}()
	}
	wg.Wait()
	db.InjectFaults(0)
	st, gs := db.Stats(), s.GroupStats()
	t.Logf("faults: %d injected (%d cut connections, %d after a commit), %d retries, %d ambiguous; groups %d of %d transfers",
		st.Injected-statsBefore.Injected, st.InjectedCuts-statsBefore.InjectedCuts, st.CutsCommitted-statsBefore.CutsCommitted,
		st.Retries-statsBefore.Retries, st.Ambiguous-statsBefore.Ambiguous, gs.Groups-groupsBefore.Groups, gs.Grouped-groupsBefore.Grouped)
	if gs.Groups-groupsBefore.Groups == 0 {
		t.Fatal("no group formed")
	}
	if st.Ambiguous-statsBefore.Ambiguous == 0 || st.Retries-statsBefore.Retries == 0 {
		t.Fatalf("the faults caused no ambiguous commit or no restart: the test proves nothing")
	}
	told := 0
	ambiguous.Range(func(any, any) bool { told++; return true })
	if told == 0 {
		t.Fatal("no client was told of an unknown outcome")
	}
	checkRaceBooks(t, s, pool, race)
}

// do sends req until its outcome is known (retrying with the same request,
// and so the same key, after an unknown outcome) and records what the client
// was told. unknown, if given, is called on each unknown outcome.
// groupWorld makes a store with n HOUR accounts that may not go below
// zero, each given 5 hours from an external source.
func groupWorld(t *testing.T, n int) (*ledger.Store, *pgxpool.Pool, []uuid.UUID) {
	t.Helper()
	s, pool := newStoreAndPool(t)
	mustUnit(t, s, "HOUR", 2)
	source := mustExternal(t, s, "HOUR")
	ids := make([]uuid.UUID, n)
	for i := range ids {
		ids[i] = mustAccount(t, s, "HOUR", "0")
		mustTransfer(t, s, move(source, ids[i], "5", "HOUR"))
	}
	return s, pool, ids
}

func (r *groupRace) do(t *testing.T, s *ledger.Store, ctx context.Context, req ledger.TransferRequest, unknown ...func(error)) {
	tr, err := s.CreateTransfer(ctx, req)
	for errors.Is(err, pgtx.ErrAmbiguousCommit) {
		if req.IdempotencyKey == "" {
			t.Errorf("%s: unknown outcome of a request without a key: %v", req.Memo, err)
			return
		}
		for _, f := range unknown {
			f(err)
		}
		tr, err = s.CreateTransfer(ctx, req)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		var le *ledger.Error
		if !errors.As(err, &le) || le.Code == ledger.EINTERNAL {
			t.Errorf("%s: unexpected error %v", req.Memo, err)
			return
		}
		r.refused[req.Memo] = le.Reason
		return
	}
	if tr.Memo != req.Memo {
		t.Errorf("%s: answered with transfer %s of another request (%q)", req.Memo, tr.ID, tr.Memo)
		return
	}
	if tr.Replayed {
		r.replayed++
	}
	r.acked[req.Memo] = tr
}

func (r *groupRace) refusedFor(reason ledger.Reason) bool {
	for _, got := range r.refused {
		if got == reason {
			return true
		}
	}
	return false
}

// checkRaceBooks checks the books after a race against what the clients were
// told: every acknowledged transfer exists exactly once, with the id it was
// acknowledged with; no refused one exists; each unit sums to zero; each
// balance is the sum of its entries; no account is below its lower bound;
// and the ledger's own verification passes.
func checkRaceBooks(t *testing.T, s *ledger.Store, pool *pgxpool.Pool, race *groupRace) {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT memo, id, count(*) OVER (PARTITION BY memo) FROM transfers WHERE memo LIKE 'w%'`)
	if err != nil {
		t.Fatal(err)
	}
	stored := make(map[string]uuid.UUID)
	for rows.Next() {
		var memo string
		var id uuid.UUID
		var n int
		if err := rows.Scan(&memo, &id, &n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("transfer %q is stored %d times", memo, n)
		}
		stored[memo] = id
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for memo, tr := range race.acked {
		id, ok := stored[memo]
		switch {
		case !ok:
			t.Errorf("transfer %q was acknowledged (%s) but is not in the books", memo, tr.ID)
		case id != tr.ID:
			t.Errorf("transfer %q was acknowledged as %s but is stored as %s", memo, tr.ID, id)
		}
	}
	for memo, reason := range race.refused {
		if id, ok := stored[memo]; ok {
			t.Errorf("transfer %q was refused (%s) but is in the books as %s", memo, reason, id)
		}
	}
	for memo := range stored {
		if _, ok := race.acked[memo]; !ok {
			if _, refused := race.refused[memo]; !refused {
				t.Errorf("transfer %q is in the books but its client was told nothing", memo)
			}
		}
	}
	var badUnits, badBalances, belowLimit int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT unit FROM accounts GROUP BY unit HAVING sum(balance) <> 0) u`).Scan(&badUnits); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `
SELECT count(*) FROM accounts a
WHERE a.balance <> COALESCE((SELECT sum(e.amount) FROM entries e WHERE e.account_id = a.id), 0)`).Scan(&badBalances); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM accounts WHERE lower_bound IS NOT NULL AND balance - pending_debits < lower_bound`).Scan(&belowLimit); err != nil {
		t.Fatal(err)
	}
	if badUnits+badBalances+belowLimit > 0 {
		t.Errorf("books broken: %d units not summing to zero, %d balances not the sum of their entries, %d accounts below their limit", badUnits, badBalances, belowLimit)
	}
	mustVerify(t, s)
}

// BenchmarkTransferGroups measures single transfers with group commit off
// and with 1, 2 and 4 groups running at once, from 8 and 32 callers, to choose DefaultGroups and
// to show what group commit brings (BenchmarkTransfer runs the default).
func BenchmarkTransferGroups(b *testing.B) {
	bl := benchSetup(b)
	for _, groups := range []int{0, 1, 2, 4} {
		cfg := ledger.Config{Groups: groups, NoGroupCommit: groups == 0}
		gl := &benchLedger{s: ledger.NewStore(bl.s.DB(), cfg), ids: bl.ids, postmaster: bl.postmaster}
		if _, err := gl.s.Unit(context.Background(), "HOUR"); err != nil {
			b.Fatal(err)
		}
		for _, hot := range []bool{false, true} {
			name := "uniform"
			if hot {
				name = "hot"
			}
			for _, clients := range []int{8, 32} {
				b.Run(fmt.Sprintf("groups=%d/%s/clients=%d", groups, name, clients), func(b *testing.B) {
					before := gl.s.GroupStats()
					benchTransfers(b, gl, clients, hot, 1)
					if st := gl.s.GroupStats(); st.Groups > before.Groups {
						b.ReportMetric(float64(st.Grouped-before.Grouped)/float64(st.Groups-before.Groups), "transfers/group")
						// Transactions that carried one transfer, of all those
						// group commit ran.
						alone := st.Alone - before.Alone
						b.ReportMetric(float64(alone)/float64(alone+st.Groups-before.Groups), "alone-share")
					}
				})
			}
		}
	}
}
