package exchange_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

func TestTokens(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	net := e.org(t, nil, exchange.KindNetwork, "Red Mutual")
	ana := e.member(t, "Ana")
	e.join(t, net, ana, exchange.RoleAdmin)

	tok, secret, err := e.ex.CreateToken(ctx, exchange.Principal{MemberID: ana.ID}, ana.ID, "laptop", nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(secret, "mut_"))
	if !strings.HasPrefix(secret, "mut_") || err != nil || len(raw) != 32 {
		t.Errorf("secret %q is not mut_ and 32 base64url bytes (%v)", secret, err)
	}
	if tok.MemberID != ana.ID || tok.Name != "laptop" || tok.ExpiresAt != nil || tok.RevokedAt != nil {
		t.Errorf("token = %+v", tok)
	}
	_, other, err := e.ex.CreateToken(ctx, exchange.Principal{MemberID: ana.ID}, ana.ID, "phone", nil)
	if err != nil || other == secret {
		t.Fatalf("a second token: %q, %v", other, err)
	}

	p, err := e.ex.Authenticate(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if p.MemberID != ana.ID || p.TokenID != tok.ID || !p.Admin || p.Roles[net.ID] != exchange.RoleAdmin {
		t.Errorf("principal = %+v", p)
	}

	// Hash-only storage: the secret is nowhere in the table, in any form,
	// and what is there is its SHA-256.
	rows, err := e.pool.Query(ctx, `
SELECT concat_ws('|', id::text, member_id::text, name, encode(hash, 'escape'), expires_at::text, revoked_at::text, created_at::text),
       encode(hash, 'hex'), encode(hash, 'base64')
FROM tokens`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	sum := sha256.Sum256([]byte(secret))
	foundHash := false
	for rows.Next() {
		var row, hexHash, b64Hash string
		if err := rows.Scan(&row, &hexHash, &b64Hash); err != nil {
			t.Fatal(err)
		}
		encoded := secret[len("mut_"):]
		for _, form := range []string{row, hexHash, b64Hash} {
			if strings.Contains(form, encoded) || strings.Contains(form, base64.StdEncoding.EncodeToString(raw)) {
				t.Errorf("the tokens table holds the secret: %s", row)
			}
		}
		foundHash = foundHash || hexHash == hex.EncodeToString(sum[:])
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !foundHash {
		t.Error("no row holds the secret's SHA-256")
	}

	got, err := e.ex.Token(ctx, exchange.Principal{MemberID: tok.MemberID}, tok.ID)
	if err != nil || got.ID != tok.ID || got.Name != "laptop" || !got.CreatedAt.Equal(tok.CreatedAt) {
		t.Errorf("Token = %+v, %v", got, err)
	}
	if _, err := e.ex.Token(ctx, exchange.Principal{MemberID: ana.ID}, uuid.New()); !errors.Is(err, exchange.ErrUnknownToken) {
		t.Errorf("unknown token: %v", err)
	}
}

// TestAuthenticateRefusals: every way a secret can fail gives the same
// error, which says nothing of why.
func TestAuthenticateRefusals(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	ana := e.member(t, "Ana")
	_, good, err := e.ex.CreateToken(ctx, exchange.Principal{MemberID: ana.ID}, ana.ID, "good", nil)
	if err != nil {
		t.Fatal(err)
	}
	revokedTok, revoked, err := e.ex.CreateToken(ctx, exchange.Principal{MemberID: ana.ID}, ana.ID, "revoked", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := e.ex.RevokeToken(ctx, exchange.Principal{MemberID: revokedTok.MemberID}, revokedTok.ID); err != nil || r.RevokedAt == nil {
		t.Fatalf("revoke: %+v, %v", r, err)
	}
	expiresAt := e.clock.Now().Add(time.Hour)
	_, expiring, err := e.ex.CreateToken(ctx, exchange.Principal{MemberID: ana.ID}, ana.ID, "expiring", &expiresAt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ex.Authenticate(ctx, expiring); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	e.clock.Advance(time.Hour) // expiry is exclusive: at expires_at the token is dead

	flipped := []byte(good)
	flipped[len(flipped)-1] ^= 1
	for _, c := range []struct{ name, secret string }{
		{"empty", ""},
		{"wrong secret", "mut_" + base64.RawURLEncoding.EncodeToString(make([]byte, 32))},
		{"one character off", string(flipped)},
		{"no prefix", strings.TrimPrefix(good, "mut_")},
		{"other prefix", "tok_" + strings.TrimPrefix(good, "mut_")},
		{"with a suffix", good + "x"},
		{"revoked", revoked},
		{"expired", expiring},
	} {
		p, err := e.ex.Authenticate(ctx, c.secret)
		wantErr(t, c.name, err, exchange.ErrUnauthenticated)
		if err != nil && err.Error() != exchange.ErrUnauthenticated.Error() {
			t.Errorf("%s: the error says more than the sentinel: %v", c.name, err)
		}
		if p.MemberID != uuid.Nil {
			t.Errorf("%s: a principal came back with the error: %+v", c.name, p)
		}
	}
	if _, err := e.ex.Authenticate(ctx, good); err != nil {
		t.Errorf("the good token stopped working: %v", err)
	}

	// Revoking again is harmless and keeps the first revocation time.
	first, _ := e.ex.Token(ctx, exchange.Principal{MemberID: revokedTok.MemberID}, revokedTok.ID)
	again, err := e.ex.RevokeToken(ctx, exchange.Principal{MemberID: revokedTok.MemberID}, revokedTok.ID)
	if err != nil || !again.RevokedAt.Equal(*first.RevokedAt) {
		t.Errorf("revoking twice: %+v, %v", again, err)
	}
	if _, err := e.ex.RevokeToken(ctx, exchange.Principal{MemberID: ana.ID}, uuid.New()); !errors.Is(err, exchange.ErrUnknownToken) {
		t.Errorf("revoking an unknown token: %v", err)
	}
}

func TestCreateTokenRefusals(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	ana := e.member(t, "Ana")
	now := e.clock.Now()
	for _, c := range []struct {
		name    string
		member  uuid.UUID
		tokName string
		expires *time.Time
		want    error
	}{
		{"unknown member", uuid.New(), "t", nil, exchange.ErrUnknownMember},
		{"no name", ana.ID, "", nil, ledger.ErrInvalidRequest},
		{"long name", ana.ID, strings.Repeat("t", 201), nil, ledger.ErrInvalidRequest},
		{"expired already", ana.ID, "t", ptr(now.Add(-time.Second)), ledger.ErrInvalidRequest},
		{"expires now", ana.ID, "t", ptr(now), ledger.ErrInvalidRequest},
	} {
		_, secret, err := e.ex.CreateToken(ctx, exchange.Principal{MemberID: c.member}, c.member, c.tokName, c.expires)
		wantErr(t, c.name, err, c.want)
		if secret != "" {
			t.Errorf("%s: a secret came back with the error", c.name)
		}
	}
	if n := e.count(t, "tokens"); n != 0 {
		t.Errorf("%d tokens after refusals, want 0", n)
	}
}

// TestRolesFollowMemberships: a principal carries the roles of the moment it
// authenticates, so a promotion shows at the next request.
func TestRolesFollowMemberships(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	net := e.org(t, nil, exchange.KindNetwork, "Red Mutual")
	coop := e.org(t, &net, exchange.KindCoop, "Coop")
	ana := e.member(t, "Ana")
	_, secret, err := e.ex.CreateToken(ctx, exchange.Principal{MemberID: ana.ID}, ana.ID, "t", nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.ex.Authenticate(ctx, secret)
	if err != nil || len(p.Roles) != 0 || p.Admin {
		t.Fatalf("a member of nothing: %+v, %v", p, err)
	}
	e.join(t, coop, ana, exchange.RoleMember)
	e.join(t, coop, ana, exchange.RoleCoordinator)
	e.join(t, net, ana, exchange.RoleAdmin)
	p, err = e.ex.Authenticate(ctx, secret)
	if err != nil || p.Roles[coop.ID] != exchange.RoleCoordinator || !p.Admin || len(p.Roles) != 2 {
		t.Errorf("after promotion: %+v, %v", p, err)
	}
}
