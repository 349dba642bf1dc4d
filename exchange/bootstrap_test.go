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

func TestBootstrapTwice(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	org, admin, tok, secret, created, err := e.ex.Bootstrap(ctx, "Red Mutual")
	if err != nil {
		t.Fatal(err)
	}
	if !created || org.Kind != exchange.KindNetwork || org.Name != "Red Mutual" || org.ParentID != nil ||
		admin.Name != "admin" || tok.Name != "first-run" || tok.MemberID != admin.ID || tok.ExpiresAt != nil || secret == "" {
		t.Errorf("first bootstrap: %+v %+v %+v created=%v", org, admin, tok, created)
	}
	if len(admin.Memberships) != 1 || admin.Memberships[0].OrgID != org.ID || admin.Memberships[0].Role != exchange.RoleAdmin {
		t.Errorf("admin memberships = %+v", admin.Memberships)
	}
	p, err := e.ex.Authenticate(ctx, secret)
	if err != nil || !p.Admin || p.MemberID != admin.ID || p.TokenID != tok.ID {
		t.Errorf("the first-run token: %+v, %v", p, err)
	}

	org2, admin2, tok2, secret2, created2, err := e.ex.Bootstrap(ctx, "Another Name")
	if err != nil {
		t.Fatal(err)
	}
	if created2 || org2.ID != org.ID || org2.Name != "Red Mutual" || admin2.ID != uuid.Nil || tok2.ID != uuid.Nil || secret2 != "" {
		t.Errorf("second bootstrap: %+v %+v %+v %q created=%v", org2, admin2, tok2, secret2, created2)
	}
	for table, want := range map[string]int{"orgs": 1, "members": 1, "memberships": 1, "tokens": 1} {
		if n := e.count(t, table); n != want {
			t.Errorf("%d rows in %s, want %d", n, table, want)
		}
	}
}

func TestBootstrapRefusesABadName(t *testing.T) {
	e := newEnv(t)
	_, _, _, _, _, err := e.ex.Bootstrap(context.Background(), "")
	var le *ledger.Error
	if !errors.As(err, &le) || !errors.Is(err, ledger.ErrInvalidRequest) || le.Field != "name" {
		t.Errorf("empty name: %v", err)
	}
	if n := e.count(t, "orgs"); n != 0 {
		t.Errorf("%d orgs after a refused bootstrap", n)
	}
}

// TestBootstrapRace starts several servers' worth of Bootstrap at once on a
// fresh database, many times over: exactly one creates, all agree on the one
// network, and there is one admin and one token.
func TestBootstrapRace(t *testing.T) {
	for round := range 10 {
		e := newEnv(t)
		const racers = 4
		type result struct {
			org     exchange.Org
			secret  string
			created bool
			err     error
		}
		results := make([]result, racers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				org, _, _, secret, created, err := e.ex.Bootstrap(context.Background(), "Red Mutual")
				results[i] = result{org, secret, created, err}
			}()
		}
		close(start)
		wg.Wait()
		winners := 0
		for i, r := range results {
			if r.err != nil {
				t.Fatalf("round %d, racer %d: %v", round, i, r.err)
			}
			if r.created {
				winners++
				if r.secret == "" {
					t.Errorf("round %d: the winner has no secret", round)
				}
			} else if r.secret != "" {
				t.Errorf("round %d: a loser got a secret", round)
			}
			if r.org.ID != results[0].org.ID || r.org.ID == uuid.Nil {
				t.Errorf("round %d: racers disagree on the network: %s vs %s", round, r.org.ID, results[0].org.ID)
			}
		}
		if winners != 1 {
			t.Errorf("round %d: %d racers created the network, want 1", round, winners)
		}
		for table, want := range map[string]int{"orgs": 1, "members": 1, "memberships": 1, "tokens": 1} {
			if n := e.count(t, table); n != want {
				t.Errorf("round %d: %d rows in %s, want %d", round, n, table, want)
			}
		}
	}
}
