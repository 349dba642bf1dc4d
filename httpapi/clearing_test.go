package httpapi_test

import (
	"bytes"
	"encoding/csv"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
)

// clearingWorld adds a third organization, a mill, to the world, and a USD
// account for each of the time bank (T), the co-op (C) and the mill (M).
type clearingWorld struct {
	*world
	mill           exchange.Org
	coordMill      actor
	tbUSD, millUSD string
}

func newClearingWorld(t *testing.T) *clearingWorld {
	w := &clearingWorld{world: newWorld(t)}
	w.mill = w.org(w.local, exchange.KindCoop, "Mill co-op")
	w.coordMill = w.member(w.mill, exchange.RoleCoordinator, "Mo")
	w.tbUSD = w.account(orgOwner(w.timebank), "USD", "organization", "")
	w.millUSD = w.account(orgOwner(w.mill), "USD", "organization", "")
	return w
}

// owes has creditor's coordinator record that debtor owes amount USD into
// account to, and debtor's coordinator confirm it (unless confirm is
// empty); it returns the obligation's id.
func (w *clearingWorld) owes(creditor actor, to string, debtor exchange.Org, confirm actor, amount, ref string) string {
	w.t.Helper()
	o := w.must(w.call("POST", "/v1/obligations", creditor.token, map[string]any{
		"debtor_org": debtor.ID.String(), "creditor_account": to, "amount": amount, "due_date": "2026-04-30", "reference": ref}), 201)
	if o["status"] != "pending" || o["outstanding"] != amount {
		w.t.Fatalf("recorded %v", o)
	}
	id := o["id"].(string)
	if confirm.token != "" {
		if c := w.must(w.call("POST", "/v1/obligations/"+id+"/confirm", confirm.token, nil), 200); c["status"] != "confirmed" {
			w.t.Fatalf("confirmed %v", c)
		}
	}
	return id
}

func (w *clearingWorld) obligation(id string) map[string]any {
	w.t.Helper()
	return w.must(w.call("GET", "/v1/obligations/"+id, w.admin.token, nil), 200)
}

