package ledger_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mutual-ledger/mutual/ledger"
)

// snapshot is everything a refused request must leave as it was.
func snapshot(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var s string
	err := pool.QueryRow(context.Background(), `
SELECT (SELECT count(*) FROM transfers)::text || '/' || (SELECT count(*) FROM entries)::text || '/' ||
       (SELECT count(*) FROM reservations)::text || '/' ||
       COALESCE((SELECT string_agg(id::text || ':' || balance::text || ':' || pending_debits::text || ':' ||
                                   pending_credits::text || ':' || entry_seq::text || ':' || status, ',' ORDER BY id)
                 FROM accounts), '')`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRefusedTransfersWriteNothing(t *testing.T) {
	ctx := context.Background()
	s, pool := newStoreAndPool(t)
	mustUnit(t, s, "HOUR", 2)
	mustUnit(t, s, "USD", 2)
	a := mustAccount(t, s, "HOUR", "-10")
	b := mustAccount(t, s, "HOUR", "0")
	usd := mustAccount(t, s, "USD", "0")
	frozen := mustAccount(t, s, "HOUR", "0")
	closed := mustAccount(t, s, "HOUR", "0")
	if _, err := s.SetStatus(ctx, frozen, ledger.StatusFrozen); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetStatus(ctx, closed, ledger.StatusClosed); err != nil {
		t.Fatal(err)
	}
	mustTransfer(t, s, move(a, b, "4", "HOUR"))
	if _, err := s.CreateTransfer(ctx, ledger.TransferRequest{IdempotencyKey: "used", Postings: []ledger.Posting{move(a, b, "1", "HOUR")}}); err != nil {
		t.Fatal(err)
	}
	one := func(p ledger.Posting) ledger.TransferRequest {
		return ledger.TransferRequest{Postings: []ledger.Posting{p}}
	}
	cases := []struct {
		name    string
		req     ledger.TransferRequest
		want    error
		field   string
		account uuid.UUID
	}{
		{"insufficient funds", one(move(b, a, "5.01", "HOUR")), ledger.ErrInsufficientFunds, "", b},
		{"past the credit limit", one(move(a, b, "5.01", "HOUR")), ledger.ErrInsufficientFunds, "", a},
		{"unknown from account", one(move(uuid.New(), b, "1", "HOUR")), ledger.ErrUnknownAccount, "postings[0].from", uuid.Nil},
		{"unknown to account", one(move(a, uuid.New(), "1", "HOUR")), ledger.ErrUnknownAccount, "postings[0].to", uuid.Nil},
		{"unknown unit", one(move(a, b, "1", "EUR")), ledger.ErrUnknownUnit, "postings[0].unit", uuid.Nil},
		{"unit mismatch", one(move(a, usd, "1", "HOUR")), ledger.ErrUnitMismatch, "postings[0].to", usd},
		{"posting unit differs from both accounts", one(move(a, b, "1", "USD")), ledger.ErrUnitMismatch, "postings[0].from", a},
		{"too many decimals", one(move(a, b, "1.005", "HOUR")), ledger.ErrTooManyDecimals, "postings[0].amount", uuid.Nil},
		{"zero amount", one(move(a, b, "0", "HOUR")), ledger.ErrNonPositiveAmount, "postings[0].amount", uuid.Nil},
		{"negative amount", one(move(a, b, "-1", "HOUR")), ledger.ErrNonPositiveAmount, "postings[0].amount", uuid.Nil},
		{"same account on both sides", one(move(a, a, "1", "HOUR")), ledger.ErrSameAccount, "postings[0]", a},
		{"frozen payer", one(move(frozen, b, "1", "HOUR")), ledger.ErrAccountFrozen, "postings[0].from", frozen},
		{"frozen payee", one(move(a, frozen, "1", "HOUR")), ledger.ErrAccountFrozen, "postings[0].to", frozen},
		{"closed payee", one(move(a, closed, "1", "HOUR")), ledger.ErrAccountClosed, "postings[0].to", closed},
		{"idempotency conflict", ledger.TransferRequest{IdempotencyKey: "used", Postings: []ledger.Posting{move(a, b, "2", "HOUR")}}, ledger.ErrIdempotencyConflict, "idempotency_key", uuid.Nil},
		{"no postings", ledger.TransferRequest{}, ledger.ErrInvalidRequest, "postings", uuid.Nil},
		{"metadata not an object", ledger.TransferRequest{Postings: []ledger.Posting{move(a, b, "1", "HOUR")}, Metadata: []byte(`[1,2]`)}, ledger.ErrInvalidRequest, "metadata", uuid.Nil},
		{"memo too long", ledger.TransferRequest{Postings: []ledger.Posting{move(a, b, "1", "HOUR")}, Memo: strings.Repeat("x", 1001)}, ledger.ErrInvalidRequest, "memo", uuid.Nil},
		{"second posting fails, first must not move", ledger.TransferRequest{Postings: []ledger.Posting{move(a, b, "1", "HOUR"), move(b, a, "100", "HOUR")}}, ledger.ErrInsufficientFunds, "", b},
		{"pending hold past the limit", ledger.TransferRequest{Pending: true, Postings: []ledger.Posting{move(a, b, "6", "HOUR")}}, ledger.ErrInsufficientFunds, "", a},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := snapshot(t, pool)
			_, err := s.CreateTransfer(ctx, c.req)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			var le *ledger.Error
			if !errors.As(err, &le) {
				t.Fatalf("err %T is not a *ledger.Error", err)
			}
			if c.field != "" && le.Field != c.field {
				t.Errorf("field = %q, want %q", le.Field, c.field)
			}
			if c.account != uuid.Nil && le.Account != c.account {
				t.Errorf("account = %s, want %s", le.Account, c.account)
			}
			if after := snapshot(t, pool); after != before {
				t.Errorf("a refused transfer changed the ledger:\nbefore %s\nafter  %s", before, after)
			}
		})
	}

	// The insufficient-funds error says what was available and what was asked.
	_, err := s.CreateTransfer(ctx, one(move(b, a, "7", "HOUR")))
	var le *ledger.Error
	if !errors.As(err, &le) || !le.Available.Equal(d("5")) || !le.Requested.Equal(d("7")) || le.Unit != "HOUR" {
		t.Errorf("err = %#v, want 5 HOUR available for 7 asked", err)
	}
	mustVerify(t, s)
}

