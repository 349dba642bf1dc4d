package exchange_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

var due = time.Date(2026, 4, 30, 0, 0, 0, 0, time.UTC)

// owes records and, unless pending, confirms that debtor owes creditor
// amount USD, payable to account to.
func (w *tradeWorld) owes(t *testing.T, creditor exchange.Principal, to uuid.UUID, debtor exchange.Org, confirm exchange.Principal, amount, ref string) exchange.Obligation {
	t.Helper()
	o, err := w.ex.RecordObligation(w.ctx, creditor, exchange.NewObligation{DebtorOrg: debtor.ID, CreditorAccount: to, Amount: num(amount), DueDate: due, Reference: ref})
	if err != nil {
		t.Fatalf("recording %s: %v", ref, err)
	}
	if confirm.MemberID != uuid.Nil {
		if o, err = w.ex.ConfirmObligation(w.ctx, confirm, o.ID); err != nil {
			t.Fatalf("confirming %s: %v", ref, err)
		}
	}
	return o
}

func (w *tradeWorld) outstanding(t *testing.T, id uuid.UUID) (decimal.Decimal, exchange.ObligationStatus) {
	t.Helper()
	o, err := w.ex.Obligation(w.ctx, w.admin, id)
	if err != nil {
		t.Fatal(err)
	}
	return o.Outstanding, o.Status
}