// TestObligationsAndClearing records, confirms, disputes and pays
// obligations over HTTP, then dry-runs and runs a clearing of the cycle
// T owes C, C owes M, M owes T; every test's cleanup verifies the ledger
// and the exchange's records.
func TestObligationsAndClearing(t *testing.T) {
	t.Parallel()
	w := newClearingWorld(t)
	tc := w.owes(w.coordCoop, w.coopUSD, w.timebank, w.coordTB, "100.00", "C-1")
	cm := w.owes(w.coordMill, w.millUSD, w.coop, w.coordCoop, "60.00", "M-1")
	mt := w.owes(w.coordTB, w.tbUSD, w.mill, w.coordMill, "80.00", "T-1")

	// Refusals, each naming the field.
	p := w.problem(w.call("POST", "/v1/obligations", w.coordCoop.token, map[string]any{
		"debtor_org": w.timebank.ID.String(), "creditor_account": w.coopUSD, "amount": "1.001", "due_date": "2026-04-30", "reference": "x"}), 422, "too-many-decimals")
	if len(p.Errors) == 0 || p.Errors[0].Field != "amount" {
		t.Errorf("too many decimals: %+v", p)
	}
	p = w.problem(w.call("POST", "/v1/obligations", w.coordCoop.token, map[string]any{
		"debtor_org": w.timebank.ID.String(), "creditor_account": w.coopUSD, "amount": "1", "due_date": "30/04/2026", "reference": "x"}), 400, "malformed-request")
	if len(p.Errors) == 0 || p.Errors[0].Field != "due_date" {
		t.Errorf("bad date: %+v", p)
	}
	w.problem(w.call("POST", "/v1/obligations/"+tc+"/confirm", w.coordCoop.token, nil), 403, "forbidden")

	// A disputed invoice counts for nothing and cannot be paid.
	disputed := w.owes(w.coordCoop, w.coopUSD, w.timebank, actor{}, "5.00", "C-2")
	if d := w.must(w.call("POST", "/v1/obligations/"+disputed+"/dispute", w.coordTB.token, map[string]any{"reason": "never delivered"}), 200); d["status"] != "disputed" || d["dispute_reason"] != "never delivered" {
		t.Fatalf("disputed: %v", d)
	}

	// The time bank pays 10 of what it owes the co-op.
	w.must(w.transfer(w.coordCoop.token, "", posting(w.bankUSD, w.tbUSD, "50", "USD")), 201)
	pay := w.must(w.call("POST", "/v1/obligations/"+tc+"/payments", w.coordTB.token, map[string]any{"from_account": w.tbUSD, "amount": "10.00"}), 201)
	if pay["obligation"].(map[string]any)["outstanding"] != "90.00" || pay["transfer_id"] == nil {
		t.Fatalf("payment: %v", pay)
	}
	if posted, _ := w.balance(w.tbUSD); posted != "40.00" {
		t.Errorf("time bank holds %s after paying 10 of 50", posted)
	}
	w.problem(w.call("POST", "/v1/obligations/"+tc+"/payments", w.coordTB.token, map[string]any{"from_account": w.tbUSD, "amount": "90.01"}), 422, "overpays-obligation")
	w.problem(w.call("POST", "/v1/obligations/"+disputed+"/payments", w.coordTB.token, map[string]any{"from_account": w.tbUSD, "amount": "1"}), 409, "obligation-not-open")
	w.problem(w.call("POST", "/v1/obligations/"+tc+"/payments", w.coordTB.token, map[string]any{"from_account": w.tbUSD, "amount": "45.00"}), 422, "insufficient-funds")

	// Only those who act for the group may clear it.
	run := map[string]any{"org_id": w.local.ID.String(), "unit": "USD"}
	w.problem(w.call("POST", "/v1/clearing/runs", w.coordTB.token, run), 403, "forbidden")
	dry := w.must(w.call("POST", "/v1/clearing/runs", w.admin.token, map[string]any{"org_id": w.local.ID.String(), "unit": "USD", "dry_run": true}), 200)
	if dry["id"] != nil || dry["cleared"] != "180.00" || dry["total_debt"] != "230.00" || len(dry["reductions"].([]any)) != 3 {
		t.Fatalf("dry run: %v", dry)
	}
	if o := w.obligation(cm); o["outstanding"] != "60.00" {
		t.Fatalf("the dry run changed C->M: %v", o)
	}
	w.clock.Advance(time.Hour) // so that a statement can close between the payment and the run
	applied := w.must(w.call("POST", "/v1/clearing/runs", w.admin.token, run), 201)
	if applied["id"] == nil || applied["cleared"] != "180.00" || applied["participants"].(float64) != 3 {
		t.Fatalf("run: %v", applied)
	}
	for id, want := range map[string][2]string{tc: {"30.00", "confirmed"}, cm: {"0.00", "settled"}, mt: {"20.00", "confirmed"}, disputed: {"5.00", "disputed"}} {
		if o := w.obligation(id); o["outstanding"] != want[0] || o["status"] != want[1] {
			t.Errorf("obligation %s (%s): %s %s, want %v", id, o["reference"], o["outstanding"], o["status"], want)
		}
	}
	// The co-op's coordinator is told, with the run named.
	ns := w.must(w.call("GET", "/v1/me/notifications", w.coordCoop.token, nil), 200)["items"].([]any)
	last := ns[len(ns)-1].(map[string]any)
	if last["kind"] != "clearing_applied" || last["clearing_run_id"] != applied["id"] {
		t.Fatalf("co-op's last notification: %v", last)
	}
	// The co-op's obligations list both sides.
	list := w.must(w.call("GET", "/v1/obligations?org="+w.coop.ID.String(), w.cam.token, nil), 200)["items"].([]any)
	if len(list) != 3 {
		t.Fatalf("the co-op has %d obligations, want 3", len(list))
	}
	// The co-op's statement shows what it is owed and owes now: the
	// time bank's 30 left; the mill's invoice is cleared, the disputed one
	// counts for nothing.
	st := w.must(w.call("GET", "/v1/orgs/"+w.coop.ID.String()+"/statement", w.coordCoop.token, nil), 200)
	obls := st["obligations"].([]any)
	if len(obls) != 1 {
		t.Fatalf("the co-op's statement lists %d obligations, want 1: %v", len(obls), obls)
	}
	if so := obls[0].(map[string]any); so["id"] != tc || so["direction"] != "receivable" || so["outstanding"] != "30.00" || so["counterparty_name"] != "Riverside time bank" {
		t.Errorf("the co-op's statement: %v", so)
	}
	// A statement closing before the run shows what was owed then.
	before := applied["created_at"].(string)
	st = w.must(w.call("GET", "/v1/orgs/"+w.coop.ID.String()+"/statement?to="+before, w.coordCoop.token, nil), 200)
	if obls := st["obligations"].([]any); len(obls) != 2 || obls[0].(map[string]any)["outstanding"] != "90.00" || obls[1].(map[string]any)["outstanding"] != "60.00" {
		t.Errorf("the co-op's statement before the run: %v", obls)
	}
	again := w.must(w.call("POST", "/v1/clearing/runs", w.admin.token, run), 201)
	if again["cleared"] != "0.00" {
		t.Fatalf("a second run cleared %v", again["cleared"])
	}
}

