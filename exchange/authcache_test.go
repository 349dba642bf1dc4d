package exchange_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mutual-ledger/mutual/exchange"
)

// TestAuthenticationCache: a token is looked up once per TTL; a revocation
// or role change made through the Store takes effect at once, and one made
// behind its back (another process) within the TTL.
func TestAuthenticationCache(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	network := e.org(t, nil, exchange.KindNetwork, "Network")
	m := e.member(t, "Ana")
	tok, secret, err := e.ex.CreateToken(ctx, exchange.Principal{MemberID: m.ID}, m.ID, "laptop", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ex.Authenticate(ctx, secret); err != nil {
		t.Fatal(err)
	}

	// Revoked by another process: this one trusts its cache for the TTL,
	// and no longer.
	if _, err := e.pool.Exec(ctx, `UPDATE tokens SET revoked_at = now() WHERE id = $1`, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ex.Authenticate(ctx, secret); err != nil {
		t.Errorf("within the TTL: %v; want the cached principal", err)
	}
	e.clock.Advance(exchange.DefaultAuthCacheTTL)
	if _, err := e.ex.Authenticate(ctx, secret); !errors.Is(err, exchange.ErrUnauthenticated) {
		t.Errorf("after the TTL: %v; want unauthenticated", err)
	}

	// Through the Store, a revocation is immediate.
	tok2, secret2, err := e.ex.CreateToken(ctx, exchange.Principal{MemberID: m.ID}, m.ID, "phone", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ex.Authenticate(ctx, secret2); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ex.RevokeToken(ctx, exchange.Principal{MemberID: tok2.MemberID}, tok2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ex.Authenticate(ctx, secret2); !errors.Is(err, exchange.ErrUnauthenticated) {
		t.Errorf("right after RevokeToken: %v; want unauthenticated", err)
	}

	// So is a role change.
	_, secret3, err := e.ex.CreateToken(ctx, exchange.Principal{MemberID: m.ID}, m.ID, "tablet", nil)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := e.ex.Authenticate(ctx, secret3); err != nil || p.Admin {
		t.Fatalf("before: %+v, %v", p, err)
	}
	if _, err := e.ex.AddMembership(ctx, exchange.System(), network.ID, m.ID, exchange.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if p, err := e.ex.Authenticate(ctx, secret3); err != nil || !p.Admin {
		t.Errorf("right after becoming admin: %+v, %v", p, err)
	}

	// A cached token never outlives its expiry.
	exp := e.clock.Now().Add(time.Second)
	_, secret4, err := e.ex.CreateToken(ctx, exchange.Principal{MemberID: m.ID}, m.ID, "short", &exp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ex.Authenticate(ctx, secret4); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Second)
	if _, err := e.ex.Authenticate(ctx, secret4); !errors.Is(err, exchange.ErrUnauthenticated) {
		t.Errorf("past its expiry: %v; want unauthenticated", err)
	}
}
