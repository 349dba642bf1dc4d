package exchange_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

// TestSetCreditLimit: a coordinator sets one member's credit limit (the
// account's lower bound), recorded in the audit log; a limit the member
// is already past, a bad limit, someone who does not belong and a plain
// member are refused, and nothing changes.
func TestSetCreditLimit(t *testing.T) {
	t.Parallel()
	e, tb, coord := timebankEnv(t)
	ctx := context.Background()
	if _, _, err := e.ex.SetTimebankRules(ctx, e.principal(t, coord), tb.ID, exchange.TimebankSettings{CreditLimit: hours("10")}); err != nil {
		t.Fatal(err)
	}
	ana, err := e.ex.AdmitNewMember(ctx, exchange.System(), tb.ID, exchange.NewMember{Name: "Ana"}, exchange.RoleMember)
	if err != nil {
		t.Fatal(err)
	}
	acc := ana.Memberships[0].Account
	anaP, coordP := e.principal(t, ana), e.principal(t, coord)
	if _, err := e.ex.DonateHours(ctx, anaP, exchange.TimebankMove{OrgID: tb.ID, Amount: hours("4")}); err != nil {
		t.Fatal(err)
	}
	ben := e.member(t, "Ben")
	for _, c := range []struct {
		name   string
		p      exchange.Principal
		member uuid.UUID
		limit  string
		want   error
		field  string
	}{
		{"below what she owes", coordP, ana.ID, "3", ledger.ErrBoundsViolated, "credit_limit"},
		{"negative", coordP, ana.ID, "-1", ledger.ErrInvalidRequest, "credit_limit"},
		{"finer than the unit", coordP, ana.ID, "6.001", ledger.ErrTooManyDecimals, "credit_limit"},
		{"not a member", coordP, ben.ID, "6", exchange.ErrNotAMember, "member_id"},
		{"by a plain member", anaP, ana.ID, "20", exchange.ErrForbidden, ""},
	} {
		_, err := e.ex.SetCreditLimit(ctx, c.p, tb.ID, c.member, hours(c.limit))
		wantErr(t, c.name, err, c.want)
		var le *ledger.Error
		if errors.As(err, &le) && le.Field != c.field {
			t.Errorf("%s: field %q, want %q", c.name, le.Field, c.field)
		}
	}
	if a, _ := e.led.Account(ctx, acc); !a.LowerBound.Equal(hours("-10")) {
		t.Errorf("after refusals the lower bound is %s, want -10", a.LowerBound)
	}
	before := e.count(t, "audit_events")
	a, err := e.ex.SetCreditLimit(ctx, coordP, tb.ID, ana.ID, hours("4"))
	if err != nil || a.ID != acc || !a.LowerBound.Equal(hours("-4")) {
		t.Fatalf("setting 4: %+v %v", a, err)
	}
	if n := e.count(t, "audit_events"); n != before+1 {
		t.Errorf("audit events %d -> %d, want one more", before, n)
	}
	var actor, member uuid.UUID
	if err := e.pool.QueryRow(ctx, `SELECT actor_id, member_id FROM audit_events WHERE kind = 'timebank.credit_limit_set'`).Scan(&actor, &member); err != nil || actor != coord.ID || member != ana.ID {
		t.Errorf("the event: actor %s member %s (%v)", actor, member, err)
	}
	// At her new limit, she may give no more.
	if _, err := e.ex.DonateHours(ctx, anaP, exchange.TimebankMove{OrgID: tb.ID, Amount: hours("0.01")}); !errors.Is(err, ledger.ErrInsufficientFunds) {
		t.Errorf("giving past the new limit: %v", err)
	}
}

// TestSetCreditLimitRacesDonations: donations race a lowered credit limit;
// whichever comes first, the account never ends below its bound.
func TestSetCreditLimitRacesDonations(t *testing.T) {
	t.Parallel()
	e, tb, coord := timebankEnv(t)
	ctx := context.Background()
	if _, _, err := e.ex.SetTimebankRules(ctx, e.principal(t, coord), tb.ID, exchange.TimebankSettings{CreditLimit: hours("10")}); err != nil {
		t.Fatal(err)
	}
	ana, err := e.ex.AdmitNewMember(ctx, exchange.System(), tb.ID, exchange.NewMember{Name: "Ana"}, exchange.RoleMember)
	if err != nil {
		t.Fatal(err)
	}
	acc := ana.Memberships[0].Account
	anaP, coordP := e.principal(t, ana), e.principal(t, coord)
	var wg sync.WaitGroup
	var limitErr error
	for i := range 9 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == 4 {
				_, limitErr = e.ex.SetCreditLimit(ctx, coordP, tb.ID, ana.ID, hours("5"))
				return
			}
			_, err := e.ex.DonateHours(ctx, anaP, exchange.TimebankMove{OrgID: tb.ID, Amount: hours("1")})
			if err != nil && !errors.Is(err, ledger.ErrInsufficientFunds) {
				t.Errorf("donation: %v", err)
			}
		}()
	}
	wg.Wait()
	if limitErr != nil && !errors.Is(limitErr, ledger.ErrBoundsViolated) {
		t.Fatalf("the limit: %v", limitErr)
	}
	a, err := e.led.Account(ctx, acc)
	if err != nil {
		t.Fatal(err)
	}
	if a.Posted.LessThan(*a.LowerBound) {
		t.Errorf("balance %s below the bound %s", a.Posted, a.LowerBound)
	}
	if limitErr == nil && !a.LowerBound.Equal(hours("-5")) {
		t.Errorf("the limit was set but the bound is %s", a.LowerBound)
	}
}