// TestPaymentRacesClearing races, over HTTP, the time bank paying all it
// owes the co-op against a clearing run of the group, round after round:
// either the payment goes first and the run has nothing of it to clear, or
// the run goes first and the payment, now too large, is refused.
func TestPaymentRacesClearing(t *testing.T) {
	t.Parallel()
	w := newClearingWorld(t)
	paidFirst, clearedFirst := 0, 0
	for round := range 6 {
		tc := w.owes(w.coordCoop, w.coopUSD, w.timebank, w.coordTB, "100.00", "C")
		cm := w.owes(w.coordMill, w.millUSD, w.coop, w.coordCoop, "60.00", "M")
		mt := w.owes(w.coordTB, w.tbUSD, w.mill, w.coordMill, "80.00", "T")
		w.must(w.transfer(w.coordCoop.token, "", posting(w.bankUSD, w.tbUSD, "100", "USD")), 201)
		var wg sync.WaitGroup
		var payResp, runResp resp
		wg.Add(2)
		go func() {
			defer wg.Done()
			payResp = w.call("POST", "/v1/obligations/"+tc+"/payments", w.coordTB.token, map[string]any{"from_account": w.tbUSD, "amount": "100.00"})
		}()
		go func() {
			defer wg.Done()
			runResp = w.call("POST", "/v1/clearing/runs", w.admin.token, map[string]any{"org_id": w.local.ID.String(), "unit": "USD"})
		}()
		wg.Wait()
		run := w.must(runResp, 201)
		o := w.obligation(tc)
		switch payResp.status {
		case 201:
			paidFirst++
			if o["outstanding"] != "0.00" || run["cleared"] != "0.00" {
				t.Fatalf("round %d: paid first, then the run cleared %v and %v is outstanding", round, run["cleared"], o["outstanding"])
			}
		case 422:
			clearedFirst++
			w.problem(payResp, 422, "overpays-obligation")
			if o["outstanding"] != "40.00" || run["cleared"] != "180.00" {
				t.Fatalf("round %d: cleared first: %v cleared, %v outstanding", round, run["cleared"], o["outstanding"])
			}
		default:
			t.Fatalf("round %d: payment answered %d: %s", round, payResp.status, payResp.body)
		}
		// Pay off what is left, so that the next round starts clean.
		for _, c := range []struct {
			id, from string
			by       actor
		}{{tc, w.tbUSD, w.coordTB}, {cm, w.coopUSD, w.coordCoop}, {mt, w.millUSD, w.coordMill}} {
			left := w.obligation(c.id)["outstanding"].(string)
			if left == "0.00" {
				continue
			}
			w.must(w.transfer(w.coordCoop.token, "", posting(w.bankUSD, c.from, left, "USD")), 201)
			w.must(w.call("POST", "/v1/obligations/"+c.id+"/payments", c.by.token, map[string]any{"from_account": c.from, "amount": left}), 201)
		}
	}
	t.Logf("payment first in %d rounds, clearing first in %d", paidFirst, clearedFirst)
}

