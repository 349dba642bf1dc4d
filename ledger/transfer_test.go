package ledger_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/internal/errs"
	"github.com/mutual-ledger/mutual/ledger"
)

func TestTimeBankExchange(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	mustUnit(t, s, "HOUR", 2)
	ana := mustAccount(t, s, "HOUR", "-10")
	ben := mustAccount(t, s, "HOUR", "-10")

	// Ana receives 2.5 hours of bike repair from Ben: hours move from the
	// receiver to the giver, and Ana's credit limit lets her go negative.
	tr, err := s.CreateTransfer(ctx, ledger.TransferRequest{
		Postings: []ledger.Posting{move(ana, ben, "2.50", "HOUR")},
		Memo:     "bike repair",
		Metadata: json.RawMessage(`{"listing": "L-17", "category": "repairs"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if tr.State != ledger.StatePosted || tr.Memo != "bike repair" || tr.ID == uuid.Nil {
		t.Errorf("transfer = %+v", tr)
	}
	wantBalances(t, s, ana, "-2.5", "-2.5")
	wantBalances(t, s, ben, "2.5", "2.5")

	got, err := s.Transfer(ctx, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Postings) != 1 || !got.Postings[0].Amount.Equal(d("2.5")) || got.Postings[0].From != ana {
		t.Errorf("stored postings = %+v", got.Postings)
	}
	var meta map[string]string
	if err := json.Unmarshal(got.Metadata, &meta); err != nil || meta["listing"] != "L-17" {
		t.Errorf("stored metadata = %s (%v)", got.Metadata, err)
	}
	mustVerify(t, s)
}

func TestMultiUnitTradeIsAtomic(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	mustUnit(t, s, "USD", 2)
	mustUnit(t, s, "KG_PRODUCE", 3)
	bank := mustExternal(t, s, "USD")
	farmUSD := mustAccount(t, s, "USD", "0")
	farmKG := mustAccount(t, s, "KG_PRODUCE", "0")
	kitchenUSD := mustAccount(t, s, "USD", "0")
	kitchenKG := mustAccount(t, s, "KG_PRODUCE", "0")
	harvest := mustExternal(t, s, "KG_PRODUCE")
	mustTransfer(t, s, move(bank, kitchenUSD, "500", "USD"), move(harvest, farmKG, "150", "KG_PRODUCE"))

	// The kitchen co-op buys 100 kg of produce for 200 USD in one transfer.
	trade := []ledger.Posting{move(farmKG, kitchenKG, "100", "KG_PRODUCE"), move(kitchenUSD, farmUSD, "200", "USD")}
	mustTransfer(t, s, trade...)
	wantBalances(t, s, farmKG, "50", "50")
	wantBalances(t, s, kitchenKG, "100", "100")
	wantBalances(t, s, farmUSD, "200", "200")
	wantBalances(t, s, kitchenUSD, "300", "300")

	// A second identical trade fails on the produce leg (only 50 kg left):
	// the money leg must not move either.
	_, err := s.CreateTransfer(ctx, ledger.TransferRequest{Postings: trade})
	var le *ledger.Error
	if !errors.As(err, &le) || le.Reason != ledger.ReasonInsufficientFunds || le.Account != farmKG {
		t.Fatalf("err = %v, want insufficient funds on the farm's produce account", err)
	}
	if !le.Available.Equal(d("50")) || !le.Requested.Equal(d("100")) {
		t.Errorf("available %s requested %s, want 50 and 100", le.Available, le.Requested)
	}
	wantBalances(t, s, kitchenUSD, "300", "300")
	wantBalances(t, s, farmUSD, "200", "200")
	mustVerify(t, s)
}

func TestBoundsAreCheckedOnTheNetChange(t *testing.T) {
	s := newStore(t)
	mustUnit(t, s, "HOUR", 2)
	a := mustAccount(t, s, "HOUR", "0")
	b := mustAccount(t, s, "HOUR", "0")
	c := mustAccount(t, s, "HOUR", "0")
	src := mustAccount(t, s, "HOUR", "-100")
	mustTransfer(t, s, move(src, a, "5", "HOUR"))
	// b has nothing but passes on what it receives in the same transfer.
	mustTransfer(t, s, move(a, b, "5", "HOUR"), move(b, c, "5", "HOUR"))
	wantBalances(t, s, b, "0", "0")
	wantBalances(t, s, c, "5", "5")
	mustVerify(t, s)
}

func TestUpperBound(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	mustUnit(t, s, "HOUR", 2)
	src := mustAccount(t, s, "HOUR", "-100")
	capped, err := s.CreateAccount(ctx, ledger.NewAccount{Unit: "HOUR", Kind: ledger.KindMember, LowerBound: dp("-10"), UpperBound: dp("40")})
	if err != nil {
		t.Fatal(err)
	}
	mustTransfer(t, s, move(src, capped.ID, "39", "HOUR"))
	_, err = s.CreateTransfer(ctx, ledger.TransferRequest{Postings: []ledger.Posting{move(src, capped.ID, "2", "HOUR")}})
	var le *ledger.Error
	if !errors.As(err, &le) || le.Reason != ledger.ReasonLimitExceeded || !le.Available.Equal(d("1")) || !le.Requested.Equal(d("2")) {
		t.Fatalf("err = %#v, want limit exceeded with 1 of room for 2", err)
	}
	mustTransfer(t, s, move(src, capped.ID, "1", "HOUR"))
	wantBalances(t, s, capped.ID, "40", "40")
}

func TestIdempotentRetry(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	mustUnit(t, s, "HOUR", 2)
	a := mustAccount(t, s, "HOUR", "-10")
	b := mustAccount(t, s, "HOUR", "-10")
	req := ledger.TransferRequest{IdempotencyKey: "exchange-42", Postings: []ledger.Posting{move(a, b, "1.50", "HOUR")}, Metadata: json.RawMessage(`{"b":1,"a":2}`)}
	first, err := s.CreateTransfer(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	// The same content written differently ("1.5", keys reordered) is the
	// same request.
	again := ledger.TransferRequest{IdempotencyKey: "exchange-42", Postings: []ledger.Posting{move(a, b, "1.5", "HOUR")}, Metadata: json.RawMessage(`{"a":2, "b":1}`)}
	second, err := s.CreateTransfer(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	if second.ID != first.ID || !second.Replayed || first.Replayed {
		t.Errorf("replay = %s (replayed %v), first = %s (replayed %v)", second.ID, second.Replayed, first.ID, first.Replayed)
	}
	wantBalances(t, s, b, "1.5", "1.5")

	other := req
	other.Postings = []ledger.Posting{move(a, b, "2", "HOUR")}
	_, err = s.CreateTransfer(ctx, other)
	if !errors.Is(err, ledger.ErrIdempotencyConflict) {
		t.Fatalf("err = %v, want idempotency conflict", err)
	}
	wantBalances(t, s, b, "1.5", "1.5")
	mustVerify(t, s)
}

func TestReversal(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	mustUnit(t, s, "HOUR", 2)
	a := mustAccount(t, s, "HOUR", "-10")
	b := mustAccount(t, s, "HOUR", "0")
	c := mustAccount(t, s, "HOUR", "0")
	tr := mustTransfer(t, s, move(a, b, "3", "HOUR"))

	rev, err := s.Reverse(ctx, tr.ID, ledger.ReverseRequest{Memo: "entered twice"})
	if err != nil {
		t.Fatal(err)
	}
	if rev.Reverses == nil || *rev.Reverses != tr.ID || rev.Postings[0].From != b || rev.Postings[0].To != a {
		t.Errorf("reversal = %+v", rev)
	}
	wantBalances(t, s, a, "0", "0")
	wantBalances(t, s, b, "0", "0")
	if _, err := s.Reverse(ctx, tr.ID, ledger.ReverseRequest{}); !errors.Is(err, ledger.ErrAlreadyReversed) {
		t.Errorf("second reversal: err = %v, want already reversed", err)
	}

	// A reversal obeys bounds: b spent what it got, so it cannot give it back.
	tr2 := mustTransfer(t, s, move(a, b, "2", "HOUR"))
	mustTransfer(t, s, move(b, c, "2", "HOUR"))
	if _, err := s.Reverse(ctx, tr2.ID, ledger.ReverseRequest{}); !errors.Is(err, ledger.ErrInsufficientFunds) {
		t.Errorf("reversal of spent hours: err = %v, want insufficient funds", err)
	}
	if _, err := s.Reverse(ctx, uuid.New(), ledger.ReverseRequest{}); !errors.Is(err, ledger.ErrUnknownTransfer) {
		t.Errorf("reversal of nothing: err = %v", err)
	}
	mustVerify(t, s)
}

func TestHoldPostVoidAndPartial(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	mustUnit(t, s, "HOUR", 2)
	recv := mustAccount(t, s, "HOUR", "-10")
	give := mustAccount(t, s, "HOUR", "0")

	hold, err := s.CreateTransfer(ctx, ledger.TransferRequest{Pending: true, Postings: []ledger.Posting{move(recv, give, "4", "HOUR")}})
	if err != nil {
		t.Fatal(err)
	}
	if hold.State != ledger.StatePending {
		t.Fatalf("state = %s", hold.State)
	}
	a := account(t, s, recv)
	if !a.Posted.IsZero() || !a.PendingDebits.Equal(d("4")) || !a.Available.Equal(d("-4")) {
		t.Errorf("receiver during hold: %+v", a.Balances)
	}
	if g := account(t, s, give); !g.PendingCredits.Equal(d("4")) || !g.Posted.IsZero() {
		t.Errorf("giver during hold: %+v", g.Balances)
	}
	// The hold counts against the credit limit: 7 more hours would exceed it.
	if _, err := s.CreateTransfer(ctx, ledger.TransferRequest{Postings: []ledger.Posting{move(recv, give, "7", "HOUR")}}); !errors.Is(err, ledger.ErrInsufficientFunds) {
		t.Errorf("spending past the hold: err = %v", err)
	}

	// The exchange took 3 hours, not 4: post in part; the rest is released.
	post, err := s.PostPending(ctx, hold.ID, ledger.PostRequest{Amounts: []decimal.Decimal{d("3")}})
	if err != nil {
		t.Fatal(err)
	}
	if post.PendingID == nil || *post.PendingID != hold.ID || !post.Postings[0].Amount.Equal(d("3")) {
		t.Errorf("post = %+v", post)
	}
	wantBalances(t, s, recv, "-3", "-3")
	wantBalances(t, s, give, "3", "3")
	h, _ := s.Transfer(ctx, hold.ID)
	if h.State != ledger.StatePosted || h.ResolvedBy == nil || *h.ResolvedBy != post.ID {
		t.Errorf("hold after post = %+v", h)
	}
	if _, err := s.PostPending(ctx, hold.ID, ledger.PostRequest{}); !errors.Is(err, ledger.ErrHoldNotPending) {
		t.Errorf("posting twice: err = %v", err)
	}
	if _, err := s.VoidPending(ctx, hold.ID); !errors.Is(err, ledger.ErrHoldNotPending) {
		t.Errorf("voiding a posted hold: err = %v", err)
	}

	// Posting more than was held is refused.
	hold2, _ := s.CreateTransfer(ctx, ledger.TransferRequest{Pending: true, Postings: []ledger.Posting{move(recv, give, "1", "HOUR")}})
	if _, err := s.PostPending(ctx, hold2.ID, ledger.PostRequest{Amounts: []decimal.Decimal{d("1.5")}}); !errors.Is(err, ledger.ErrInvalidRequest) {
		t.Errorf("posting more than held: err = %v", err)
	}
	// Voiding releases the reservation and moves nothing; it is idempotent.
	v, err := s.VoidPending(ctx, hold2.ID)
	if err != nil || v.State != ledger.StateVoided {
		t.Fatalf("void = %+v, %v", v, err)
	}
	if _, err := s.VoidPending(ctx, hold2.ID); err != nil {
		t.Errorf("voiding twice: %v", err)
	}
	wantBalances(t, s, recv, "-3", "-3")
	if _, err := s.Reverse(ctx, hold2.ID, ledger.ReverseRequest{}); !errors.Is(err, ledger.ErrNotReversible) {
		t.Errorf("reversing a hold: err = %v", err)
	}
	mustVerify(t, s)
}

func TestHoldExpiry(t *testing.T) {
	ctx := context.Background()
	s, clk := newStoreAt(t)
	mustUnit(t, s, "HOUR", 2)
	recv := mustAccount(t, s, "HOUR", "-5")
	give := mustAccount(t, s, "HOUR", "0")
	exp := clk.Now().Add(time.Hour)
	hold, err := s.CreateTransfer(ctx, ledger.TransferRequest{Pending: true, ExpiresAt: &exp, Postings: []ledger.Posting{move(recv, give, "5", "HOUR")}})
	if err != nil {
		t.Fatal(err)
	}
	wantBalances(t, s, recv, "0", "-5")
	if _, err := s.CreateTransfer(ctx, ledger.TransferRequest{Postings: []ledger.Posting{move(recv, give, "1", "HOUR")}}); !errors.Is(err, ledger.ErrInsufficientFunds) {
		t.Fatalf("while held: err = %v", err)
	}

	clk.Advance(time.Hour)
	// Past its expiry the hold no longer shows, though nothing swept it yet…
	wantBalances(t, s, recv, "0", "0")
	if g := account(t, s, give); !g.PendingCredits.IsZero() {
		t.Errorf("giver's pending credits after expiry = %s", g.PendingCredits)
	}
	// …and no longer blocks a transfer: the transfer path releases it first.
	mustTransfer(t, s, move(recv, give, "1", "HOUR"))
	h, _ := s.Transfer(ctx, hold.ID)
	if h.State != ledger.StateExpired {
		t.Errorf("hold state = %s, want expired", h.State)
	}
	if _, err := s.PostPending(ctx, hold.ID, ledger.PostRequest{}); !errors.Is(err, ledger.ErrHoldNotPending) {
		t.Errorf("posting an expired hold: err = %v", err)
	}

	// The sweeper expires holds nobody touches, and posting one that is due
	// fails with hold expired.
	exp2 := clk.Now().Add(time.Minute)
	h2, _ := s.CreateTransfer(ctx, ledger.TransferRequest{Pending: true, ExpiresAt: &exp2, Postings: []ledger.Posting{move(recv, give, "1", "HOUR")}})
	h3, _ := s.CreateTransfer(ctx, ledger.TransferRequest{Pending: true, ExpiresAt: &exp2, Postings: []ledger.Posting{move(recv, give, "1", "HOUR")}})
	clk.Advance(2 * time.Minute)
	if _, err := s.PostPending(ctx, h2.ID, ledger.PostRequest{}); !errors.Is(err, ledger.ErrHoldExpired) {
		t.Errorf("posting a due hold: err = %v", err)
	}
	n, err := s.ExpireHolds(ctx, 10)
	if err != nil || n != 1 {
		t.Errorf("ExpireHolds = %d, %v; want 1 (h3)", n, err)
	}
	if got, _ := s.Transfer(ctx, h3.ID); got.State != ledger.StateExpired {
		t.Errorf("h3 state = %s", got.State)
	}
	wantBalances(t, s, recv, "-1", "-1")
	if _, err := s.CreateTransfer(ctx, ledger.TransferRequest{Pending: true, ExpiresAt: &exp2, Postings: []ledger.Posting{move(recv, give, "1", "HOUR")}}); !errors.Is(err, ledger.ErrInvalidRequest) {
		t.Errorf("expiry in the past: err = %v", err)
	}
	mustVerify(t, s)
}

func TestHistoryAndBalanceAt(t *testing.T) {
	ctx := context.Background()
	s, clk := newStoreAt(t)
	mustUnit(t, s, "HOUR", 2)
	a := mustAccount(t, s, "HOUR", "-100")
	b := mustAccount(t, s, "HOUR", "0")
	start := clk.Now()
	for i := 1; i <= 25; i++ {
		clk.Advance(time.Minute)
		mustTransfer(t, s, move(a, b, "1", "HOUR"))
	}
	// Newest first, in pages of 10, with no gaps or repeats.
	var seqs []int64
	var before int64
	for page := 0; ; page++ {
		es, next, err := s.Entries(ctx, b, ledger.Page{Limit: 10, Before: before})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			seqs = append(seqs, e.Seq)
		}
		if page == 0 && (!es[0].BalanceAfter.Equal(d("25")) || es[0].Seq != 25) {
			t.Errorf("newest entry = %+v", es[0])
		}
		if next == 0 {
			break
		}
		before = next
	}
	if len(seqs) != 25 || seqs[0] != 25 || seqs[24] != 1 {
		t.Errorf("seqs = %v", seqs)
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]-1 {
			t.Fatalf("seqs not consecutive: %v", seqs)
		}
	}
	for _, c := range []struct {
		at   time.Time
		want string
	}{
		{start, "0"},
		{start.Add(time.Minute), "1"},
		{start.Add(10*time.Minute + 30*time.Second), "10"},
		{start.Add(time.Hour), "25"},
	} {
		got, err := s.BalanceAt(ctx, b, c.at)
		if err != nil || !got.Equal(d(c.want)) {
			t.Errorf("BalanceAt(%s) = %s, %v; want %s", c.at.Sub(start), got, err, c.want)
		}
	}
	if _, err := s.BalanceAt(ctx, uuid.New(), start); !errors.Is(err, ledger.ErrUnknownAccount) {
		t.Errorf("BalanceAt of nothing: err = %v", err)
	}
}

func TestBatches(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	mustUnit(t, s, "HOUR", 2)
	a := mustAccount(t, s, "HOUR", "0")
	b := mustAccount(t, s, "HOUR", "0")
	src := mustAccount(t, s, "HOUR", "-1000")

	// Atomic: a later transfer may spend what an earlier one brought; one
	// refusal fails them all and writes nothing.
	ok := []ledger.TransferRequest{
		{Postings: []ledger.Posting{move(src, a, "10", "HOUR")}},
		{Postings: []ledger.Posting{move(a, b, "10", "HOUR")}},
	}
	if _, err := s.CreateTransfers(ctx, ok, true); err != nil {
		t.Fatal(err)
	}
	wantBalances(t, s, b, "10", "10")
	bad := []ledger.TransferRequest{
		{Postings: []ledger.Posting{move(src, a, "5", "HOUR")}},
		{Postings: []ledger.Posting{move(a, b, "6", "HOUR")}},
	}
	_, err := s.CreateTransfers(ctx, bad, true)
	var le *ledger.Error
	if i, ok := errs.IndexOf(err); !errors.As(err, &le) || le.Reason != ledger.ReasonInsufficientFunds || !ok || i != 1 {
		t.Fatalf("atomic batch: err = %v, want insufficient funds at index 1", err)
	}
	wantBalances(t, s, a, "0", "0")

	// Independent: each stands alone.
	res, err := s.CreateTransfers(ctx, []ledger.TransferRequest{
		{Postings: []ledger.Posting{move(src, a, "5", "HOUR")}},
		{Postings: []ledger.Posting{move(a, b, "6", "HOUR")}},
		{Postings: []ledger.Posting{move(a, b, "5", "HOUR")}},
		{Postings: []ledger.Posting{move(a, b, "1.001", "HOUR")}},
		{IdempotencyKey: "k", Postings: []ledger.Posting{move(src, b, "1", "HOUR")}},
		{IdempotencyKey: "k", Postings: []ledger.Posting{move(src, b, "1", "HOUR")}},
		{IdempotencyKey: "k", Postings: []ledger.Posting{move(src, b, "2", "HOUR")}},
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	wantErr := []error{nil, ledger.ErrInsufficientFunds, nil, ledger.ErrTooManyDecimals, nil, nil, ledger.ErrIdempotencyConflict}
	for i, r := range res {
		if wantErr[i] == nil && r.Err != nil || wantErr[i] != nil && !errors.Is(r.Err, wantErr[i]) {
			t.Errorf("result %d: err = %v, want %v", i, r.Err, wantErr[i])
		}
	}
	if res[5].Transfer.ID != res[4].Transfer.ID || !res[5].Transfer.Replayed {
		t.Errorf("duplicate key in batch: %s vs %s", res[5].Transfer.ID, res[4].Transfer.ID)
	}
	wantBalances(t, s, a, "0", "0")
	wantBalances(t, s, b, "16", "16")
	mustVerify(t, s)
}

func TestBoundsAndStatusChanges(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	mustUnit(t, s, "HOUR", 2)
	a := mustAccount(t, s, "HOUR", "-10")
	b := mustAccount(t, s, "HOUR", "0")
	mustTransfer(t, s, move(a, b, "8", "HOUR"))
	// A coordinator cannot lower the credit limit below what is already used.
	if _, err := s.SetBounds(ctx, a, dp("-5"), nil); !errors.Is(err, ledger.ErrBoundsViolated) {
		t.Errorf("tightening below the balance: err = %v", err)
	}
	acc, err := s.SetBounds(ctx, a, dp("-20"), nil)
	if err != nil || !acc.LowerBound.Equal(d("-20")) {
		t.Fatalf("SetBounds = %+v, %v", acc, err)
	}
	mustTransfer(t, s, move(a, b, "12", "HOUR"))

	if _, err := s.SetStatus(ctx, b, ledger.StatusFrozen); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetStatus(ctx, b, ledger.StatusClosed); !errors.Is(err, ledger.ErrAccountNotEmpty) {
		t.Errorf("closing a non-empty account: err = %v", err)
	}
	if _, err := s.SetStatus(ctx, b, ledger.StatusOpen); err != nil {
		t.Fatal(err)
	}
	mustTransfer(t, s, move(b, a, "20", "HOUR"))
	if _, err := s.SetStatus(ctx, b, ledger.StatusClosed); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetStatus(ctx, b, ledger.StatusOpen); !errors.Is(err, ledger.ErrAccountClosed) {
		t.Errorf("reopening: err = %v", err)
	}
	mustVerify(t, s)
}

func TestPostingNothingVoidsTheHold(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	mustUnit(t, s, "HOUR", 2)
	a := mustAccount(t, s, "HOUR", "-10")
	b := mustAccount(t, s, "HOUR", "0")
	hold, err := s.CreateTransfer(ctx, ledger.TransferRequest{Pending: true, Postings: []ledger.Posting{move(a, b, "3", "HOUR")}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.PostPending(ctx, hold.ID, ledger.PostRequest{Amounts: []decimal.Decimal{decimal.Zero}})
	if err != nil || got.ID != hold.ID || got.State != ledger.StateVoided {
		t.Fatalf("PostPending(0) = %s %s, %v; want the hold, voided", got.ID, got.State, err)
	}
	wantBalances(t, s, a, "0", "0")
	mustVerify(t, s)
}