// TestObligationLifecycle records, confirms, disputes and pays obligations
// and checks every refusal on the way.
func TestObligationLifecycle(t *testing.T) {
	t.Parallel()
	w := newTradeWorld(t)
	// Bakery C says Kitchen B owes it 120 USD.
	o, err := w.ex.RecordObligation(w.ctx, w.coordC, exchange.NewObligation{DebtorOrg: w.b.ID, CreditorAccount: w.cUSD, Amount: num("120"), DueDate: due, Reference: "INV-1"})
	if err != nil || o.Status != exchange.ObligationPending || !o.Outstanding.Equal(num("120")) || o.CreditorOrg != w.c.ID {
		t.Fatalf("recorded %+v, %v", o, err)
	}
	for name, c := range map[string]struct {
		p    exchange.Principal
		in   exchange.NewObligation
		want error
	}{
		"not the creditor's coordinator":             {w.coordB, exchange.NewObligation{DebtorOrg: w.a.ID, CreditorAccount: w.cUSD, Amount: num("1"), DueDate: due, Reference: "x"}, ledger.ErrUnknownAccount},
		"a plain member of the creditor":             {w.memberB, exchange.NewObligation{DebtorOrg: w.a.ID, CreditorAccount: w.bUSD, Amount: num("1"), DueDate: due, Reference: "x"}, ledger.ErrUnknownAccount},
		"the federation's coordinator for the co-op": {w.coordLocal, exchange.NewObligation{DebtorOrg: w.a.ID, CreditorAccount: w.cUSD, Amount: num("1"), DueDate: due, Reference: "x"}, nil},
		"owes itself":       {w.coordC, exchange.NewObligation{DebtorOrg: w.c.ID, CreditorAccount: w.cUSD, Amount: num("1"), DueDate: due, Reference: "x"}, ledger.ErrInvalidRequest},
		"too many decimals": {w.coordC, exchange.NewObligation{DebtorOrg: w.b.ID, CreditorAccount: w.cUSD, Amount: num("1.001"), DueDate: due, Reference: "x"}, ledger.ErrTooManyDecimals},
		"no reference":      {w.coordC, exchange.NewObligation{DebtorOrg: w.b.ID, CreditorAccount: w.cUSD, Amount: num("1"), DueDate: due}, ledger.ErrInvalidRequest},
		"unknown debtor":    {w.coordC, exchange.NewObligation{DebtorOrg: uuid.New(), CreditorAccount: w.cUSD, Amount: num("1"), DueDate: due, Reference: "x"}, exchange.ErrUnknownOrg},
		"a fund's account":  {w.coordB, exchange.NewObligation{DebtorOrg: w.a.ID, CreditorAccount: w.bFund, Amount: num("1"), DueDate: due, Reference: "x"}, ledger.ErrInvalidRequest},
	} {
		_, err := w.ex.RecordObligation(w.ctx, c.p, c.in)
		wantErr(t, name, err, c.want)
	}
	if n := w.count(t, "obligations"); n != 2 {
		t.Fatalf("%d obligations after refusals and one recorded by the federation, want 2", n)
	}
	// Nobody pays a pending obligation, and the creditor cannot confirm it.
	_, err = w.ex.PayObligation(w.ctx, w.coordB, o.ID, w.bUSD, num("10"))
	wantErr(t, "paying a pending obligation", err, exchange.ErrObligationNotOpen)
	_, err = w.ex.ConfirmObligation(w.ctx, w.coordC, o.ID)
	wantErr(t, "the creditor confirming", err, exchange.ErrForbidden)
	_, err = w.ex.ConfirmObligation(w.ctx, w.coordA, o.ID)
	wantErr(t, "a third co-op confirming", err, exchange.ErrUnknownObligation)
	if o, err = w.ex.ConfirmObligation(w.ctx, w.coordB, o.ID); err != nil || o.Status != exchange.ObligationConfirmed {
		t.Fatalf("confirming: %+v %v", o, err)
	}
	_, err = w.ex.DisputeObligation(w.ctx, w.coordB, o.ID, "changed my mind")
	wantErr(t, "disputing a confirmed obligation", err, exchange.ErrObligationNotOpen)
	// Pay 100 of it, then too much, then the rest.
	pay, err := w.ex.PayObligation(w.ctx, w.coordB, o.ID, w.bUSD, num("100"))
	if err != nil || !pay.Obligation.Outstanding.Equal(num("20")) || pay.Obligation.Status != exchange.ObligationConfirmed {
		t.Fatalf("paying 100: %+v %v", pay, err)
	}
	w.wantBalance(t, w.cUSD, "100")
	w.wantBalance(t, w.bUSD, "400")
	_, err = w.ex.PayObligation(w.ctx, w.coordB, o.ID, w.bUSD, num("20.01"))
	wantErr(t, "overpaying", err, exchange.ErrOverpaysObligation)
	_, err = w.ex.PayObligation(w.ctx, w.coordB, o.ID, w.aUSD, num("20"))
	wantErr(t, "paying from another co-op's account", err, exchange.ErrNotVisible)
	_, err = w.ex.PayObligation(w.ctx, w.memberB, o.ID, w.bUSD, num("20"))
	wantErr(t, "a plain member paying", err, exchange.ErrNotVisible)
	if pay, err = w.ex.PayObligation(w.ctx, w.coordB, o.ID, w.bUSD, num("20")); err != nil || pay.Obligation.Status != exchange.ObligationSettled {
		t.Fatalf("paying the rest: %+v %v", pay, err)
	}
	_, err = w.ex.PayObligation(w.ctx, w.coordB, o.ID, w.bUSD, num("1"))
	wantErr(t, "paying a settled obligation", err, exchange.ErrObligationNotOpen)
	w.wantBalance(t, w.cUSD, "120")

	// A disputed obligation counts for nothing.
	d := w.owes(t, w.coordA, w.aUSD, w.b, exchange.Principal{}, "50", "INV-2")
	_, err = w.ex.DisputeObligation(w.ctx, w.coordB, d.ID, "")
	wantErr(t, "a dispute without a reason", err, ledger.ErrInvalidRequest)
	if d, err = w.ex.DisputeObligation(w.ctx, w.coordB, d.ID, "never delivered"); err != nil || d.Status != exchange.ObligationDisputed {
		t.Fatalf("disputing: %+v %v", d, err)
	}
	_, err = w.ex.PayObligation(w.ctx, w.coordB, d.ID, w.bUSD, num("1"))
	wantErr(t, "paying a disputed obligation", err, exchange.ErrObligationNotOpen)
	// The creditors' coordinators heard of each step.
	ns, _, err := w.ex.Notifications(w.ctx, w.coordA, false, exchange.Page{})
	// (The first tells A of the obligation the federation recorded.)
	if err != nil || len(ns) != 2 || ns[1].Kind != "obligation_disputed" || !strings.Contains(ns[1].Message, "never delivered") {
		t.Fatalf("A's notifications: %+v %v", ns, err)
	}
	// With the names and figures the pages say it with in each language.
	if ps := ns[1].Params; ps["Reason"] != "never delivered" || ps["Amount"] != "50" || ps["Unit"] != "USD" || ps["Invoice"] != "INV-2" ||
		ps["Creditor"] == "" || ps["Debtor"] == "" || ps["Due"] == "" {
		t.Errorf("the dispute's parameters: %v", ps)
	}
	ns, _, err = w.ex.Notifications(w.ctx, w.coordB, false, exchange.Page{})
	if err != nil || len(ns) != 2 || ns[0].Kind != "obligation_recorded" || *ns[0].Obligation != o.ID {
		t.Fatalf("B's notifications: %+v %v", ns, err)
	}
	list, _, err := w.ex.Obligations(w.ctx, w.memberB, w.b.ID, exchange.Page{})
	if err != nil || len(list) != 2 {
		t.Fatalf("B's obligations: %d %v", len(list), err)
	}
	w.verify(t)
}

