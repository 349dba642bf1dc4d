package exchange_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

// TestLastAdminsLeavingAtOnce: two admins of the network leave at the same
// time, many times over; exactly one of each pair leaves, the other is
// refused as the last admin, so the network always keeps one.
func TestLastAdminsLeavingAtOnce(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	net := e.org(t, nil, exchange.KindNetwork, "Red")
	for round := range 8 {
		var ps []exchange.Principal
		for range 2 {
			m := e.member(t, "Admin")
			e.join(t, net, m, exchange.RoleAdmin)
			ps = append(ps, e.principal(t, m))
		}
		// Only these two are admins now: the earlier rounds' survivor
		// leaves first, outside the race.
		if round > 0 {
			if err := leaveAllButTwo(ctx, e, net, ps); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, p := range ps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = e.ex.Leave(ctx, p, net.ID, p.MemberID)
			}()
		}
		wg.Wait()
		left, refused := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				left++
			case errors.Is(err, exchange.ErrLastAdmin):
				refused++
			default:
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if left != 1 || refused != 1 {
			t.Fatalf("round %d: %d left and %d were refused, want one each", round, left, refused)
		}
		var admins int
		if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM memberships WHERE role = 'admin'`).Scan(&admins); err != nil || admins != 1 {
			t.Fatalf("round %d: %d admins (%v), want 1", round, admins, err)
		}
	}
}

// leaveAllButTwo has every admin but the two of ps leave the network.
func leaveAllButTwo(ctx context.Context, e env, net exchange.Org, ps []exchange.Principal) error {
	rows, err := e.pool.Query(ctx, `SELECT member_id FROM memberships WHERE role = 'admin' AND org_id = $1`, net.ID)
	if err != nil {
		return err
	}
	defer rows.Close()
	var others []exchange.Principal
	for rows.Next() {
		var p exchange.Principal
		if err := rows.Scan(&p.MemberID); err != nil {
			return err
		}
		if p.MemberID != ps[0].MemberID && p.MemberID != ps[1].MemberID {
			others = append(others, p)
		}
	}
	rows.Close()
	for _, p := range others {
		if _, err := e.ex.Leave(ctx, p, net.ID, p.MemberID); err != nil {
			return err
		}
	}
	return nil
}

// TestLeavingRacesTransfers: while a member leaves a time bank, others pay
// hours into her account and she pays them back. Whatever the order, the
// books end consistent: either she left, and her account is closed at
// zero with nothing moved into it after, or she did not (her balance was
// not settled when she tried), and she is still a member.
func TestLeavingRacesTransfers(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	net := e.org(t, nil, exchange.KindNetwork, "Red")
	tb := e.org(t, &net, exchange.KindTimebank, "Barrio")
	admin := e.member(t, "Admin")
	e.join(t, net, admin, exchange.RoleAdmin)
	pa := e.principal(t, admin)
	if _, err := e.led.CreateUnit(ctx, ledger.Unit{Code: "HOUR", Scale: 2}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.ex.SetTimebankRules(ctx, pa, tb.ID, exchange.TimebankSettings{CreditLimit: money("10")}); err != nil {
		t.Fatal(err)
	}
	for round := range 6 {
		m, acct, _, err := e.ex.Admit(ctx, pa, tb.ID, exchange.Admission{New: exchange.NewMember{Name: "Lea"}, Role: exchange.RoleMember})
		if err != nil {
			t.Fatal(err)
		}
		friend, facct, _, err := e.ex.Admit(ctx, pa, tb.ID, exchange.Admission{New: exchange.NewMember{Name: "Friend"}, Role: exchange.RoleMember})
		if err != nil {
			t.Fatal(err)
		}
		lea, fr := e.principal(t, m), e.principal(t, friend)
		var wg sync.WaitGroup
		var leaveErr error
		paid := make([]error, 4)
		var listErr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, leaveErr = e.ex.Leave(ctx, lea, tb.ID, m.ID)
		}()
		go func() { // she posts an offer as she leaves
			defer wg.Done()
			soon := e.clock.Now().Add(time.Hour)
			_, listErr = e.ex.CreateListing(ctx, lea, exchange.NewListing{OrgID: tb.ID, Kind: exchange.Offer, Title: "Soup",
				Category: "food", Quantity: money("1"), Start: soon, End: soon.Add(time.Hour)})
		}()
		for i := range paid {
			wg.Add(1)
			go func() {
				defer wg.Done()
				from, to, p := facct, acct, fr
				if i%2 == 1 { // she pays the hour back
					from, to, p = acct, facct, lea
				}
				_, paid[i] = e.ex.Transfer(ctx, p, ledger.TransferRequest{Postings: []ledger.Posting{{From: from, To: to, Amount: money("1"), Unit: "HOUR"}}})
			}()
		}
		wg.Wait()
		a, err := e.led.Account(ctx, acct)
		if err != nil {
			t.Fatal(err)
		}
		ms, err := e.ex.Memberships(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case leaveErr == nil:
			if a.Status != ledger.StatusClosed || !a.Posted.IsZero() || len(ms) != 0 {
				t.Errorf("round %d: she left, but her account is %s at %s and she has %d memberships", round, a.Status, a.Posted, len(ms))
			}
			var open int
			if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM listings WHERE owner_member = $1 AND status = 'open'`, m.ID).Scan(&open); err != nil || open != 0 {
				t.Errorf("round %d: she left with %d open listings (%v)", round, open, err)
			}
			var after int
			if err := e.pool.QueryRow(ctx, `
SELECT count(*) FROM entries en JOIN membership_departures d ON d.member_id = $2
WHERE en.account_id = $1 AND en.posted_at > d.left_at`, acct, m.ID).Scan(&after); err != nil || after != 0 {
				t.Errorf("round %d: %d entries on her account after she left (%v)", round, after, err)
			}
		case errors.Is(leaveErr, exchange.ErrBalanceNotSettled):
			if a.Status != ledger.StatusOpen || len(ms) != 1 {
				t.Errorf("round %d: refused, but her account is %s and she has %d memberships", round, a.Status, len(ms))
			}
		default:
			t.Fatalf("round %d: leaving: %v", round, leaveErr)
		}
		if listErr != nil && !errors.Is(listErr, exchange.ErrNotAMember) {
			t.Errorf("round %d: posting as she leaves: %v", round, listErr)
		}
		for i, err := range paid {
			if err != nil && !errors.Is(err, ledger.ErrAccountClosed) && !errors.Is(err, ledger.ErrInsufficientFunds) {
				t.Errorf("round %d: payment %d: %v", round, i, err)
			}
		}
	}
	v, err := e.led.Verify(ctx)
	if err != nil || len(v) != 0 {
		t.Errorf("verify: %v %v", v, err)
	}
}
