package httpapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

// TestStatementBoundedPeriod: a statement's period is [from, to), and one
// that holds more than exchange.MaxStatementEntries entries is refused with
// a problem that says to narrow it, while a narrower one is served whole.
func TestStatementBoundedPeriod(t *testing.T) {
	t.Parallel()
	c := newCoops(t) // the kitchen received 500 USD at 09:00
	kitchen := "/v1/orgs/" + c.kitchen.ID.String() + "/statement"
	bank := uuid.MustParse(c.open(c.bakery, "USD", "external", "Bakery bank"))
	cash := uuid.MustParse(c.kitchenUSD)
	pay := func(n int) {
		t.Helper()
		reqs := make([]ledger.TransferRequest, n)
		for i := range reqs {
			reqs[i] = ledger.TransferRequest{Postings: []ledger.Posting{{From: bank, To: cash, Amount: decimal.New(1, -2), Unit: "USD"}}}
		}
		if _, err := c.led.CreateTransfers(context.Background(), reqs, true); err != nil {
			t.Fatal(err)
		}
	}
	c.clock.Advance(time.Hour) // 10:00
	pay(exchange.MaxStatementEntries - 1)
	c.clock.Advance(time.Hour) // 11:00
	pay(2)

	// From 10:00, to 11:00 excluded: the 4999 payments.
	st := c.must(c.call("GET", kitchen+"?from=2026-03-01T10:00:00Z&to=2026-03-01T11:00:00Z", c.bruno.token, nil), 200)
	acc := statementAccount(t, st, c.kitchenUSD)
	if n := len(acc["entries"].([]any)); n != exchange.MaxStatementEntries-1 || acc["opening_balance"] != "500.00" || acc["closing_balance"] != "549.99" {
		t.Errorf("[10:00, 11:00): %d entries, opening %v, closing %v; want %d, 500.00, 549.99",
			n, acc["opening_balance"], acc["closing_balance"], exchange.MaxStatementEntries-1)
	}
	// From 10:00 to now: one entry too many.
	p := c.problem(c.call("GET", kitchen+"?from=2026-03-01T10:00:00Z", c.bruno.token, nil), 422, "statement-too-large")
	if !hasField(p, "from") {
		t.Errorf("the refusal names %v, want from", p.Errors)
	}
	// From 11:00: the last two, up to and including now.
	st = c.must(c.call("GET", kitchen+"?from=2026-03-01T11:00:00Z", c.bruno.token, nil), 200)
	if acc := statementAccount(t, st, c.kitchenUSD); len(acc["entries"].([]any)) != 2 || acc["closing_balance"] != "550.01" {
		t.Errorf("from 11:00: %d entries, closing %v; want 2, 550.01", len(acc["entries"].([]any)), acc["closing_balance"])
	}
	c.problem(c.call("GET", "/v1/orgs/"+uuid.NewString()+"/statement", c.bruno.token, nil), 404, "not-found")
}