// triangle: A owes B 100, B owes C 50, C owes A 80, all confirmed, in USD.
func (w *tradeWorld) triangle(t *testing.T) (ab, bc, ca exchange.Obligation) {
	t.Helper()
	ab = w.owes(t, w.coordB, w.bUSD, w.a, w.coordA, "100", "AB")
	bc = w.owes(t, w.coordC, w.cUSD, w.b, w.coordB, "50", "BC")
	ca = w.owes(t, w.coordA, w.aUSD, w.c, w.coordC, "80", "CA")
	return
}

// TestClearingRun clears a triangle of debts among three co-ops: a dry
// run first, which writes nothing, then the run, then a second that finds
// nothing left. Pending and disputed obligations do not count.
func TestClearingRun(t *testing.T) {
	t.Parallel()
	w := newTradeWorld(t)
	ab, bc, ca := w.triangle(t)
	w.owes(t, w.coordB, w.bUSD, w.c, exchange.Principal{}, "999", "pending C->B") // would close another cycle
	_, err := w.ex.RunClearing(w.ctx, w.coordA, exchange.ClearingRequest{Group: w.local.ID, Unit: "USD", DryRun: false})
	wantErr(t, "a co-op's coordinator clearing the federation", err, exchange.ErrForbidden)
	_, err = w.ex.RunClearing(w.ctx, w.coordLocal, exchange.ClearingRequest{Group: w.local.ID, Unit: "EUR", DryRun: false})
	wantErr(t, "an unknown unit", err, ledger.ErrUnknownUnit)

	dry, err := w.ex.RunClearing(w.ctx, w.coordLocal, exchange.ClearingRequest{Group: w.local.ID, Unit: "USD", DryRun: true})
	if err != nil || dry.ID != uuid.Nil || !dry.Cleared.Equal(num("150")) || !dry.TotalDebt.Equal(num("230")) || dry.Obligations != 3 || len(dry.Reductions) != 3 {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	if n := w.count(t, "clearing_runs"); n != 0 {
		t.Fatalf("a dry run wrote %d runs", n)
	}
	if out, _ := w.outstanding(t, ab.ID); !out.Equal(num("100")) {
		t.Fatalf("a dry run changed A->B to %s", out)
	}

	run, err := w.ex.RunClearing(w.ctx, w.coordLocal, exchange.ClearingRequest{Group: w.local.ID, Unit: "USD", DryRun: false})
	if err != nil || run.ID == uuid.Nil || !run.Cleared.Equal(num("150")) || run.Participants != 3 {
		t.Fatalf("run: %+v %v", run, err)
	}
	for _, c := range []struct {
		id     uuid.UUID
		want   string
		status exchange.ObligationStatus
	}{{ab.ID, "50", exchange.ObligationConfirmed}, {bc.ID, "0", exchange.ObligationSettled}, {ca.ID, "30", exchange.ObligationConfirmed}} {
		if out, st := w.outstanding(t, c.id); !out.Equal(num(c.want)) || st != c.status {
			t.Errorf("obligation %s: %s %s, want %s %s", c.id, out, st, c.want, c.status)
		}
	}
	// No value moved.
	w.wantBalance(t, w.aUSD, "0")
	w.wantBalance(t, w.bUSD, "500")
	// Each co-op's coordinator is told what was cancelled against whom.
	ns, _, err := w.ex.Notifications(w.ctx, w.coordB, true, exchange.Page{})
	if err != nil {
		t.Fatal(err)
	}
	last := ns[len(ns)-1]
	if last.Kind != "clearing_applied" || *last.ClearingRun != run.ID || !strings.Contains(last.Message, "50 to Bakery co-op (invoice BC)") ||
		!strings.Contains(last.Message, "50 from Orchard co-op (invoice AB)") {
		t.Fatalf("B's notice: %+v", last)
	}
	if ps := last.Params; ps["Unit"] != "USD" || ps["Out"] != "50.00" || ps["In"] != "50.00" || ps["Org"] == "" {
		t.Errorf("the clearing notice's parameters: %v", ps)
	}
	again, err := w.ex.RunClearing(w.ctx, w.coordLocal, exchange.ClearingRequest{Group: w.local.ID, Unit: "USD", DryRun: false})
	if err != nil || !again.Cleared.IsZero() || again.Obligations != 2 {
		t.Fatalf("second run: %+v %v", again, err)
	}
	// A group of one co-op has no obligation between its members.
	solo, err := w.ex.RunClearing(w.ctx, w.coordA, exchange.ClearingRequest{Group: w.a.ID, Unit: "USD", DryRun: true})
	if err != nil || solo.Obligations != 0 {
		t.Fatalf("A alone: %+v %v", solo, err)
	}
	w.verify(t)
}

// TestClearingRaces races, many times over, a payment of A->B in full
// against a clearing run over the federation, and two runs against each
// other. Whatever the order, no obligation goes below zero, the payment
// and the run never both take the same debt, and the two runs together
// clear exactly what one would.
func TestClearingRaces(t *testing.T) {
	t.Parallel()
	w := newTradeWorld(t)
	bank := w.bank
	paidFirst, clearedFirst := 0, 0
	for round := range 8 {
		ab, _, _ := w.triangle(t)
		w.move(t, bank, w.aUSD, num("100"), "USD")
		var wg sync.WaitGroup
		var payErr, runErr error
		var run exchange.ClearingRun
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, payErr = w.ex.PayObligation(w.ctx, w.coordA, ab.ID, w.aUSD, num("100"))
		}()
		go func() {
			defer wg.Done()
			run, runErr = w.ex.RunClearing(w.ctx, w.coordLocal, exchange.ClearingRequest{Group: w.local.ID, Unit: "USD", DryRun: false})
		}()
		wg.Wait()
		if runErr != nil {
			t.Fatalf("round %d: run: %v", round, runErr)
		}
		out, _ := w.outstanding(t, ab.ID)
		switch {
		case payErr == nil:
			// Paid first: nothing of A->B was left for the run.
			paidFirst++
			if !out.IsZero() {
				t.Fatalf("round %d: paid in full but %s outstanding", round, out)
			}
			for _, r := range run.Reductions {
				if r.ObligationID == ab.ID {
					t.Fatalf("round %d: the run cleared %s of an obligation already paid", round, r.Amount)
				}
			}
		case errors.Is(payErr, exchange.ErrOverpaysObligation):
			// The run went first and left 50: paying 100 is refused.
			clearedFirst++
			if !out.Equal(num("50")) {
				t.Fatalf("round %d: payment refused with %s outstanding", round, out)
			}
		default:
			t.Fatalf("round %d: payment: %v", round, payErr)
		}
		// Settle what is left so the next round starts clean.
		w.settleAll(t)
	}
	t.Logf("payment first in %d rounds, clearing first in %d", paidFirst, clearedFirst)
	// Two runs at once over the same group.
	for round := range 5 {
		w.triangle(t)
		var wg sync.WaitGroup
		runs := make([]exchange.ClearingRun, 2)
		errs := make([]error, 2)
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runs[i], errs[i] = w.ex.RunClearing(w.ctx, w.coordLocal, exchange.ClearingRequest{Group: w.local.ID, Unit: "USD", DryRun: false})
			}()
		}
		wg.Wait()
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("round %d: %v %v", round, errs[0], errs[1])
		}
		total := runs[0].Cleared.Add(runs[1].Cleared)
		if !total.Equal(num("150")) || !runs[0].Cleared.IsZero() && !runs[1].Cleared.IsZero() {
			t.Fatalf("round %d: the runs cleared %s and %s; want 150 by one of them", round, runs[0].Cleared, runs[1].Cleared)
		}
		w.settleAll(t)
	}
	w.verify(t)
}