func TestRefusedAccountsAndUnits(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	mustUnit(t, s, "HOUR", 2)
	cases := []struct {
		name string
		do   func() error
		want error
	}{
		{"unit code lower-case", func() error { _, err := s.CreateUnit(ctx, ledger.Unit{Code: "hour", Scale: 2}); return err }, ledger.ErrInvalidRequest},
		{"unit scale too large", func() error { _, err := s.CreateUnit(ctx, ledger.Unit{Code: "X", Scale: 19}); return err }, ledger.ErrInvalidRequest},
		{"unit exists", func() error { _, err := s.CreateUnit(ctx, ledger.Unit{Code: "HOUR", Scale: 0}); return err }, ledger.ErrUnitExists},
		{"account of unknown unit", func() error {
			_, err := s.CreateAccount(ctx, ledger.NewAccount{Unit: "NOPE", Kind: ledger.KindMember})
			return err
		}, ledger.ErrUnknownUnit},
		{"account of unknown kind", func() error {
			_, err := s.CreateAccount(ctx, ledger.NewAccount{Unit: "HOUR", Kind: "friend"})
			return err
		}, ledger.ErrInvalidRequest},
		{"positive lower bound", func() error {
			_, err := s.CreateAccount(ctx, ledger.NewAccount{Unit: "HOUR", Kind: ledger.KindMember, LowerBound: dp("1")})
			return err
		}, ledger.ErrInvalidRequest},
		{"credit limit finer than the unit", func() error {
			_, err := s.CreateAccount(ctx, ledger.NewAccount{Unit: "HOUR", Kind: ledger.KindMember, LowerBound: dp("-1.001")})
			return err
		}, ledger.ErrTooManyDecimals},
		{"external account with a lower bound", func() error {
			_, err := s.CreateAccount(ctx, ledger.NewAccount{Unit: "HOUR", Kind: ledger.KindExternal, LowerBound: dp("-1")})
			return err
		}, ledger.ErrInvalidRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.do(); !errors.Is(err, c.want) {
				t.Errorf("err = %v, want %v", err, c.want)
			}
		})
	}
	units, err := s.Units(ctx)
	if err != nil || len(units) != 1 {
		t.Errorf("units = %v, %v; refused creations must not add any", units, err)
	}
}

// TestSchemaRefusesWhatTheLedgerRefuses goes around the ledger, straight to
// SQL, and checks that the schema's constraints still hold the invariants.
func TestSchemaRefusesWhatTheLedgerRefuses(t *testing.T) {
	ctx := context.Background()
	s, pool := newStoreAndPool(t)
	mustUnit(t, s, "HOUR", 2)
	a := mustAccount(t, s, "HOUR", "-10")
	for _, stmt := range []string{
		`UPDATE accounts SET balance = -10.01 WHERE id = $1`,
		`UPDATE accounts SET pending_debits = 10.01 WHERE id = $1`,
		`UPDATE accounts SET upper_bound = -1 WHERE id = $1`,
		`UPDATE accounts SET lower_bound = NULL WHERE id = $1`,
		`UPDATE accounts SET status = 'closed', balance = 1 WHERE id = $1`,
		`UPDATE accounts SET kind = 'friend' WHERE id = $1`,
		`INSERT INTO entries (account_id, seq, transfer_id, posting, amount, balance_after, posted_at) VALUES ($1, 1, gen_random_uuid(), 0, 1, 1, now())`,
		`INSERT INTO reservations (account_id, transfer_id, debit, credit) SELECT $1, gen_random_uuid(), 0, 0`,
	} {
		if _, err := pool.Exec(ctx, stmt, a); err == nil {
			t.Errorf("the schema accepted %s", stmt)
		}
	}
	if _, err := pool.Exec(ctx, `INSERT INTO units (code, scale, created_at) VALUES ('bad code', 2, now())`); err == nil {
		t.Error("the schema accepted a malformed unit code")
	}
	mustVerify(t, s)
}