// TestJournalShowsObligations exports the journal after a payment and a
// clearing run and reads it with hledger: the payment's transfer carries
// the obligation's tag, so hledger finds exactly what was paid on it (the
// amount less what is outstanding less what the run cancelled, as the API
// says), its balances are still the ledger's, and the open obligations and
// the run close the journal as comments.
func TestJournalShowsObligations(t *testing.T) {
	t.Parallel()
	hledger, err := exec.LookPath("hledger")
	if err != nil {
		t.Fatal("hledger is not installed, and this test checks the journal export with it: " +
			"install it (Debian/Ubuntu: apt-get install -y hledger) and run the tests again")
	}
	w := newClearingWorld(t)
	tc := w.owes(w.coordCoop, w.coopUSD, w.timebank, w.coordTB, "100.00", "C-1")
	w.owes(w.coordMill, w.millUSD, w.coop, w.coordCoop, "60.00", "M-1")
	w.owes(w.coordTB, w.tbUSD, w.mill, w.coordMill, "80.00", "T-1")
	w.must(w.transfer(w.coordCoop.token, "", posting(w.bankUSD, w.tbUSD, "50", "USD")), 201)
	w.must(w.call("POST", "/v1/obligations/"+tc+"/payments", w.coordTB.token, map[string]any{"from_account": w.tbUSD, "amount": "10.00"}), 201)
	run := w.must(w.call("POST", "/v1/clearing/runs", w.admin.token, map[string]any{"org_id": w.local.ID.String(), "unit": "USD"}), 201)
	var cleared string
	for _, r := range run["reductions"].([]any) {
		if r := r.(map[string]any); r["obligation_id"] == tc {
			cleared = r["amount"].(string)
		}
	}
	o := w.obligation(tc)
	paid := decimal.RequireFromString(o["amount"].(string)).Sub(decimal.RequireFromString(o["outstanding"].(string))).Sub(decimal.RequireFromString(cleared))

	r := w.call("GET", "/v1/export/journal?format=hledger", w.admin.token, nil)
	if r.status != 200 {
		t.Fatalf("export: %d", r.status)
	}
	hl := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(hledger, append([]string{"-f", "-"}, args...)...)
		cmd.Stdin = bytes.NewReader(r.body)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("hledger %v: %v\n%s\n%s", args, err, stderr.String(), r.body)
		}
		return string(out)
	}
	hl("check", "--strict")
	names := exportNames(t, r.body)
	// hledger takes an account argument for a regular expression.
	coopName, tbName := "^"+regexp.QuoteMeta(names[w.coopUSD])+"$", "^"+regexp.QuoteMeta(names[w.tbUSD])+"$"
	out := hl("balance", "--flat", "--no-total", "--layout=bare", "-O", "csv", "tag:obligation="+tc, coopName)
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != 2 || !decimal.RequireFromString(rows[1][2]).Equal(paid) {
		t.Fatalf("hledger's payments of %s into the co-op: %q (%v); the API says %s were paid", tc, out, err, paid)
	}
	for _, acc := range []struct{ id, name string }{{w.coopUSD, coopName}, {w.tbUSD, tbName}} {
		posted, _ := w.balance(acc.id)
		out := hl("balance", "--flat", "--no-total", "--layout=bare", "-O", "csv", acc.name)
		rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil || len(rows) != 2 || !decimal.RequireFromString(rows[1][2]).Equal(decimal.RequireFromString(posted)) {
			t.Errorf("hledger's balance of %s: %q; the API says %s", acc.name, out, posted)
		}
	}
	body := string(r.body)
	for _, want := range []string{
		"; obligation:" + tc + "  Riverside time bank owes Bread co-op  30.00 USD outstanding of 100.00, due 2026-04-30, invoice C-1, confirmed",
		"clearing_run:" + run["id"].(string) + "  group Riverside assembly: 180.00 USD cancelled of 230.00 over 3 obligations",
		"obligation:" + tc + "\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the journal lacks %q:\n%s", want, body)
		}
	}
}

// TestClearingWithCreditOverHTTP: the time bank owes the co-op 70 and the
// co-op owes the mill 40, a chain set-off alone cannot touch. Once the time
// bank and the mill agree to clear through their accounts (the time bank's
// with a credit limit of 100), a run with credit has the time bank pay the
// mill 40 through the ledger and cancels 80; that transfer, like a
// payment's, cannot be reversed by hand.
func TestClearingWithCreditOverHTTP(t *testing.T) {
	t.Parallel()
	w := newClearingWorld(t)
	credit := w.account(orgOwner(w.timebank), "USD", "organization", "-100")
	w.owes(w.coordCoop, w.coopUSD, w.timebank, w.coordTB, "70.00", "C-1")
	w.owes(w.coordMill, w.millUSD, w.coop, w.coordCoop, "40.00", "M-1")
	run := map[string]any{"org_id": w.local.ID.String(), "unit": "USD", "use_credit": true}
	w.problem(w.call("PUT", "/v1/orgs/"+w.timebank.ID.String()+"/clearing-credit", w.coordTB.token, map[string]any{"account_id": w.coopUSD}), 422, "invalid-request")
	w.problem(w.call("PUT", "/v1/orgs/"+w.mill.ID.String()+"/clearing-credit", w.coordTB.token, map[string]any{"account_id": w.millUSD}), 403, "forbidden")
	if l := w.must(w.call("PUT", "/v1/orgs/"+w.timebank.ID.String()+"/clearing-credit", w.coordTB.token, map[string]any{"account_id": credit}), 200); l["unit"] != "USD" {
		t.Fatalf("consent: %v", l)
	}
	w.must(w.call("PUT", "/v1/orgs/"+w.mill.ID.String()+"/clearing-credit", w.coordMill.token, map[string]any{"account_id": w.millUSD}), 200)
	got := w.must(w.call("POST", "/v1/clearing/runs", w.admin.token, run), 201)
	if got["cleared"] != "80.00" || got["through_ledger"] != "40.00" || got["transfer_id"] == nil || len(got["ledger_payments"].([]any)) != 2 {
		t.Fatalf("run with credit: %v", got)
	}
	if posted, _ := w.balance(credit); posted != "-40.00" {
		t.Errorf("the time bank's credit account holds %s, want -40.00", posted)
	}
	if posted, _ := w.balance(w.millUSD); posted != "40.00" {
		t.Errorf("the mill holds %s, want 40.00", posted)
	}
	w.problem(w.call("POST", "/v1/transfers/"+got["transfer_id"].(string)+"/reverse", w.admin.token, nil), 409, "managed-transfer")
}