// settleAll disputes nothing and pays every open obligation among the
// co-ops in full, from the debtor's USD account topped up by the bank.
func (w *tradeWorld) settleAll(t *testing.T) {
	t.Helper()
	accounts := map[uuid.UUID]uuid.UUID{w.a.ID: w.aUSD, w.b.ID: w.bUSD, w.c.ID: w.cUSD}
	coords := map[uuid.UUID]exchange.Principal{w.a.ID: w.coordA, w.b.ID: w.coordB, w.c.ID: w.coordC}
	for _, org := range []uuid.UUID{w.a.ID, w.b.ID, w.c.ID} {
		list, _, err := w.ex.Obligations(w.ctx, w.admin, org, exchange.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range list {
			if o.Status != exchange.ObligationConfirmed || o.DebtorOrg != org {
				continue
			}
			w.move(t, w.bank, accounts[org], o.Outstanding, "USD")
			if _, err := w.ex.PayObligation(w.ctx, coords[org], o.ID, accounts[org], o.Outstanding); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestClearingWithCredit: A owes B 70 and B owes C 40, a chain set-off
// alone cannot touch. A and C agreed to clear through their accounts (A's
// with a credit limit of 100): a run with credit has A pay C 40 through
// the ledger and cancels 40 of each debt, leaving every position (counting
// the accounts) unchanged.
func TestClearingWithCredit(t *testing.T) {
	t.Parallel()
	w := newTradeWorld(t)
	aCredit, err := w.led.CreateAccount(w.ctx, ledger.NewAccount{Unit: "USD", Owner: exchange.OrgOwner(w.a.ID), Kind: ledger.KindOrganization,
		Name: "mutual credit", LowerBound: ptr(num("-100"))})
	if err != nil {
		t.Fatal(err)
	}
	ab := w.owes(t, w.coordB, w.bUSD, w.a, w.coordA, "70", "AB")
	bc := w.owes(t, w.coordC, w.cUSD, w.b, w.coordB, "40", "BC")
	req := exchange.ClearingRequest{Group: w.local.ID, Unit: "USD", UseCredit: true}

	_, err = w.ex.SetClearingCreditLine(w.ctx, w.coordB, w.a.ID, aCredit.ID)
	wantErr(t, "B consenting for A", err, exchange.ErrForbidden)
	_, err = w.ex.SetClearingCreditLine(w.ctx, w.coordA, w.a.ID, w.cUSD)
	wantErr(t, "A consenting with C's account", err, ledger.ErrInvalidRequest)
	_, err = w.ex.SetClearingCreditLine(w.ctx, w.coordB, w.b.ID, w.bFund)
	wantErr(t, "a fund's account", err, ledger.ErrInvalidRequest)

	// Without consent, credit changes nothing.
	if dry, err := w.ex.RunClearing(w.ctx, w.coordLocal, exchange.ClearingRequest{Group: w.local.ID, Unit: "USD", UseCredit: true, DryRun: true}); err != nil || !dry.Cleared.IsZero() {
		t.Fatalf("dry run before consent: %+v %v", dry, err)
	}
	if _, err := w.ex.SetClearingCreditLine(w.ctx, w.coordA, w.a.ID, aCredit.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ex.SetClearingCreditLine(w.ctx, w.coordC, w.c.ID, w.cUSD); err != nil {
		t.Fatal(err)
	}
	req.DryRun = true
	dry, err := w.ex.RunClearing(w.ctx, w.coordLocal, req)
	if err != nil || !dry.Cleared.Equal(num("80")) || !dry.ThroughLedger.Equal(num("40")) || dry.TransferID != nil {
		t.Fatalf("dry run with credit: %+v %v", dry, err)
	}
	w.wantBalance(t, aCredit.ID, "0")
	req.DryRun = false
	run, err := w.ex.RunClearing(w.ctx, w.coordLocal, req)
	if err != nil || !run.Cleared.Equal(num("80")) || run.TransferID == nil || len(run.LedgerPayments) != 2 {
		t.Fatalf("run with credit: %+v %v", run, err)
	}
	w.wantBalance(t, aCredit.ID, "-40")
	w.wantBalance(t, w.cUSD, "40")
	if out, _ := w.outstanding(t, ab.ID); !out.Equal(num("30")) {
		t.Errorf("A->B left %s, want 30", out)
	}
	if out, st := w.outstanding(t, bc.ID); !out.IsZero() || st != exchange.ObligationSettled {
		t.Errorf("B->C left %s %s, want settled", out, st)
	}
	ns, _, err := w.ex.Notifications(w.ctx, w.coordA, true, exchange.Page{Limit: 100})
	if err != nil || !strings.Contains(ns[len(ns)-1].Message, "it paid 40 USD through its account") {
		t.Fatalf("A's notice: %+v %v", ns[len(ns)-1], err)
	}
	w.verify(t)
	// A run that claims more went through the ledger than its transfer
	// moved is named.
	if _, err := w.pool.Exec(w.ctx, `UPDATE clearing_runs SET through_ledger = through_ledger + 1 WHERE id = $1`, run.ID); err != nil {
		t.Fatal(err)
	}
	v, err := w.ex.Verify(w.ctx)
	want := "clearing run " + run.ID.String() + " says 41 went through the ledger but transfer " + run.TransferID.String() + " moved 40"
	if err != nil || len(v) != 1 || !strings.Contains(v[0], want) {
		t.Errorf("verify after tampering with the run found %q, %v; want one line with %q", v, err, want)
	}
}
