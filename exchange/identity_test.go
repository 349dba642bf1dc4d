package exchange_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
)

// TestMayManageTokensStandings: a coordinator acts on the credentials of
// the members of their subtree, but not of one who holds a role they do
// not govern, which a credential would hand them.
func TestMayManageTokensStandings(t *testing.T) {
	me, tb, coop, local := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	them := uuid.New()
	coord := exchange.Principal{MemberID: me, Roles: map[uuid.UUID]exchange.Role{tb: exchange.RoleCoordinator}}
	above := exchange.Principal{MemberID: me, Roles: map[uuid.UUID]exchange.Role{local: exchange.RoleCoordinator}}
	for _, c := range []struct {
		name      string
		p         exchange.Principal
		standings []exchange.Standing
		want      error
	}{
		{"a plain member of the subtree", coord, nil, nil},
		{"a fellow coordinator", coord, []exchange.Standing{{OrgID: tb, Role: exchange.RoleCoordinator, Governors: []uuid.UUID{tb, local}}}, nil},
		{"a coordinator elsewhere", coord, []exchange.Standing{{OrgID: coop, Role: exchange.RoleCoordinator, Governors: []uuid.UUID{coop, local}}}, exchange.ErrForbidden},
		{"a coordinator elsewhere, by one above both", above, []exchange.Standing{{OrgID: coop, Role: exchange.RoleCoordinator, Governors: []uuid.UUID{coop, local}}}, nil},
		{"an admin", above, []exchange.Standing{{OrgID: uuid.New(), Role: exchange.RoleAdmin}}, exchange.ErrForbidden},
	} {
		wantErr(t, c.name, c.p.MayManageTokens(them, []uuid.UUID{tb, local}, c.standings), c.want)
	}
	wantErr(t, "a stranger", coord.MayManageTokens(them, []uuid.UUID{coop, local}, nil), exchange.ErrNotVisible)
	wantErr(t, "oneself, however placed", coord.MayManageTokens(me, nil, []exchange.Standing{{Role: exchange.RoleAdmin}}), nil)
}

// TestSessionLifecycle: a session is the principal of its member with the
// session as its credential, and ending it takes effect at the next
// authentication (no cache stands between).
func TestSessionLifecycle(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	net := e.org(t, nil, exchange.KindNetwork, "Net")
	tb := e.org(t, &net, exchange.KindTimebank, "Bank")
	ana, tess := e.member(t, "Ana"), e.member(t, "Tess")
	e.join(t, tb, ana, exchange.RoleMember)
	e.join(t, tb, tess, exchange.RoleCoordinator)
	coord := e.principal(t, tess)
	if coord.Credential != exchange.CredentialToken || coord.CredentialID != coord.TokenID {
		t.Fatalf("a token's principal: %+v", coord)
	}
	_, code, err := e.ex.IssueSigninCode(ctx, coord, ana.ID)
	if err != nil {
		t.Fatal(err)
	}
	s, secret, err := e.ex.SignInWithCode(ctx, ana.ID, code, "192.0.2.7")
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.ex.AuthenticateSession(ctx, secret)
	if err != nil || p.MemberID != ana.ID || p.Credential != exchange.CredentialSession || p.CredentialID != s.ID || p.Roles[tb.ID] != exchange.RoleMember {
		t.Fatalf("the session's principal: %+v, %v", p, err)
	}
	// Sliding: used a day later, its idle end moves to 30 days from then.
	e.clock.Advance(24 * time.Hour)
	if _, err := e.ex.AuthenticateSession(ctx, secret); err != nil {
		t.Fatal(err)
	}
	ss, err := e.ex.Sessions(ctx, coord, ana.ID)
	if err != nil || len(ss) != 1 || !ss[0].IdleExpiresAt.Equal(e.clock.Now().Add(exchange.SessionIdle)) {
		t.Fatalf("sessions after a use: %+v, %v", ss, err)
	}
	if n, err := e.ex.EndSessions(ctx, coord, ana.ID); err != nil || n != 1 {
		t.Fatalf("ending: %d, %v", n, err)
	}
	_, err = e.ex.AuthenticateSession(ctx, secret)
	wantErr(t, "an ended session", err, exchange.ErrUnauthenticated)
}

// TestAcceptInvitationRace races accepts of one invitation by new people
// and by a signed-in member: one wins, the rest are told it was used, and
// exactly one membership is made.
func TestAcceptInvitationRace(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	net := e.org(t, nil, exchange.KindNetwork, "Net")
	tb := e.org(t, &net, exchange.KindTimebank, "Bank")
	tess := e.member(t, "Tess")
	e.join(t, tb, tess, exchange.RoleCoordinator)
	ben := e.member(t, "Ben")
	benP := e.principal(t, ben)
	_, secret, _, err := e.ex.Invite(ctx, e.principal(t, tess), exchange.NewInvitation{OrgID: tb.ID, Role: exchange.RoleMember})
	if err != nil {
		t.Fatal(err)
	}
	memberships := e.count(t, "memberships")
	const n = 10
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			in := exchange.Acceptance{Secret: secret, Name: "Racer"}
			if i%2 == 0 {
				in.Name, in.Member = "", &benP
			}
			_, errs[i] = e.ex.AcceptInvitation(ctx, in)
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
		} else {
			wantErr(t, "a losing accept", err, exchange.ErrInvitationUsed)
		}
	}
	if won != 1 || e.count(t, "memberships") != memberships+1 {
		t.Fatalf("%d won; memberships +%d", won, e.count(t, "memberships")-memberships)
	}
}
