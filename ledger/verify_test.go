package ledger_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mutual-ledger/mutual/ledger"
)

// TestVerifyFindsTampering breaks the books behind the ledger's back, one way
// at a time, and checks that Verify names what broke, and that it finds
// nothing on the books before they are touched.
func TestVerifyFindsTampering(t *testing.T) {
	for _, c := range []struct {
		name, sql, want string
	}{
		{"running balance", `UPDATE entries SET balance_after = balance_after + 1 WHERE seq = 2 AND amount > 0`,
			"each entry's balance follows from the one before: account"},
		{"entry out of time order", `UPDATE entries SET posted_at = posted_at - interval '1 hour' WHERE seq = 3 AND amount > 0`,
			"is the first posted before the entry ahead of it"},
		{"account balance", `UPDATE accounts SET balance = balance + 5, lower_bound = lower_bound - 10 WHERE id = (SELECT account_id FROM entries WHERE amount > 0 LIMIT 1)`,
			"each balance is the sum of its entries"},
		{"unit not zero", `UPDATE accounts SET balance = balance + 5, lower_bound = lower_bound - 10 WHERE id = (SELECT account_id FROM entries WHERE amount > 0 LIMIT 1)`,
			"every unit's balances sum to zero"},
		{"posting amount", `UPDATE transfers SET postings = jsonb_set(postings, '{0,amount}', '"9"') WHERE id = (SELECT transfer_id FROM entries WHERE seq = 4 LIMIT 1)`,
			"each entry belongs to its transfer's accounts and unit"},
		{"lost entry", `DELETE FROM entries WHERE (account_id, seq) = (SELECT account_id, max(seq) FROM entries WHERE amount < 0 GROUP BY account_id LIMIT 1)`,
			"not one of each"},
		{"entry moved to a pending transfer", `UPDATE entries SET transfer_id = (SELECT id FROM transfers WHERE state = 'pending') WHERE seq = 5 AND amount > 0`,
			"has an entry that is not a side of it, or the transfer is not posted"},
		{"entry moved to another posting", `UPDATE entries SET posting = 1 WHERE seq = 6 AND amount < 0`,
			"the journal is the postings of the posted transfers, side for side: 20 entries for 20 sides"},
		{"lost transfer's entries", `DELETE FROM entries WHERE transfer_id = (SELECT transfer_id FROM entries WHERE seq = 10 LIMIT 1)`,
			"posted transfers have two entries per posting, others none: transfer"},
		{"lost reservation", `DELETE FROM reservations WHERE transfer_id = (SELECT id FROM transfers WHERE state = 'pending')`,
			"only pending holds reserve"},
		{"pending sum", `UPDATE accounts SET pending_debits = pending_debits + 1 WHERE id = (SELECT account_id FROM reservations WHERE debit > 0 LIMIT 1)`,
			"pending amounts are the sum of open reservations"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			s, pool := newStoreAndPool(t)
			mustUnit(t, s, "HOUR", 2)
			a := mustAccount(t, s, "HOUR", "-100")
			b := mustAccount(t, s, "HOUR", "-100")
			for range 5 {
				mustTransfer(t, s, move(a, b, "2", "HOUR"))
				mustTransfer(t, s, move(b, a, "1", "HOUR"))
			}
			exp := time.Now().Add(time.Hour)
			if _, err := s.CreateTransfer(ctx, ledger.TransferRequest{Pending: true, ExpiresAt: &exp, Postings: []ledger.Posting{move(a, b, "3", "HOUR")}}); err != nil {
				t.Fatal(err)
			}
			mustVerify(t, s)
			if _, err := pool.Exec(ctx, c.sql); err != nil {
				t.Fatal(err)
			}
			v, err := s.Verify(ctx)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, line := range v {
				found = found || strings.Contains(line, c.want)
			}
			if !found {
				t.Errorf("Verify after %s found %q; want a line with %q", c.name, v, c.want)
			}
		})
	}
}
